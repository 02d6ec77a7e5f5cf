"""How a server gets its tokens, chosen from the keys its section gives: a token endpoint
with a client credential (a secret, a private key or an assertion file), Google's
credentials, or an Azure managed identity. The keys of one way exclude those of the others.
Each kind of credential builds itself from the settings made here; every problem names its
key."""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from .. import keys
from ..credentials.assertion_file import open_assertion_file
from ..credentials.base import ClientCredential
from ..credentials.client_secret import ClientSecretSettings, load_client_secret
from ..credentials.private_key import PrivateKeySettings
from ..errors import ConfigurationProblem, CredentialError
from ..sources.settings import (
    AzureManagedIdentitySettings,
    ClientCredentialsSettings,
    GoogleSettings,
    TokenSettings,
)
from ..url_policy import url_problem
from .network import http_settings
from .schema import ServerSection

SECRET_KEYS = (keys.CLIENT_SECRET, keys.CLIENT_SECRET_ENV, keys.CLIENT_SECRET_FILE)
PRIVATE_KEY_KEYS = (keys.CLIENT_PRIVATE_KEY_FILE, keys.CLIENT_PRIVATE_KEY_ENV)
# Keys that only mean something to private_key_jwt.
SIGNING_KEYS = (
    *PRIVATE_KEY_KEYS,
    keys.CLIENT_ASSERTION_ALGORITHM,
    keys.CLIENT_KEY_ID,
    keys.CLIENT_CERTIFICATE_FILE,
    keys.CLIENT_CERTIFICATE_THUMBPRINTS,
)
CLOUD_KEYS = (keys.GOOGLE_CREDENTIALS, keys.AZURE_MANAGED_IDENTITY)
# Keys that only mean something with a token endpoint: refused with a cloud's identity.
CLIENT_CREDENTIALS_KEYS = (
    keys.TOKEN_ENDPOINT,
    keys.ISSUER,
    keys.CLIENT_ID,
    keys.CLIENT_AUTH_METHOD,
    *SECRET_KEYS,
    *SIGNING_KEYS,
    keys.CLIENT_ASSERTION_FILE,
    keys.TOKEN_REQUEST_PARAMETERS,
)
# The package's extra each cloud's identity needs, and the module it brings.
CLOUD_EXTRAS = {
    keys.GOOGLE_CREDENTIALS: ("google", "google.auth"),
    keys.AZURE_MANAGED_IDENTITY: ("azure", "azure.identity"),
}
GOOGLE_DEFAULT = "default"
GOOGLE_APPLICATION_CREDENTIALS = "GOOGLE_APPLICATION_CREDENTIALS"
DEFAULT_GOOGLE_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
# A bare word, no folder and no suffix: "metadata", "adc", "gce", "Default".
GOOGLE_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,39}")


def token_settings(
    name: str,
    section: ServerSection,
    orthanc: Mapping[str, Any],
    environ: Mapping[str, str],
    problems: list[ConfigurationProblem],
) -> TokenSettings | None:
    """The server's way to its tokens, or None with the reasons added to ``problems``."""
    path = _server_path(name)
    given = _given(section)
    clouds = [key for key in CLOUD_KEYS if key in given]
    if not clouds:
        return _client_credentials(
            name, section, given, orthanc=orthanc, environ=environ, problems=problems
        )
    refused = [key for key in CLIENT_CREDENTIALS_KEYS if key in given] + clouds[1:]
    for key in refused:
        problems.append(
            ConfigurationProblem(f"{path}.{key}", f"is not used with {clouds[0]}: remove it", name)
        )
    if refused:
        return None
    missing = missing_extra(clouds[0])
    if missing is not None:
        problems.append(ConfigurationProblem(f"{path}.{clouds[0]}", missing, name))
        return None
    if clouds[0] == keys.GOOGLE_CREDENTIALS:
        return _google(name, section, orthanc, environ, problems)
    return _azure(name, section, orthanc, problems)


def missing_extra(cloud_key: str) -> str | None:
    """Why the cloud's library cannot be used, when the package's extra that brings it is
    not installed in this Python; None when it is."""
    extra, module = CLOUD_EXTRAS[cloud_key]
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # its parent package missing, or broken
        found = False
    if found:
        return None
    return (
        f"needs the {extra} extra, not installed in the Python that runs this: install "
        f"orthanc-dicomweb-oauth[{extra}] (pip install 'orthanc-dicomweb-oauth[{extra}]', or "
        f"the wheel with [{extra}])"
    )


