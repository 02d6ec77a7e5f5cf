"""How a server gets its tokens, from the keys its section gives: a token endpoint with a
client credential (a secret, a private key or an assertion file), Google's credentials, or
an Azure managed identity. The keys of one way exclude those of the others; credentials
are read here, those in files read again when the files change; every problem names its
key."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydantic import SecretStr

from ..credentials.assertion_file import ClientAssertionFile
from ..credentials.base import ClientCredential
from ..credentials.client_secret import ClientSecret
from ..credentials.google_file import read_google_credentials_file
from ..credentials.reloading import ReloadingCredential
from ..credentials.secret_sources import secret_from_environment, secret_from_file
from ..errors import ConfigurationProblem, CredentialError
from .network import http_settings
from .schema import SECTION, ServerSection
from .settings import (
    AzureManagedIdentitySettings,
    ClientCredentialsSettings,
    GoogleSettings,
    TokenSettings,
)
from .url_policy import url_problem

SECRET_KEYS = ("ClientSecret", "ClientSecretEnv", "ClientSecretFile")
PRIVATE_KEY_KEYS = ("ClientPrivateKeyFile", "ClientPrivateKeyEnv")
# Keys that only mean something to private_key_jwt.
SIGNING_KEYS = (
    *PRIVATE_KEY_KEYS,
    "ClientAssertionAlgorithm",
    "ClientKeyId",
    "ClientCertificateFile",
    "ClientCertificateThumbprints",
)
ASSERTION_FILE_KEY = "ClientAssertionFile"
GOOGLE_KEY = "GoogleCredentials"
AZURE_KEY = "AzureManagedIdentity"
# Keys that only mean something with a token endpoint: refused with a cloud's identity.
CLIENT_CREDENTIALS_KEYS = (
    "TokenEndpoint",
    "Issuer",
    "ClientId",
    "ClientAuthMethod",
    *SECRET_KEYS,
    *SIGNING_KEYS,
    ASSERTION_FILE_KEY,
    "TokenRequestParameters",
)
GOOGLE_DEFAULT = "default"
GOOGLE_APPLICATION_CREDENTIALS = "GOOGLE_APPLICATION_CREDENTIALS"
DEFAULT_GOOGLE_SCOPE = "https://www.googleapis.com/auth/cloud-platform"


def token_settings(
    name: str,
    keys: ServerSection,
    orthanc: Mapping[str, Any],
    environ: Mapping[str, str],
    problems: list[ConfigurationProblem],
) -> TokenSettings | None:
    """The server's way to its tokens, or None with the reasons added to ``problems``."""
    path = f"{SECTION}.Servers.{name}"
    given = _given(keys)
    clouds = [key for key in (GOOGLE_KEY, AZURE_KEY) if key in given]
    if not clouds:
        return _client_credentials(
            name, keys, given=given, orthanc=orthanc, environ=environ, problems=problems
        )
    refused = [key for key in CLIENT_CREDENTIALS_KEYS if key in given] + clouds[1:]
    for key in refused:
        problems.append(
            ConfigurationProblem(f"{path}.{key}", f"is not used with {clouds[0]}: remove it", name)
        )
    if refused:
        return None
    if clouds[0] == GOOGLE_KEY:
        return _google(name, keys, orthanc, environ, problems)
    return _azure(name, keys, orthanc, problems)


def _given(keys: ServerSection) -> set[str]:
    return {
        ServerSection.model_fields[field_name].alias or field_name
        for field_name in keys.model_fields_set
        if getattr(keys, field_name) is not None
    }


def _google(
    name: str,
    keys: ServerSection,
    orthanc: Mapping[str, Any],
    environ: Mapping[str, str],
    problems: list[ConfigurationProblem],
) -> GoogleSettings | None:
    key = f"{SECTION}.Servers.{name}.{GOOGLE_KEY}"
    path = keys.google_credentials
    named_by = ""
    if path == GOOGLE_DEFAULT:
        path = environ.get(GOOGLE_APPLICATION_CREDENTIALS) or None
        named_by = f" (named by {GOOGLE_APPLICATION_CREDENTIALS})"
    file = None
    if path is not None:  # "default" without a file: the metadata server
        try:
            file = read_google_credentials_file(path)
        except CredentialError as error:
            problems.append(ConfigurationProblem(key, f"{error}{named_by}", name))
            return None
        refused = [
            f"{url} {problem}"
            for url in file.urls
            if (problem := url_problem(url, keys.allow_insecure_http)) is not None
        ]
        for reason in refused:
            problems.append(ConfigurationProblem(key, f"{path}{named_by}: {reason}", name))
        if refused:
            return None
    return GoogleSettings(
        file,
        keys.scope or DEFAULT_GOOGLE_SCOPE,
        keys.allow_insecure_http,
        http_settings(keys, orthanc),
    )


