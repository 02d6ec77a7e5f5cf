"""Checks one configured server without Orthanc: get a token, optionally probe the
DICOMweb server with it. The result holds no secret and no token."""

from __future__ import annotations

from dataclasses import dataclass

from .. import keys
from ..config.settings import ServerSettings
from ..descriptions import SourceDescription
from ..errors import TokenRequestError
from ..sources.access_token import displayed_claims
from ..sources.google.access_scopes import missing_healthcare_scope
from ..tokens.server_tokens import token_source
from ..unverified_jwt import JsonValue
from .probe import ProbeResult, Refusal, probe_dicomweb, provider_of


@dataclass(frozen=True)
class ServerCheck:
    server: str
    ok: bool
    description: SourceDescription
    error: str | None = None
    expires_in: int | None = None
    lifetime_source: str | None = None
    claims: dict[str, JsonValue] | None = None
    notes: tuple[str, ...] = ()
    # What would fail the transfers though the token was had.
    warnings: tuple[str, ...] = ()
    probe: ProbeResult | None = None

    @property
    def client_auth_method(self) -> str:
        """The client authentication method, or the kind of credential where there is
        none."""
        return self.description.client_auth_method or self.description.credential.kind

    @property
    def discovered_token_endpoint(self) -> str | None:
        """The token endpoint, when it came from the issuer's metadata rather than the
        configuration."""
        description = self.description
        return description.token_endpoint if description.issuer is not None else None


def check_server(
    settings: ServerSettings, *, probe: bool, dicomweb_ca_certificates: str | None
) -> ServerCheck:
    source = token_source(settings.tokens)
    try:
        token = source.fetch()
    except TokenRequestError as error:
        description = source.description()
        return ServerCheck(settings.name, ok=False, description=description, error=str(error))
    finally:
        source.close()
    description = source.description()
    url = settings.dicomweb_definition[keys.URL]
    probe_result = None
    if probe:
        refusal = Refusal(
            provider_of(description.credential.kind, url, description.token_endpoint),
            description.credential.identity,
        )
        probe_result = probe_dicomweb(url, token, dicomweb_ca_certificates, refusal)
    scopes = description.credential.scopes
    scope_warning = None if scopes is None else missing_healthcare_scope(scopes)
    return ServerCheck(
        settings.name,
        ok=probe_result is None or probe_result.ok,
        description=description,
        error=None if probe_result is None or probe_result.ok else probe_result.detail,
        expires_in=round(token.lifetime),
        lifetime_source=token.lifetime_source,
        claims=None if token.claims is None else displayed_claims(token.claims),
        notes=token.notes,
        warnings=() if scope_warning is None else (scope_warning,),
        probe=probe_result,
    )
