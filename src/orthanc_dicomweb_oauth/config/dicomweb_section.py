"""What the DICOMweb plugin's side of the configuration gives a server: its definition,
``DicomWeb.Servers.NAME`` extended by the DICOMweb options of ``DicomWebOAuth.Servers.NAME``,
and the refusal to manage servers whose tokens the DICOMweb plugin would store in the
database."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import keys
from ..errors import ConfigurationProblem
from ..url_policy import url_problem
from .schema import DICOMWEB_OPTION_KEYS, OAuthSection, ServerSection

RESERVED_HEADER = "Authorization"
# The DICOMweb plugin's own credentials, which a bearer token replaces.
BASIC_CREDENTIAL_KEYS = ("Username", "Password")


def servers_in_database_refusal(
    orthanc: Mapping[str, Any], section: OAuthSection
) -> ConfigurationProblem | None:
    dicomweb = orthanc.get(keys.DICOMWEB_SECTION)
    in_database = isinstance(dicomweb, dict) and dicomweb.get(keys.SERVERS_IN_DATABASE) is True
    if not in_database or section.allow_servers_in_database:
        return None
    return ConfigurationProblem(
        f"{keys.DICOMWEB_SECTION}.{keys.SERVERS_IN_DATABASE}",
        "is true: the DICOMweb plugin would store every bearer token in plain text in "
        f"Orthanc's database, so no server is managed. Set it to false, or set "
        f"{keys.SECTION}.{keys.ALLOW_SERVERS_IN_DATABASE} to true to accept this",
    )


def dicomweb_servers(
    orthanc: Mapping[str, Any],
) -> tuple[dict[str, Any], list[ConfigurationProblem]]:
    """``DicomWeb.Servers``, by name."""
    dicomweb = orthanc.get(keys.DICOMWEB_SECTION, {})
    if not isinstance(dicomweb, dict):
        return {}, [ConfigurationProblem(keys.DICOMWEB_SECTION, "must be a JSON object")]
    servers = dicomweb.get(keys.SERVERS, {})
    if not isinstance(servers, dict):
        path = f"{keys.DICOMWEB_SECTION}.{keys.SERVERS}"
        return {}, [ConfigurationProblem(path, "must be a JSON object")]
    return servers, []


def dicomweb_base(name: str, raw: Any, problems: list[ConfigurationProblem]) -> dict[str, Any]:
    """``DicomWeb.Servers.NAME`` as an object; the plugin also accepts
    ``[Url, Username, Password]``."""
    path = f"{keys.DICOMWEB_SECTION}.{keys.SERVERS}.{name}"
    if raw is None:
        return {}
    if isinstance(raw, list) and raw and all(isinstance(item, str) for item in raw):
        base = dict(zip((keys.URL, *BASIC_CREDENTIAL_KEYS), raw, strict=False))
    elif isinstance(raw, dict):
        base = dict(raw)
    else:
        problems.append(ConfigurationProblem(path, "must be an object or [Url, ...]", name))
        return {}
    credentials = [key for key in BASIC_CREDENTIAL_KEYS if key in base]
    if credentials:
        problems.append(
            ConfigurationProblem(
                f"{path}.{credentials[0]}",
                f"this server is authorized by {keys.SECTION} with a bearer token: remove "
                f"{' and '.join(BASIC_CREDENTIAL_KEYS)}",
                name,
            )
        )
    if keys.HTTP_HEADERS in base and not isinstance(base[keys.HTTP_HEADERS], dict):
        problems.append(
            ConfigurationProblem(f"{path}.{keys.HTTP_HEADERS}", "must be a JSON object", name)
        )
    return base


def dicomweb_definition(
    name: str, section: ServerSection, base: Mapping[str, Any], problems: list[ConfigurationProblem]
) -> dict[str, Any]:
    """The definition without the bearer token: the base, the section's DICOMweb options
    over it, their headers merged."""
    path = f"{keys.SECTION}.{keys.SERVERS}.{name}"
    own = section.model_dump(by_alias=True, include=_dicomweb_fields(), exclude_none=True)
    own.pop(keys.HTTP_HEADERS, None)
    if section.certificate_key_password is not None:
        own[keys.CERTIFICATE_KEY_PASSWORD] = section.certificate_key_password.get_secret_value()
    definition = {**base, **own}
    base_headers = base.get(keys.HTTP_HEADERS)
    headers = {
        key: value
        for key, value in {
            **(base_headers if isinstance(base_headers, dict) else {}),
            **section.http_headers,
        }.items()
        # The bearer token replaces any static Authorization header.
        if key.lower() != RESERVED_HEADER.lower()
    }
    if any(key.lower() == RESERVED_HEADER.lower() for key in section.http_headers):
        problems.append(
            ConfigurationProblem(
                f"{path}.{keys.HTTP_HEADERS}.{RESERVED_HEADER}",
                f"reserved for the bearer token managed by {keys.SECTION}: remove it",
                name,
            )
        )
    definition[keys.HTTP_HEADERS] = headers
    url = definition.get(keys.URL)
    dicomweb_path = f"{keys.DICOMWEB_SECTION}.{keys.SERVERS}.{name}"
    if not isinstance(url, str) or not url:
        problems.append(
            ConfigurationProblem(
                f"{path}.{keys.URL}",
                f"missing: set {keys.URL} here or define {dicomweb_path}",
                name,
            )
        )
        return definition
    problem = url_problem(url, section.allow_insecure_http)
    if problem is not None:
        url_key = f"{path}.{keys.URL}" if section.url else f"{dicomweb_path}.{keys.URL}"
        problems.append(ConfigurationProblem(url_key, problem, name))
    return definition


def _dicomweb_fields() -> set[str]:
    return {
        field_name
        for field_name, info in ServerSection.model_fields.items()
        if info.alias in DICOMWEB_OPTION_KEYS
    }
