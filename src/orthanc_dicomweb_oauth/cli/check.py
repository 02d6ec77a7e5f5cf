"""Checks one configured server without Orthanc: get a token, optionally probe the
DICOMweb server with it. The result holds no secret and no token."""

from __future__ import annotations

from dataclasses import dataclass

from ..config.settings import ServerSettings
from ..errors import TokenRequestError
from ..tokens.access_token import JsonValue, displayed_claims
from ..tokens.client_credentials import ClientCredentialsSource
from .probe import ProbeResult, probe_dicomweb


@dataclass(frozen=True)
class ServerCheck:
    server: str
    ok: bool
    error: str | None = None
    expires_in: int | None = None
    lifetime_source: str | None = None
    client_auth_method: str | None = None
    # Public facts of the credential: for --json, and as lines for the text output.
    client_key: dict[str, str] | None = None
    credential_lines: tuple[str, ...] = ()
    discovered_token_endpoint: str | None = None
    claims: dict[str, JsonValue] | None = None
    notes: tuple[str, ...] = ()
    probe: ProbeResult | None = None


def check_server(
    settings: ServerSettings, *, probe: bool, dicomweb_ca_certificates: str | None
) -> ServerCheck:
    source = ClientCredentialsSource(settings.token_endpoint)
    credential = settings.token_endpoint.credential
    method = credential.auth_method
    client_key = credential.public_description()
    credential_lines = tuple(credential.check_lines())
    try:
        token = source.fetch()
        discovered = source.token_endpoint() if settings.token_endpoint.url is None else None
    except TokenRequestError as error:
        return ServerCheck(
            settings.name,
            ok=False,
            error=str(error),
            client_auth_method=method,
            client_key=client_key,
            credential_lines=credential_lines,
        )
    finally:
        source.close()
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
        client_auth_method=method,
        client_key=client_key,
        credential_lines=credential_lines,
        claims=None if token.claims is None else displayed_claims(token.claims),
        discovered_token_endpoint=discovered,
        notes=token.notes,
        probe=probe_result,
    )
