"""Checks one configured server without Orthanc: get a token, optionally probe the
DICOMweb server with it. The result holds no secret and no token."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..config.settings import ServerSettings
from ..errors import TokenRequestError
from ..tokens.access_token import displayed_claims
from ..tokens.server_tokens import token_source
from ..tokens.source import TokenSource
from ..unverified_jwt import JsonValue
from .probe import ProbeResult, probe_dicomweb


@dataclass(frozen=True)
class ServerCheck:
    server: str
    ok: bool
    error: str | None = None
    expires_in: int | None = None
    lifetime_source: str | None = None
    # The client authentication method, or the kind of credential where there is none.
    client_auth_method: str | None = None
    # Public facts of the credential: for --json, and as lines for the text output.
    credential: dict[str, str] | None = None
    credential_lines: tuple[str, ...] = ()
    discovered_token_endpoint: str | None = None
    claims: dict[str, JsonValue] | None = None
    notes: tuple[str, ...] = ()
    probe: ProbeResult | None = None


def check_server(
    settings: ServerSettings, *, probe: bool, dicomweb_ca_certificates: str | None
) -> ServerCheck:
    source = token_source(settings.tokens)
    try:
        token = source.fetch()
    except TokenRequestError as error:
        return ServerCheck(settings.name, ok=False, error=str(error), **_described(source))
    finally:
        source.close()
    description = source.description()
    # Shown when it came from the issuer's metadata rather than the configuration.
    discovered = description["TokenEndpoint"] if description["Issuer"] is not None else None
    probe_result = (
        probe_dicomweb(settings.dicomweb_definition["Url"], token, dicomweb_ca_certificates)
        if probe
        else None
    )
    return ServerCheck(
        settings.name,
        ok=probe_result is None or probe_result.ok,
        error=None if probe_result is None or probe_result.ok else probe_result.detail,
        expires_in=round(token.lifetime),
        lifetime_source=token.lifetime_source,
        **_described(source, description),
        claims=None if token.claims is None else displayed_claims(token.claims),
        discovered_token_endpoint=discovered,
        notes=token.notes,
        probe=probe_result,
    )


def _described(source: TokenSource, description: dict[str, Any] | None = None) -> dict[str, Any]:
    description = description or source.description()
    credential = description["Credential"]
    return {
        "client_auth_method": description["ClientAuthMethod"] or credential["Kind"],
        "credential": credential,
        "credential_lines": tuple(source.check_lines()),
    }