def _azure(
    name: str,
    keys: ServerSection,
    orthanc: Mapping[str, Any],
    problems: list[ConfigurationProblem],
) -> AzureManagedIdentitySettings | None:
    path = f"{SECTION}.Servers.{name}"
    identity = keys.azure_managed_identity
    found = len(problems)
    if identity is False or (isinstance(identity, str) and not identity.strip()):
        problems.append(
            ConfigurationProblem(
                f"{path}.{AZURE_KEY}",
                "must be true (the system-assigned identity) or a user-assigned identity's "
                "client id",
                name,
            )
        )
    if keys.scope is None:
        problems.append(
            ConfigurationProblem(
                f"{path}.Scope",
                f"is required with {AZURE_KEY} (Azure's DICOM service: "
                "https://dicom.healthcareapis.azure.com/.default)",
                name,
            )
        )
    if len(problems) > found or keys.scope is None:
        return None
    client_id = identity.strip() if isinstance(identity, str) else None
    return AzureManagedIdentitySettings(client_id, keys.scope, http_settings(keys, orthanc))


def _client_credentials(
    name: str,
    keys: ServerSection,
    *,
    given: set[str],
    orthanc: Mapping[str, Any],
    environ: Mapping[str, str],
    problems: list[ConfigurationProblem],
) -> ClientCredentialsSettings | None:
    path = f"{SECTION}.Servers.{name}"
    found = len(problems)
    _check_token_endpoint(path, keys, name, problems)
    if keys.client_id is None:
        problems.append(ConfigurationProblem(f"{path}.ClientId", "is required", name))
    credential = _credential(name, keys, given, environ, problems)
    if len(problems) > found or credential is None or keys.client_id is None:
        return None
    return ClientCredentialsSettings(
        url=keys.token_endpoint,
        issuer=keys.issuer,
        client_id=keys.client_id,
        credential=credential,
        scope=keys.scope,
        extra_parameters=dict(keys.token_request_parameters),
        default_token_lifetime=keys.default_token_lifetime,
        allow_insecure_http=keys.allow_insecure_http,
        http=http_settings(keys, orthanc),
    )


def _check_token_endpoint(
    path: str, keys: ServerSection, server: str, problems: list[ConfigurationProblem]
) -> None:
    given = [
        (key, value)
        for key, value in (("TokenEndpoint", keys.token_endpoint), ("Issuer", keys.issuer))
        if value is not None
    ]
    if len(given) != 1:
        problems.append(
            ConfigurationProblem(
                path,
                f"exactly one of TokenEndpoint or Issuer is required (or {GOOGLE_KEY} or "
                f"{AZURE_KEY} instead)",
                server,
            )
        )
        return
    key, url = given[0]
    problem = url_problem(url, keys.allow_insecure_http)
    if problem is not None:
        problems.append(ConfigurationProblem(f"{path}.{key}", problem, server))


