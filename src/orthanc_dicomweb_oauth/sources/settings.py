"""What each source of tokens needs, as the configuration's loader makes it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from ..credentials.base import ClientCredential, CredentialWarning


@dataclass(frozen=True)
class HttpSettings:
    """How a server's token requests reach their endpoint."""

    ca_certificates: str | None
    verify_peer: bool
    # The configuration key that turned verification off, for the warning that says so.
    verify_peer_key: str | None
    proxy: str | None
    connect_timeout: float
    read_timeout: float


@dataclass(frozen=True)
class ClientCredentialsSettings:
    """Tokens from the OAuth2 client-credentials grant at a provider's token endpoint."""

    url: str | None  # None: discovered from the issuer's metadata
    issuer: str | None
    client_id: str
    credential: ClientCredential
    scope: str | None
    extra_parameters: Mapping[str, str]
    default_token_lifetime: float
    allow_insecure_http: bool
    http: HttpSettings

    def credential_warnings(self, now: datetime) -> list[CredentialWarning]:
        return self.credential.warnings(now)


@dataclass(frozen=True)
class GoogleSettings:
    """Tokens from Google for a service account's key, an external account or an
    impersonated service account (the credentials file at ``file``, read by the source),
    or from the metadata server (None). ``named_by``: the environment variable that named
    the file, if one did."""

    file: str | None
    named_by: str | None
    scope: str
    allow_insecure_http: bool
    http: HttpSettings

    def credential_warnings(self, now: datetime) -> list[CredentialWarning]:
        return []


@dataclass(frozen=True)
class AzureManagedIdentitySettings:
    """Tokens from the Azure managed identity of the machine Orthanc runs on."""

    client_id: str | None  # a user-assigned identity's; None: the system-assigned one
    scope: str
    http: HttpSettings

    def credential_warnings(self, now: datetime) -> list[CredentialWarning]:
        return []


TokenSettings = ClientCredentialsSettings | GoogleSettings | AzureManagedIdentitySettings
