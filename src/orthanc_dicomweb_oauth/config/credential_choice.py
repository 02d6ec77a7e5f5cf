"""Which kind of credential a server's section configures, read once, here: the keys of
one kind exclude those of the others, and every problem names its key."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import SecretStr

from ..credentials.base import ClientCredential
from ..credentials.client_secret import ClientSecret
from ..credentials.secret_sources import secret_from_environment, secret_from_file
from ..errors import ConfigurationProblem, CredentialError
from .schema import SECTION, ServerSection

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


def client_credential(
    name: str,
    keys: ServerSection,
    environ: Mapping[str, str],
    problems: list[ConfigurationProblem],
) -> ClientCredential | None:
    """The server's credential, or None with the reasons added to ``problems``."""
    path = f"{SECTION}.Servers.{name}"
    given = {
        _alias(field_name)
        for field_name in keys.model_fields_set
        if getattr(keys, field_name) is not None
    }
    if keys.client_auth_method == "private_key_jwt":
        unused = [key for key in SECRET_KEYS if key in given]
        chosen = _exactly_one(path, name, PRIVATE_KEY_KEYS, given, problems)
    else:
        unused = [key for key in SIGNING_KEYS if key in given]
        chosen = _exactly_one(path, name, SECRET_KEYS, given, problems)
    for key in unused:
        problems.append(
            ConfigurationProblem(
                f"{path}.{key}",
                f"is not used with ClientAuthMethod {keys.client_auth_method}: remove it",
                name,
            )
        )
    if chosen is None or unused:
        return None
    method = keys.client_auth_method
    try:
        if method == "private_key_jwt":
            return _private_key(keys, environ)
        return ClientSecret(_client_secret(keys, environ), method)
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


def _client_secret(keys: ServerSection, environ: Mapping[str, str]) -> SecretStr:
    if keys.client_secret_env is not None:
        return secret_from_environment(keys.client_secret_env, environ)
    if keys.client_secret_file is not None:
        return secret_from_file(keys.client_secret_file)
    if keys.client_secret is None or not keys.client_secret.get_secret_value().strip():
        raise CredentialError("is empty")
    return keys.client_secret


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


def _alias(field_name: str) -> str:
    return ServerSection.model_fields[field_name].alias or field_name
