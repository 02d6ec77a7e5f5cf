"""What the DICOMweb plugin's side of the configuration gives a server: its definition,
``DicomWeb.Servers.NAME`` extended by the DICOMweb options of ``DicomWebOAuth.Servers.NAME``,
and the refusal to manage servers whose tokens the DICOMweb plugin would store in the
database."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import ConfigurationProblem
from .schema import DICOMWEB_OPTION_KEYS, DICOMWEB_SECTION, SECTION, OAuthSection, ServerSection
from .url_policy import url_problem

RESERVED_HEADER = "Authorization"


def servers_in_database_refusal(
    orthanc: Mapping[str, Any], section: OAuthSection
) -> ConfigurationProblem | None:
    dicomweb = orthanc.get(DICOMWEB_SECTION)
    in_database = isinstance(dicomweb, dict) and dicomweb.get("ServersInDatabase") is True
    if not in_database or section.allow_servers_in_database:
        return None
    return ConfigurationProblem(
        f"{DICOMWEB_SECTION}.ServersInDatabase",
        "is true: the DICOMweb plugin would store every bearer token in plain text in "
        f"Orthanc's database, so no server is managed. Set it to false, or set "
        f"{SECTION}.AllowServersInDatabase to true to accept this",
    )


def dicomweb_servers(
    orthanc: Mapping[str, Any],
) -> tuple[dict[str, Any], list[ConfigurationProblem]]:
    """``DicomWeb.Servers``, by name."""
    dicomweb = orthanc.get(DICOMWEB_SECTION, {})
    if not isinstance(dicomweb, dict):
        return {}, [ConfigurationProblem(DICOMWEB_SECTION, "must be a JSON object")]
    servers = dicomweb.get("Servers", {})
    if not isinstance(servers, dict):
        return {}, [ConfigurationProblem(f"{DICOMWEB_SECTION}.Servers", "must be a JSON object")]
    return servers, []


def dicomweb_base(name: str, raw: Any, problems: list[ConfigurationProblem]) -> dict[str, Any]:
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
        problems.append(ConfigurationProblem(path, "must be an object or [Url, ...]", name))
        return {}
    credentials = [key for key in ("Username", "Password") if key in base]
    if credentials:
        problems.append(
            ConfigurationProblem(
                f"{path}.{credentials[0]}",
                "this server is authorized by DicomWebOAuth with a bearer token: remove "
                "Username and Password",
                name,
            )
        )
    if "HttpHeaders" in base and not isinstance(base["HttpHeaders"], dict):
        problems.append(ConfigurationProblem(f"{path}.HttpHeaders", "must be a JSON object", name))
    return base


def dicomweb_definition(
    name: str, keys: ServerSection, base: Mapping[str, Any], problems: list[ConfigurationProblem]
) -> dict[str, Any]:
    """The definition without the bearer token: the base, the section's DICOMweb options
    over it, their headers merged."""
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
        problems.append(
            ConfigurationProblem(
                f"{path}.HttpHeaders.{RESERVED_HEADER}",
                "reserved for the bearer token managed by DicomWebOAuth: remove it",
                name,
            )
        )
    definition["HttpHeaders"] = headers
    url = definition.get("Url")
    if not isinstance(url, str) or not url:
        problems.append(
            ConfigurationProblem(
                f"{path}.Url",
                f"missing: set Url here or define {DICOMWEB_SECTION}.Servers.{name}",
                name,
            )
        )
        return definition
    problem = url_problem(url, keys.allow_insecure_http)
    if problem is not None:
        url_key = f"{path}.Url" if keys.url else f"{DICOMWEB_SECTION}.Servers.{name}.Url"
        problems.append(ConfigurationProblem(url_key, problem, name))
    return definition


def _dicomweb_fields() -> set[str]:
    return {
        field_name
        for field_name, info in ServerSection.model_fields.items()
        if info.alias in DICOMWEB_OPTION_KEYS
    }