def _credential(
    name: str,
    keys: ServerSection,
    given: set[str],
    environ: Mapping[str, str],
    problems: list[ConfigurationProblem],
) -> ClientCredential | None:
    path = f"{SECTION}.Servers.{name}"
    method = keys.client_auth_method
    if ASSERTION_FILE_KEY in given:
        unused = [key for key in (*SECRET_KEYS, *SIGNING_KEYS) if key in given]
        reason = f"is not used with {ASSERTION_FILE_KEY}: remove it"
        chosen: str | None = ASSERTION_FILE_KEY
        if "ClientAuthMethod" in given and method != "private_key_jwt":
            problems.append(
                ConfigurationProblem(
                    f"{path}.ClientAuthMethod",
                    f"{ASSERTION_FILE_KEY} sends a JWT assertion (private_key_jwt): leave "
                    "ClientAuthMethod out",
                    name,
                )
            )
            return None
    elif method == "private_key_jwt":
        unused = [key for key in SECRET_KEYS if key in given]
        reason = f"is not used with ClientAuthMethod {method}: remove it"
        chosen = _exactly_one(path, name, PRIVATE_KEY_KEYS, given, problems)
    else:
        unused = [key for key in SIGNING_KEYS if key in given]
        reason = f"is not used with ClientAuthMethod {method}: remove it"
        chosen = _exactly_one(path, name, SECRET_KEYS, given, problems)
    for key in unused:
        problems.append(ConfigurationProblem(f"{path}.{key}", reason, name))
    if chosen is None or unused:
        return None
    try:
        if chosen == ASSERTION_FILE_KEY and keys.client_assertion_file is not None:
            assertion = ClientAssertionFile(keys.client_assertion_file)
            assertion.read()  # there, readable and not empty
            return assertion
        if method == "private_key_jwt":
            return _watched(
                lambda: _private_key(keys, environ),
                [
                    (key, path)
                    for key, path in (
                        ("ClientPrivateKeyFile", keys.client_private_key_file),
                        ("ClientCertificateFile", keys.client_certificate_file),
                    )
                    if path is not None
                ],
                chosen,
            )
        secret_method = method  # the narrowed type, for the closure
        return _watched(
            lambda: ClientSecret(
                _client_secret(keys, environ), secret_method, _secret_origin(keys)
            ),
            [("ClientSecretFile", keys.client_secret_file)] if keys.client_secret_file else [],
            chosen,
        )
    except CredentialError as error:
        problems.append(ConfigurationProblem(f"{path}.{error.key or chosen}", str(error), name))
    return None


def _watched(
    load: Callable[[], ClientCredential], files: list[tuple[str, str]], chosen: str
) -> ClientCredential:
    """The credential, read again when one of its files changes; its errors name the key
    at fault, ``chosen`` unless the error says another."""

    def load_naming_the_key() -> ClientCredential:
        try:
            return load()
        except CredentialError as error:
            raise CredentialError(str(error), key=error.key or chosen) from None

    return ReloadingCredential(load_naming_the_key, files) if files else load()


def _exactly_one(
    path: str,
    server: str,
    choices: Sequence[str],
    given: set[str],
    problems: list[ConfigurationProblem],
) -> str | None:
    found = [key for key in choices if key in given]
    if len(found) == 1:
        return found[0]
    listed = ", ".join(choices[:-1]) + f" or {choices[-1]}"
    extra = f" (found {', '.join(found)})" if found else ""
    problems.append(
        ConfigurationProblem(path, f"exactly one of {listed} is required{extra}", server)
    )
    return None


def _client_secret(keys: ServerSection, environ: Mapping[str, str]) -> SecretStr:
    if keys.client_secret_env is not None:
        return secret_from_environment(keys.client_secret_env, environ)
    if keys.client_secret_file is not None:
        return secret_from_file(keys.client_secret_file)
    if keys.client_secret is None or not keys.client_secret.get_secret_value().strip():
        raise CredentialError("is empty")
    return keys.client_secret


def _secret_origin(keys: ServerSection) -> str:
    if keys.client_secret_env is not None:
        return f"environment variable {keys.client_secret_env}"
    if keys.client_secret_file is not None:
        return f"file {keys.client_secret_file}"
    return "the configuration (ClientSecret)"


def _private_key(keys: ServerSection, environ: Mapping[str, str]) -> ClientCredential:
    if keys.client_private_key_env is not None:
        pem = secret_from_environment(keys.client_private_key_env, environ)
    elif keys.client_private_key_file is not None:
        pem = secret_from_file(keys.client_private_key_file)
    else:  # _exactly_one() saw one of the two
        raise CredentialError("is required")
    # Imported here: cryptography and joserfc (~7 MiB) load only for private_key_jwt.
    from ..credentials.key_loader import load_private_key  # noqa: PLC0415

    return load_private_key(
        pem,
        keys.client_assertion_algorithm,
        keys.client_key_id,
        keys.client_certificate_file,
        keys.client_certificate_thumbprints,
    )