def _server_path(name: str) -> str:
    return f"{keys.SECTION}.{keys.SERVERS}.{name}"


def _given(section: ServerSection) -> set[str]:
    return {
        ServerSection.model_fields[field_name].alias or field_name
        for field_name in section.model_fields_set
        if getattr(section, field_name) is not None
    }


def _google(
    name: str,
    section: ServerSection,
    orthanc: Mapping[str, Any],
    environ: Mapping[str, str],
    problems: list[ConfigurationProblem],
) -> GoogleSettings | None:
    """The file is read by the source: one that cannot be used yet is said, and looked at
    again, while the server runs. A value that cannot be a path is refused here."""
    path = section.google_credentials
    refusal = None if path is None else _not_a_google_path(path)
    named_by = None
    if path == GOOGLE_DEFAULT:
        # Without the variable, the metadata server.
        path = environ.get(GOOGLE_APPLICATION_CREDENTIALS) or None
        named_by = GOOGLE_APPLICATION_CREDENTIALS
        if path is not None and _holds_a_credential(path):
            refusal = (
                f"{GOOGLE_DEFAULT}: {GOOGLE_APPLICATION_CREDENTIALS} holds a credential, not a "
                "file's path: write it to a file only Orthanc reads and give its path"
            )
    if refusal is not None:
        problems.append(
            ConfigurationProblem(f"{_server_path(name)}.{keys.GOOGLE_CREDENTIALS}", refusal, name)
        )
        return None
    return GoogleSettings(
        path,
        named_by,
        section.scope or DEFAULT_GOOGLE_SCOPE,
        section.allow_insecure_http,
        http_settings(section, orthanc),
    )


def _not_a_google_path(value: str) -> str | None:
    """Why a GoogleCredentials value is neither ``default`` nor a file's path: the key's
    JSON itself (never shown: it holds the private key), or a word such as ``metadata``
    that would be looked for as a file in Orthanc's working folder."""
    uses = (
        f'"{GOOGLE_DEFAULT}" for the metadata server of Compute Engine, GKE or Cloud Run (or '
        f"the file {GOOGLE_APPLICATION_CREDENTIALS} names, when it is set), or the path of a "
        "credentials file"
    )
    if _holds_a_credential(value):
        return (
            "holds a credential, not a file's path: write it to a file only Orthanc reads and "
            f"give its path; the values are {uses}"
        )
    if value == GOOGLE_DEFAULT or not GOOGLE_WORD.fullmatch(value):
        return None
    if value.lower() == GOOGLE_DEFAULT:
        return f"is {json.dumps(value)}: write {GOOGLE_DEFAULT} in lower case"
    return (
        f"is {json.dumps(value)}, not a file's path: write {uses} (one in Orthanc's working "
        f"folder: ./{value})"
    )


def _holds_a_credential(value: str) -> bool:
    """A key's JSON or PEM given where a path belongs: never to be shown."""
    return value.lstrip().startswith("{") or "PRIVATE KEY" in value


def _azure(
    name: str,
    section: ServerSection,
    orthanc: Mapping[str, Any],
    problems: list[ConfigurationProblem],
) -> AzureManagedIdentitySettings | None:
    path = _server_path(name)
    identity = section.azure_managed_identity
    found = len(problems)
    if isinstance(identity, str) and identity.strip().lower() in ("true", "false"):
        problems.append(
            ConfigurationProblem(
                f"{path}.{keys.AZURE_MANAGED_IDENTITY}",
                f"is the text {json.dumps(identity)}, not a boolean: write true without quotes "
                "for the system-assigned identity; a user-assigned identity is named by its "
                "client id, a GUID",
                name,
            )
        )
    elif identity is False or (isinstance(identity, str) and not identity.strip()):
        problems.append(
            ConfigurationProblem(
                f"{path}.{keys.AZURE_MANAGED_IDENTITY}",
                "must be true (the system-assigned identity) or a user-assigned identity's "
                "client id",
                name,
            )
        )
    if section.scope is None:
        problems.append(
            ConfigurationProblem(
                f"{path}.{keys.SCOPE}",
                f"is required with {keys.AZURE_MANAGED_IDENTITY} (Azure's DICOM service: "
                "https://dicom.healthcareapis.azure.com/.default)",
                name,
            )
        )
    if len(problems) > found or section.scope is None:
        return None
    client_id = identity.strip() if isinstance(identity, str) else None
    return AzureManagedIdentitySettings(client_id, section.scope, http_settings(section, orthanc))


