"""Tokens from the Azure managed identity of the machine Orthanc runs on, through
azure-identity's ManagedIdentityCredential: IMDS on virtual machines, scale sets and AKS
nodes; the identity endpoint of App Service, Container Apps and Functions
(``IDENTITY_ENDPOINT``, ``IDENTITY_HEADER``); Azure Arc, Service Fabric, Cloud Shell and
Azure Machine Learning as azure-identity finds them.

Imported only for servers that use AzureManagedIdentity: azure-identity, azure-core,
msal and requests cost Orthanc about 18 MiB (docs/performance.md).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

from azure.core.exceptions import AzureError
from azure.identity import ManagedIdentityCredential

from ..credentials.base import CredentialChange
from ..descriptions import CredentialDescription, SourceDescription
from ..errors import TokenRequestCancelledError, TokenRequestError
from ..keys import AZURE_MANAGED_IDENTITY as KIND
from ..redaction import HeldSecrets, redact, sanitize_external_text
from .access_token import AccessToken
from .lifetime import token_until
from .settings import AzureManagedIdentitySettings
from .transient import status_is_transient

IMDS = "http://169.254.169.254"
IMDS_PATH = "/metadata/identity/oauth2/token"
# Besides the statuses worth another try for every source: IMDS answers 410 while it
# starts and 404 while an identity is being assigned to the machine.
IDENTITY_NOT_READY_STATUSES = frozenset({404, 410})
# azure-identity logs a warning at each failed request: the keeper says once what happened.
for _library in ("azure.identity", "azure.core"):
    logging.getLogger(_library).setLevel(logging.ERROR)


class AzureManagedIdentitySource:
    """Requests tokens of the machine's managed identity for one server. A new credential
    per request: msal's cache inside it would answer a refresh with the token it has."""

    def __init__(
        self, settings: AzureManagedIdentitySettings, wall_clock: Callable[[], float] = time.time
    ) -> None:
        self._settings = settings
        self._wall_clock = wall_clock
        # The identity endpoint's secret header.
        self._held = HeldSecrets()
        self._held.hold(*(os.environ.get(name, "") for name in ("IDENTITY_HEADER", "MSI_SECRET")))
        self._closed = False
        self._lock = threading.Lock()
        self._in_flight: ManagedIdentityCredential | None = None
        self._client_id_seen: str | None = None

    def fetch(self) -> AccessToken:
        if self._closed:
            raise TokenRequestCancelledError
        statuses: list[int] = []
        credential = self._credential(statuses)
        try:
            info = credential.get_token_info(self._settings.scope)
        except (AzureError, ValueError) as error:  # ValueError: an answer that is not JSON
            if self._closed:
                raise TokenRequestCancelledError from None
            raise self._translated(error, statuses) from None
        finally:
            with self._lock:
                self._in_flight = None
            credential.close()
        token = token_until(info.token, info.expires_on, self._wall_clock)
        claims = token.claims or {}
        seen = claims.get("appid") or claims.get("azp")
        self._client_id_seen = seen if isinstance(seen, str) else self._client_id_seen
        return token

    def description(self) -> SourceDescription:
        return SourceDescription(
            _endpoint(),
            CredentialDescription(
                KIND,
                environment=_environment(),
                identity="user-assigned" if self._settings.client_id else "system-assigned",
                client_id=self._settings.client_id or self._client_id_seen,
            ),
        )

    def redact(self, text: str) -> str:
        return redact(text, self._held)

    def reload_credentials(self) -> list[CredentialChange]:
        return []  # a managed identity has no file

    def close(self) -> None:
        """No request after. One in flight ends at its read timeout: requests, under
        azure-core, offers no way to wake it sooner."""
        self._closed = True
        with self._lock:
            if self._in_flight is not None:
                self._in_flight.close()

    def _credential(self, statuses: list[int]) -> ManagedIdentityCredential:
        http = self._settings.http
        credential = ManagedIdentityCredential(
            client_id=self._settings.client_id,
            # The keeper retries, with its own backoff and one log line per change.
            retry_total=0,
            connection_timeout=http.connect_timeout,
            read_timeout=http.read_timeout,
            connection_verify=(http.ca_certificates or True) if http.verify_peer else False,
            # The identity endpoints are on the machine itself: no proxy, from the
            # environment or elsewhere (Azure requires IMDS to be reached directly).
            use_env_settings=False,
            raw_response_hook=lambda response: statuses.append(response.http_response.status_code),
            # Workload identity is ClientAssertionFile's, with its own keys.
            _exclude_workload_identity_credential=True,
        )
        with self._lock:
            self._in_flight = credential
        return credential

    def _translated(self, error: AzureError | ValueError, statuses: list[int]) -> TokenRequestError:
        said = getattr(error, "message", None) or str(error) or type(error).__name__
        message = sanitize_external_text(said, self._held)
        if not statuses:
            return TokenRequestError(
                f"no managed identity endpoint answered at {_endpoint()}: not running on Azure "
                f"with a managed identity? ({message})",
                transient=False,
            )
        status = statuses[-1]
        transient = status_is_transient(status, also=IDENTITY_NOT_READY_STATUSES)
        client_id = self._settings.client_id
        if status in (400, 401, 403) and client_id:
            message += f" (is {client_id} a user-assigned identity of this resource?)"
        return TokenRequestError(
            f"the managed identity endpoint refused (HTTP {status}): {message}",
            transient=transient,
            http_status=status,
        )


def _environment() -> str:
    """Where azure-identity finds the identity, in its own order."""
    if os.environ.get("IDENTITY_ENDPOINT"):
        if os.environ.get("IDENTITY_HEADER"):
            if os.environ.get("IDENTITY_SERVER_THUMBPRINT"):
                return "Service Fabric"
            return "App Service"
        if os.environ.get("IMDS_ENDPOINT"):
            return "Azure Arc"
    if os.environ.get("MSI_ENDPOINT"):
        return "Azure Machine Learning" if os.environ.get("MSI_SECRET") else "Cloud Shell"
    return "IMDS"


def _endpoint() -> str:
    if _environment() == "IMDS":
        authority = os.environ.get("AZURE_POD_IDENTITY_AUTHORITY_HOST", IMDS).strip("/")
        return authority + IMDS_PATH
    return os.environ.get("IDENTITY_ENDPOINT") or os.environ.get("MSI_ENDPOINT") or ""
