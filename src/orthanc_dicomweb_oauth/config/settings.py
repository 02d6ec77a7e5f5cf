"""The validated settings the rest of the package runs on, as the loader makes them from
Orthanc's configuration."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..credentials.base import ClientCredential, CredentialWarning
from ..credentials.google_file import GoogleCredentialsFile
from ..errors import ConfigurationProblem


@dataclass(frozen=True)
class HttpSettings:
    """How a server's token requests reach their endpoint."""

    ca_certificates: str | None
    verify_peer: bool
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
    impersonated service account (``file``), or from the metadata server (None)."""

    file: GoogleCredentialsFile | None
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


@dataclass(frozen=True)
class RefreshSettings:
    margin_ratio: float
    minimum_margin: float
    retry_initial_delay: float
    retry_max_delay: float
    retry_max_delay_without_token: float
    permanent_error_retry_delay: float


@dataclass(frozen=True)
class ServerSettings:
    name: str
    tokens: TokenSettings
    refresh: RefreshSettings
    # The DICOMweb plugin's definition without the Authorization header. It may hold a
    # certificate key password: never shown.
    dicomweb_definition: Mapping[str, Any] = field(repr=False)


@dataclass(frozen=True)
class LoadedConfiguration:
    servers: Mapping[str, ServerSettings]
    problems: tuple[ConfigurationProblem, ...]
    warnings: tuple[str, ...] = ()
    check_interval: float = 30.0
    resubmit_refused_jobs: bool = True

    def problems_of(self, server: str) -> tuple[ConfigurationProblem, ...]:
        return tuple(problem for problem in self.problems if problem.server == server)

    def general_problems(self) -> tuple[ConfigurationProblem, ...]:
        """Problems of the section as a whole, not of one server."""
        return tuple(problem for problem in self.problems if problem.server is None)

    def invalid_servers(self) -> list[str]:
        """Configured servers left out because their sections are invalid."""
        names = {problem.server for problem in self.problems if problem.server is not None}
        return sorted(names - set(self.servers))