def _client_credentials(
    name: str,
    section: ServerSection,
    given: set[str],
    *,
    orthanc: Mapping[str, Any],
    environ: Mapping[str, str],
    problems: list[ConfigurationProblem],
) -> ClientCredentialsSettings | None:
    path = _server_path(name)
    found = len(problems)
    _check_token_endpoint(path, section, name, problems)
    if section.client_id is None:
        problems.append(ConfigurationProblem(f"{path}.{keys.CLIENT_ID}", "is required", name))
    credential = _credential(name, section, given, environ, problems)
    if len(problems) > found or credential is None or section.client_id is None:
        return None
    return ClientCredentialsSettings(
        url=section.token_endpoint,
        issuer=section.issuer,
        client_id=section.client_id,
        credential=credential,
        scope=section.scope,
        extra_parameters=dict(section.token_request_parameters),
        default_token_lifetime=section.default_token_lifetime,
        allow_insecure_http=section.allow_insecure_http,
        http=http_settings(section, orthanc),
    )


def _check_token_endpoint(
    path: str, section: ServerSection, server: str, problems: list[ConfigurationProblem]
) -> None:
    given = [
        (key, value)
        for key, value in (
            (keys.TOKEN_ENDPOINT, section.token_endpoint),
            (keys.ISSUER, section.issuer),
        )
        if value is not None
    ]
    if len(given) != 1:
        problems.append(
            ConfigurationProblem(
                path,
                f"exactly one of {keys.TOKEN_ENDPOINT} or {keys.ISSUER} is required (or "
                f"{keys.GOOGLE_CREDENTIALS} or {keys.AZURE_MANAGED_IDENTITY} instead)",
                server,
            )
        )
        return
    key, url = given[0]
    problem = url_problem(url, section.allow_insecure_http)
    if problem is not None:
        problems.append(ConfigurationProblem(f"{path}.{key}", problem, server))


def _credential(
    name: str,
    section: ServerSection,
    given: set[str],
    environ: Mapping[str, str],
    problems: list[ConfigurationProblem],
) -> ClientCredential | None:
    """The kind of credential the keys given choose, built by its own module."""
    path = _server_path(name)
    method = section.client_auth_method
    if keys.CLIENT_ASSERTION_FILE in given:
        unused = [key for key in (*SECRET_KEYS, *SIGNING_KEYS) if key in given]
        reason = f"is not used with {keys.CLIENT_ASSERTION_FILE}: remove it"
        chosen: str | None = keys.CLIENT_ASSERTION_FILE
        if keys.CLIENT_AUTH_METHOD in given and method != "private_key_jwt":
            problems.append(
                ConfigurationProblem(
                    f"{path}.{keys.CLIENT_AUTH_METHOD}",
                    f"{keys.CLIENT_ASSERTION_FILE} sends a JWT assertion (private_key_jwt): "
                    f"leave {keys.CLIENT_AUTH_METHOD} out",
                    name,
                )
            )
            return None
    elif method == "private_key_jwt":
        unused = [key for key in SECRET_KEYS if key in given]
        reason = f"is not used with {keys.CLIENT_AUTH_METHOD} {method}: remove it"
        chosen = _exactly_one(path, name, PRIVATE_KEY_KEYS, given, problems)
    else:
        unused = [key for key in SIGNING_KEYS if key in given]
        reason = f"is not used with {keys.CLIENT_AUTH_METHOD} {method}: remove it"
        chosen = _exactly_one(path, name, SECRET_KEYS, given, problems)
    for key in unused:
        problems.append(ConfigurationProblem(f"{path}.{key}", reason, name))
    if chosen is None or unused:
        return None
    try:
        if section.client_assertion_file is not None:
            return open_assertion_file(section.client_assertion_file)
        if method == "private_key_jwt":
            # Imported here: cryptography and joserfc (~7 MiB) load only for private_key_jwt.
            from ..credentials.key_loader import load_private_key  # noqa: PLC0415

            return load_private_key(
                PrivateKeySettings(
                    algorithm=section.client_assertion_algorithm,
                    key_id=section.client_key_id,
                    variable=section.client_private_key_env,
                    file=section.client_private_key_file,
                    certificate_file=section.client_certificate_file,
                    thumbprint_headers=tuple(section.client_certificate_thumbprints),
                ),
                environ,
            )
        return load_client_secret(
            ClientSecretSettings(
                auth_method=method,
                value=section.client_secret,
                variable=section.client_secret_env,
                file=section.client_secret_file,
            ),
            environ,
        )
    except CredentialError as error:
        problems.append(ConfigurationProblem(f"{path}.{error.key or chosen}", str(error), name))
    return None


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
