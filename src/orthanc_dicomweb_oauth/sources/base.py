"""The one interface of where a server's tokens come from: the client-credentials grant at
a token endpoint, Google's credentials, or an Azure managed identity. The keeper, the
status and ``check`` use it and never ask which kind they hold."""

from __future__ import annotations

from typing import Protocol

from ..credentials.base import CredentialChange
from ..descriptions import SourceDescription
from .access_token import AccessToken


class TokenSource(Protocol):
    def fetch(self) -> AccessToken:
        """A new token. Raises TokenRequestError (transient or not), or
        TokenRequestCancelledError once closed."""
        ...

    def close(self) -> None:
        """Ends a request in flight as soon as the transport allows; no request after."""
        ...

    def description(self) -> SourceDescription:
        """Where tokens come from, and with which identity: never a secret or a token."""
        ...

    def redact(self, text: str) -> str:
        """The text with every secret the source has held since it was made (those a
        rotation replaced included), in every form, replaced."""
        ...

    def reload_credentials(self) -> list[CredentialChange]:
        """Reads the credential's files again if they changed, and says which did. Raises
        CredentialError when a changed file cannot be used: the source keeps the previous
        credential."""
        ...
