"""Orthanc's configuration -> one validated ServerSettings per configured server.

A broken server section gives errors naming its keys and is left out; the other servers
are still loaded. Keys may come from ``DicomWeb.Servers.NAME`` (the DICOMweb plugin's own
definition), which the ``DicomWebOAuth`` section extends.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, SecretStr, ValidationError

from .client_signing_key import ClientSigningKey, SigningKeyError
from .secret_sources import SecretSourceError, secret_from_environment, secret_from_file
from .settings_schema import DICOMWEB_OPTION_KEYS, ClientAuthMethod, OAuthSection, ServerSection

SECTION = "DicomWebOAuth"
DICOMWEB_SECTION = "DicomWeb"
DEFAULT_TOKEN_REQUEST_TIMEOUT = 30.0
RESERVED_HEADER = "Authorization"
CERTIFICATE_EXPIRY_WARNING = timedelta(days=30)
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


@dataclass(frozen=True)
class ConfigurationError:
    key: str
    message: str
    server: str | None = None

    def __str__(self) -> str:
        return f"{self.key}: {self.message}"


@dataclass(frozen=True)
class TokenEndpointSettings:
    url: str | None  # None: discovered from the issuer's metadata
    issuer: str | None
    client_id: str
    # A SecretStr for client_secret_post and client_secret_basic; the signing key for
    # private_key_jwt.
    credential: SecretStr | ClientSigningKey
    auth_method: ClientAuthMethod
    scope: str | None
    extra_parameters: Mapping[str, str]
    ca_certificates: str | None
    verify_peer: bool
    proxy: str | None
    connect_timeout: float
    read_timeout: float
    default_token_lifetime: float
    allow_insecure_http: bool


@dataclass(frozen=True)
class RefreshSettings:
    margin_ratio: float
    minimum_margin: float
    retry_initial_delay: float
    retry_max_delay: float
    permanent_error_retry_delay: float


@dataclass(frozen=True)
class ServerSettings:
    name: str
    token_endpoint: TokenEndpointSettings
    refresh: RefreshSettings
    # The DICOMweb plugin's definition without the Authorization header. It may hold a
    # certificate key password: never shown.
    dicomweb_definition: Mapping[str, Any] = field(repr=False)


@dataclass(frozen=True)
class LoadedConfiguration:
    servers: Mapping[str, ServerSettings]
    errors: tuple[ConfigurationError, ...]
    warnings: tuple[str, ...] = ()
    check_interval: float = 30.0

    def errors_of(self, server: str) -> tuple[ConfigurationError, ...]:
        return tuple(error for error in self.errors if error.server == server)


class _InvalidServerError(Exception):
    def __init__(self, errors: Sequence[ConfigurationError]) -> None:
        super().__init__("invalid server section")
        self.errors = tuple(errors)


def load_configuration(
    orthanc: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> LoadedConfiguration:
    """Validates the ``DicomWebOAuth`` section of Orthanc's whole configuration and reads
    the client secrets (once, here)."""
    environ = os.environ if environ is None else environ
    if SECTION not in orthanc:
        return LoadedConfiguration({}, (ConfigurationError(SECTION, "section is missing"),))
    try:
        section = OAuthSection.model_validate(orthanc[SECTION])
    except ValidationError as error:
        return LoadedConfiguration({}, tuple(_pydantic_errors(error, SECTION, OAuthSection)))

    dicomweb_servers, errors = _dicomweb_servers(orthanc)
    refusal = _servers_in_database_refusal(orthanc, section)
    if refusal is not None:
        return LoadedConfiguration({}, (*errors, refusal), check_interval=section.check_interval)
    servers: dict[str, ServerSettings] = {}
    for name, raw in section.servers.items():
        try:
            servers[name] = _server(name, raw, dicomweb_servers.get(name), orthanc, environ)
        except _InvalidServerError as invalid:
            errors.extend(invalid.errors)
    if not section.servers:
        errors.append(ConfigurationError(f"{SECTION}.Servers", "no server is configured"))
    warnings = _certificate_warnings(servers, datetime.now(UTC))
    if orthanc.get("HttpVerbose") is True:
        warnings.append(
            "HttpVerbose is true: Orthanc's HTTP client logs the Authorization headers it sends, "
            "bearer tokens included"
        )
    return LoadedConfiguration(
        servers, tuple(errors), tuple(warnings), check_interval=section.check_interval
    )


def _servers_in_database_refusal(
    orthanc: Mapping[str, Any], section: OAuthSection
) -> ConfigurationError | None:
    dicomweb = orthanc.get(DICOMWEB_SECTION)
    in_database = isinstance(dicomweb, dict) and dicomweb.get("ServersInDatabase") is True
    if not in_database or section.allow_servers_in_database:
        return None
    return ConfigurationError(
        f"{DICOMWEB_SECTION}.ServersInDatabase",
        "is true: the DICOMweb plugin would store every bearer token in plain text in "
        f"Orthanc's database, so no server is managed. Set it to false, or set "
        f"{SECTION}.AllowServersInDatabase to true to accept this",
    )


def _server(
    name: str,
    raw: Any,
    dicomweb_base: Any,
    orthanc: Mapping[str, Any],
    environ: Mapping[str, str],
) -> ServerSettings:
    path = f"{SECTION}.Servers.{name}"
    if not name.strip():
        raise _InvalidServerError([ConfigurationError(path, "a server name cannot be empty", name)])
    try:
        keys = ServerSection.model_validate(raw)
    except ValidationError as error:
        raise _InvalidServerError(_pydantic_errors(error, path, ServerSection, name)) from None

    errors: list[ConfigurationError] = []
    base = _dicomweb_base(name, dicomweb_base, errors)
    if errors:
        raise _InvalidServerError(errors)
    definition = _dicomweb_definition(name, keys, base, errors)
    _check_token_endpoint(path, keys, name, errors)
    credential = _client_credential(name, keys, environ, errors)
    if errors or credential is None:
        raise _InvalidServerError(errors)
    return ServerSettings(
        name=name,
        token_endpoint=_token_endpoint(keys, credential, orthanc),
        refresh=RefreshSettings(
            margin_ratio=keys.refresh_margin_ratio,
            minimum_margin=keys.minimum_refresh_margin,
            retry_initial_delay=keys.retry_initial_delay,
            retry_max_delay=max(keys.retry_max_delay, keys.retry_initial_delay),
            permanent_error_retry_delay=keys.permanent_error_retry_delay,
        ),
        dicomweb_definition=definition,
    )


def _token_endpoint(
    keys: ServerSection, credential: SecretStr | ClientSigningKey, orthanc: Mapping[str, Any]
) -> TokenEndpointSettings:
    """The token request's settings; network options left unset fall back on Orthanc's own
    (HttpsCACertificates, HttpsVerifyPeers, HttpProxy, HttpTimeout)."""
    ca = keys.token_endpoint_ca_certificates or _orthanc_string(orthanc, "HttpsCACertificates")
    verify = keys.token_endpoint_verify_peer
    if verify is None:
        verify = orthanc.get("HttpsVerifyPeers") is not False
    proxy = keys.token_endpoint_proxy
    if proxy is None:
        proxy = _orthanc_string(orthanc, "HttpProxy")
    timeout = keys.token_request_timeout
    if timeout is None:
        timeout = _orthanc_http_timeout(orthanc) or DEFAULT_TOKEN_REQUEST_TIMEOUT
    return TokenEndpointSettings(
        url=keys.token_endpoint,
        issuer=keys.issuer,
        client_id=keys.client_id,
        credential=credential,
        auth_method=keys.client_auth_method,
        scope=keys.scope,
        extra_parameters=dict(keys.token_request_parameters),
        ca_certificates=ca,
        verify_peer=verify,
        proxy=proxy or None,
        connect_timeout=keys.token_request_connect_timeout,
        read_timeout=timeout,
        default_token_lifetime=keys.default_token_lifetime,
        allow_insecure_http=keys.allow_insecure_http,
    )


def _orthanc_http_timeout(orthanc: Mapping[str, Any]) -> float | None:
    value = orthanc.get("HttpTimeout")
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return float(value)
    return None


def _orthanc_string(orthanc: Mapping[str, Any], key: str) -> str | None:
    value = orthanc.get(key)
    return value if isinstance(value, str) and value else None


def _dicomweb_servers(
    orthanc: Mapping[str, Any],
) -> tuple[dict[str, Any], list[ConfigurationError]]:
    dicomweb = orthanc.get(DICOMWEB_SECTION, {})
    if not isinstance(dicomweb, dict):
        return {}, [ConfigurationError(DICOMWEB_SECTION, "must be a JSON object")]
    servers = dicomweb.get("Servers", {})
    if not isinstance(servers, dict):
        return {}, [ConfigurationError(f"{DICOMWEB_SECTION}.Servers", "must be a JSON object")]
    return servers, []


def _dicomweb_base(name: str, raw: Any, errors: list[ConfigurationError]) -> dict[str, Any]:
    """``DicomWeb.Servers.NAME`` as an object; the plugin also accepts
    ``[Url, Username, Password]``."""
    path = f"{DICOMWEB_SECTION}.Servers.{name}"
    if raw is None:
        return {}
    if isinstance(raw, list) and raw and all(isinstance(item, str) for item in raw):
        base = dict(zip(("Url", "Username", "Password"), raw, strict=False))
    elif isinstance(raw, dict):
        base = dict(raw)
    else:
        errors.append(ConfigurationError(path, "must be an object or [Url, ...]", name))
        return {}
    credentials = [key for key in ("Username", "Password") if key in base]
    if credentials:
        errors.append(
            ConfigurationError(
                f"{path}.{credentials[0]}",
                "this server is authorized by DicomWebOAuth with a bearer token: remove "
                "Username and Password",
                name,
            )
        )
    if "HttpHeaders" in base and not isinstance(base["HttpHeaders"], dict):
        errors.append(ConfigurationError(f"{path}.HttpHeaders", "must be a JSON object", name))
    return base


def _dicomweb_definition(
    name: str, keys: ServerSection, base: Mapping[str, Any], errors: list[ConfigurationError]
) -> dict[str, Any]:
    path = f"{SECTION}.Servers.{name}"
    own = keys.model_dump(by_alias=True, include=_dicomweb_fields(), exclude_none=True)
    own.pop("HttpHeaders", None)
    if keys.certificate_key_password is not None:
        own["CertificateKeyPassword"] = keys.certificate_key_password.get_secret_value()
    definition = {**base, **own}
    base_headers = base.get("HttpHeaders")
    headers = {
        key: value
        for key, value in {
            **(base_headers if isinstance(base_headers, dict) else {}),
            **keys.http_headers,
        }.items()
        # The bearer token replaces any static Authorization header.
        if key.lower() != RESERVED_HEADER.lower()
    }
    if any(key.lower() == RESERVED_HEADER.lower() for key in keys.http_headers):
        errors.append(
            ConfigurationError(
                f"{path}.HttpHeaders.{RESERVED_HEADER}",
                "reserved for the bearer token managed by DicomWebOAuth: remove it",
                name,
            )
        )
    definition["HttpHeaders"] = headers
    url = definition.get("Url")
    if not isinstance(url, str) or not url:
        errors.append(
            ConfigurationError(
                f"{path}.Url",
                f"missing: set Url here or define {DICOMWEB_SECTION}.Servers.{name}",
                name,
            )
        )
    else:
        url_key = f"{path}.Url" if keys.url else f"{DICOMWEB_SECTION}.Servers.{name}.Url"
        _check_url(url_key, url, keys.allow_insecure_http, name, errors)
    return definition


def _dicomweb_fields() -> set[str]:
    return {
        field_name
        for field_name, info in ServerSection.model_fields.items()
        if info.alias in DICOMWEB_OPTION_KEYS
    }


def check_url(url: str, allow_http: bool) -> str | None:
    """What is wrong with a URL that credentials or tokens will be sent to, or None."""
    errors: list[ConfigurationError] = []
    _check_url("", url, allow_http, "", errors)
    return errors[0].message if errors else None


def _check_url(
    key: str, url: str, allow_http: bool, server: str, errors: list[ConfigurationError]
) -> None:
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        errors.append(ConfigurationError(key, "is not a valid URL", server))
        return
    if parts.scheme not in ("http", "https") or not host:
        errors.append(
            ConfigurationError(key, "must be an absolute http:// or https:// URL", server)
        )
    elif parts.scheme == "http" and not allow_http and not _is_loopback(host):
        errors.append(
            ConfigurationError(
                key,
                f"http:// to {host} would send credentials in clear text: use https://, or "
                "set AllowInsecureHttp to true",
                server,
            )
        )
    elif parts.username or parts.password:
        errors.append(
            ConfigurationError(key, "must not carry credentials (user:password@)", server)
        )


def _check_token_endpoint(
    path: str, keys: ServerSection, server: str, errors: list[ConfigurationError]
) -> None:
    given = [
        (key, value)
        for key, value in (("TokenEndpoint", keys.token_endpoint), ("Issuer", keys.issuer))
        if value is not None
    ]
    if len(given) != 1:
        errors.append(
            ConfigurationError(path, "exactly one of TokenEndpoint or Issuer is required", server)
        )
        return
    key, url = given[0]
    _check_url(f"{path}.{key}", url, keys.allow_insecure_http, server, errors)


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _client_credential(
    name: str, keys: ServerSection, environ: Mapping[str, str], errors: list[ConfigurationError]
) -> SecretStr | ClientSigningKey | None:
    path = f"{SECTION}.Servers.{name}"
    given = {
        _alias(field_name)
        for field_name in keys.model_fields_set
        if getattr(keys, field_name) is not None
    }
    if keys.client_auth_method == "private_key_jwt":
        unused = [key for key in SECRET_KEYS if key in given]
        chosen = _exactly_one(path, name, PRIVATE_KEY_KEYS, given, errors)
    else:
        unused = [key for key in SIGNING_KEYS if key in given]
        chosen = _exactly_one(path, name, SECRET_KEYS, given, errors)
    for key in unused:
        errors.append(
            ConfigurationError(
                f"{path}.{key}",
                f"is not used with ClientAuthMethod {keys.client_auth_method}: remove it",
                name,
            )
        )
    if chosen is None or unused:
        return None
    try:
        if keys.client_auth_method == "private_key_jwt":
            return _signing_key(keys, environ)
        return _client_secret(keys, environ)
    except SecretSourceError as error:
        errors.append(ConfigurationError(f"{path}.{chosen}", str(error), name))
    except SigningKeyError as error:
        failed = "ClientCertificateFile" if error.about_certificate else chosen
        errors.append(ConfigurationError(f"{path}.{failed}", str(error), name))
    return None


def _exactly_one(
    path: str,
    server: str,
    choices: Sequence[str],
    given: set[str],
    errors: list[ConfigurationError],
) -> str | None:
    found = [key for key in choices if key in given]
    if len(found) == 1:
        return found[0]
    listed = ", ".join(choices[:-1]) + f" or {choices[-1]}"
    extra = f" (found {', '.join(found)})" if found else ""
    errors.append(ConfigurationError(path, f"exactly one of {listed} is required{extra}", server))
    return None


def _client_secret(keys: ServerSection, environ: Mapping[str, str]) -> SecretStr:
    if keys.client_secret_env is not None:
        return secret_from_environment(keys.client_secret_env, environ)
    if keys.client_secret_file is not None:
        return secret_from_file(keys.client_secret_file)
    if keys.client_secret is None or not keys.client_secret.get_secret_value().strip():
        raise SecretSourceError("is empty")
    return keys.client_secret


def _signing_key(keys: ServerSection, environ: Mapping[str, str]) -> ClientSigningKey:
    if keys.client_private_key_env is not None:
        pem = secret_from_environment(keys.client_private_key_env, environ)
    elif keys.client_private_key_file is not None:
        pem = secret_from_file(keys.client_private_key_file)
    else:  # _exactly_one() saw one of the two
        raise SecretSourceError("is required")
    # Imported here: cryptography and joserfc (~7 MiB) load only for private_key_jwt.
    from .client_key_loader import load_signing_key  # noqa: PLC0415

    return load_signing_key(
        pem,
        keys.client_assertion_algorithm,
        keys.client_key_id,
        keys.client_certificate_file,
        keys.client_certificate_thumbprints,
    )


def _alias(field_name: str) -> str:
    return ServerSection.model_fields[field_name].alias or field_name


def _certificate_warnings(servers: Mapping[str, ServerSettings], now: datetime) -> list[str]:
    warnings = []
    for name, settings in servers.items():
        credential = settings.token_endpoint.credential
        if not isinstance(credential, ClientSigningKey):
            continue
        not_after = credential.certificate_not_after
        if not_after is None or not_after - now > CERTIFICATE_EXPIRY_WARNING:
            continue
        when = not_after.isoformat(timespec="seconds")
        state = "expired on" if not_after <= now else "expires on"
        warnings.append(
            f"{SECTION}.Servers.{name}.ClientCertificateFile: the certificate {state} {when}: "
            "upload a new one to the provider and configure it"
        )
    return warnings


def _pydantic_errors(
    error: ValidationError, prefix: str, model: type[BaseModel], server: str | None = None
) -> list[ConfigurationError]:
    """pydantic's errors with Orthanc's key paths. Input values are left out: they may be
    secrets."""
    known = [info.alias for info in model.model_fields.values() if info.alias]
    result = []
    for detail in error.errors(include_input=False, include_url=False):
        location = [str(part) for part in detail["loc"]]
        key = ".".join([prefix, *location])
        message = detail["msg"]
        if detail["type"] == "extra_forbidden":
            message = "unknown key" + _suggestion(location[-1], known)
        elif detail["type"] == "missing":
            message = "is required"
        elif detail["type"] == "model_type":
            message = "must be a JSON object"
        result.append(ConfigurationError(key, message, server))
    return result


def _suggestion(key: str, known: Sequence[str]) -> str:
    by_lower = {candidate.lower(): candidate for candidate in known}
    if key.lower() in by_lower:
        return f"; did you mean {by_lower[key.lower()]}? (keys are case-sensitive)"
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close else ""
