"""The one interface of what a client proves itself with at the token endpoint.

Each kind of credential is a module of this folder implementing ``ClientCredential``: it
adds its proof to a token request, names the values that must never be shown, and
describes itself with public facts only. It also builds itself from its settings (a
function of its module), so that the configuration only chooses the kind. The code that
requests tokens, the status and ``check`` use this interface and never ask which kind they
hold.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import MutableMapping
from dataclasses import dataclass
from datetime import datetime

from ..descriptions import CredentialDescription

# The client_assertion_type of a JWT that authenticates the client (RFC 7523 §2.2).
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@dataclass(frozen=True)
class CredentialChange:
    """A credential file found changed and read again: its configuration key and path."""

    key: str
    path: str


@dataclass(frozen=True)
class CredentialWarning:
    """Something an administrator should act on before it breaks (a certificate about to
    expire): ``key`` is the server's configuration key it is about."""

    key: str
    message: str


class ClientCredential(ABC):
    """How an OAuth2 client authenticates at the token endpoint (RFC 6749 §2.3)."""

    @property
    @abstractmethod
    def auth_method(self) -> str:
        """The client authentication method, named as RFC 7591 §2 and providers'
        metadata (``token_endpoint_auth_methods_supported``) name it."""

    @abstractmethod
    def authenticate(
        self, client_id: str, token_endpoint: str, headers: MutableMapping[str, str], body: str
    ) -> tuple[MutableMapping[str, str], str]:
        """The token request's headers and form-urlencoded body with the client's proof
        added."""

    def redacted_values(self) -> tuple[str, ...]:
        """Secrets the credential holds that a token request may not carry as they are
        (a Basic header carries the secret encoded): never to appear in a log line, an
        error or an answer, even echoed by a provider. What a request carries (a signed or
        read assertion) is held by the source from the request itself."""
        return ()

    @property
    def signing_algorithm(self) -> str | None:
        """The JWS algorithm the client signs with, checked against the provider's
        metadata; None when nothing is signed."""
        return None

    @abstractmethod
    def description(self) -> CredentialDescription:
        """What the credential is and what identifies it at the provider: public values
        only."""

    def warnings(self, now: datetime) -> list[CredentialWarning]:
        """What will stop working soon, as of ``now``."""
        return []

    def reload(self) -> list[CredentialChange]:
        """Reads the credential's files again if they changed, and says which did. Raises
        CredentialError when a changed file cannot be used: the credential stays as it
        was. A credential read from the environment or the configuration never changes."""
        return []
