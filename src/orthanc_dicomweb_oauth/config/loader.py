"""Orthanc's configuration -> one validated ServerSettings per configured server.

A broken server section gives problems naming its keys and is left out; the other servers
are still loaded. Keys may come from ``DicomWeb.Servers.NAME`` (the DICOMweb plugin's own
definition), which the ``DicomWebOAuth`` section extends.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from .. import keys
from ..errors import ConfigurationProblem, InvalidServerError
from ..redaction import sanitize_external_text
from .dicomweb_section import (
    dicomweb_base,
    dicomweb_definition,
    dicomweb_servers,
    servers_in_database_refusal,
)
from .image_environment import merged_key_warnings, secret_suffix_warnings
from .name_hints import missing_section_message
from .schema import OAuthSection, ServerSection
from .schema_errors import schema_problems
from .settings import (
    LoadedConfiguration,
    RefreshSettings,
    ServerSettings,
)
from .token_choice import token_settings


def load_configuration(
    orthanc: Mapping[str, Any],
    environ: Mapping[str, str] | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> LoadedConfiguration:
    """Validates the ``DicomWebOAuth`` section of Orthanc's whole configuration and reads
    the credentials (their files are watched afterwards); ``now`` tells which warnings are
    due (a certificate about to expire)."""
    environ = os.environ if environ is None else environ
    # Said whatever the section holds: the key is in the configuration all the same.
    root_warnings = tuple(merged_key_warnings(orthanc))
    if keys.SECTION not in orthanc:
        missing = ConfigurationProblem(keys.SECTION, missing_section_message(orthanc))
        return LoadedConfiguration({}, (missing,), root_warnings)
    try:
        section = OAuthSection.model_validate(orthanc[keys.SECTION])
    except ValidationError as error:
        return LoadedConfiguration(
            {}, tuple(schema_problems(error, keys.SECTION, OAuthSection)), root_warnings
        )

    bases, problems = dicomweb_servers(orthanc)
    refusal = servers_in_database_refusal(orthanc, section)
    if refusal is not None:
        return _loaded(section, {}, (*problems, refusal), root_warnings)
    servers: dict[str, ServerSettings] = {}
    for name, raw in section.servers.items():
        try:
            servers[name] = _server(name, raw, bases.get(name), orthanc, environ)
        except InvalidServerError as invalid:
            problems.extend(invalid.problems)
        except Exception as error:  # a defect or an input nothing foresaw: this server only
            said = sanitize_external_text(str(error), ())
            problems.append(
                ConfigurationProblem(
                    f"{keys.SECTION}.{keys.SERVERS}.{name}",
                    f"cannot be loaded ({type(error).__name__}: {said})",
                    name,
                )
            )
    if not section.servers:
        problems.append(
            ConfigurationProblem(f"{keys.SECTION}.{keys.SERVERS}", "no server is configured")
        )
    warnings = (
        *root_warnings,
        *_warnings(servers, orthanc, now()),
        *secret_suffix_warnings(section.servers, environ),
    )
    return _loaded(section, servers, tuple(problems), warnings)


def _loaded(
    section: OAuthSection,
    servers: Mapping[str, ServerSettings],
    problems: tuple[ConfigurationProblem, ...],
    warnings: tuple[str, ...] = (),
) -> LoadedConfiguration:
    """The servers, with the section's own keys (those that belong to no server)."""
    return LoadedConfiguration(
        servers,
        problems,
        warnings,
        check_interval=section.check_interval,
        resubmit_refused_jobs=section.resubmit_refused_jobs,
    )


def _server(
    name: str,
    raw: Any,
    dicomweb_server: Any,
    orthanc: Mapping[str, Any],
    environ: Mapping[str, str],
) -> ServerSettings:
    path = f"{keys.SECTION}.{keys.SERVERS}.{name}"
    if not name.strip():
        raise InvalidServerError(
            name, [ConfigurationProblem(path, "a server name cannot be empty", name)]
        )
    try:
        section = ServerSection.model_validate(raw)
    except ValidationError as error:
        raise InvalidServerError(name, schema_problems(error, path, ServerSection, name)) from None

    problems: list[ConfigurationProblem] = []
    base = dicomweb_base(name, dicomweb_server, problems)
    if problems:
        raise InvalidServerError(name, problems)
    definition = dicomweb_definition(name, section, base, problems)
    tokens = token_settings(name, section, orthanc, environ, problems)
    if problems or tokens is None:
        raise InvalidServerError(name, problems)
    return ServerSettings(
        name=name,
        tokens=tokens,
        refresh=RefreshSettings(
            margin_ratio=section.refresh_margin_ratio,
            minimum_margin=section.minimum_refresh_margin,
            retry_initial_delay=section.retry_initial_delay,
            retry_max_delay=max(section.retry_max_delay, section.retry_initial_delay),
            retry_max_delay_without_token=max(
                section.retry_max_delay_without_token, section.retry_initial_delay
            ),
            permanent_error_retry_delay=section.permanent_error_retry_delay,
        ),
        dicomweb_definition=definition,
    )


def _warnings(
    servers: Mapping[str, ServerSettings], orthanc: Mapping[str, Any], now: datetime
) -> tuple[str, ...]:
    warnings = [
        f"{keys.SECTION}.{keys.SERVERS}.{name}.{warning.key}: {warning.message}"
        for name, settings in servers.items()
        for warning in settings.tokens.credential_warnings(now)
    ]
    for name, settings in servers.items():
        turned_off_by = settings.tokens.http.verify_peer_key
        if turned_off_by is not None:
            where = (
                f"{keys.SECTION}.{keys.SERVERS}.{name}.{turned_off_by}"
                if turned_off_by == keys.TOKEN_ENDPOINT_VERIFY_PEER
                else f"{turned_off_by} (Orthanc's, which the server's token requests follow)"
            )
            warnings.append(
                f"{keys.SECTION}.{keys.SERVERS}.{name}: the TLS certificate of its token "
                f"endpoint is not verified, since {where} is false: anyone on the network path "
                "can pose as the provider and take the client's proof. Set "
                f"{keys.TOKEN_ENDPOINT_VERIFY_PEER} to true, with "
                f"{keys.TOKEN_ENDPOINT_CA_CERTIFICATES} for a private CA"
            )
    if orthanc.get(keys.HTTP_VERBOSE) is True:
        warnings.append(
            f"{keys.HTTP_VERBOSE} is true: Orthanc's HTTP client logs the Authorization headers "
            "it sends, bearer tokens included"
        )
    return tuple(warnings)
