"""The one interface of where a server's tokens come from: the client-credentials grant at
a token endpoint, Google's credentials, or an Azure managed identity. The keeper, the
status and ``check`` use it and never ask which kind they hold."""

from __future__ import annotations

from typing import Any, Protocol

from ..credentials.base import CredentialChange
from .access_token import AccessToken


class TokenSource(Protocol):
    def fetch(self) -> AccessToken:
        """A new token. Raises TokenRequestError (transient or not), or
        TokenRequestCancelledError once closed."""
        ...

    def close(self) -> None:
        """Ends a request in flight as soon as the transport allows; no request after."""
        ...

    def description(self) -> dict[str, Any]:
        """Public facts for the status and ``check``: ``TokenEndpoint`` (where tokens come
        from, None until known), ``Issuer``, ``ClientId`` and ``ClientAuthMethod`` (None
        where they do not apply), ``Credential`` (its ``Kind`` and who the identity is).
        Never a secret or a token."""
        ...

    def check_lines(self) -> list[str]:
        """The credential's facts as lines of ``check``'s text output."""
        ...

    def reload_credentials(self) -> list[CredentialChange]:
        """Reads the credential's files again if they changed, and says which did. Raises
        CredentialError when a changed file cannot be used: the source keeps the previous
        credential."""
        ...


def cloud_description(endpoint: str, credential: dict[str, str]) -> dict[str, Any]:
    """``description()`` of a source without a client of its own at a token endpoint."""
    return {
        "TokenEndpoint": endpoint,
        "Issuer": None,
        "ClientId": None,
        "ClientAuthMethod": None,
        "Credential": credential,
    }
