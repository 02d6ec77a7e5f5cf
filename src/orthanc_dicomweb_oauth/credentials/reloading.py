"""A credential read from files, read again when one of them changes: the secret file,
the private key and its certificate. The credential in use is replaced only by one that
loads without error; until then the previous one keeps serving."""

from __future__ import annotations

import threading
from collections.abc import Callable, MutableMapping, Sequence
from datetime import datetime

from .base import ClientCredential, CredentialChange, CredentialWarning
from .watched_file import WatchedFile


class ReloadingCredential(ClientCredential):
    def __init__(
        self,
        load: Callable[[], ClientCredential],
        files: Sequence[tuple[str, str]],
    ) -> None:
        """``load`` reads the credential from ``files``, (configuration key, path) pairs;
        raises CredentialError when they cannot be used."""
        self._load = load
        self._current = load()
        self._files = [(key, WatchedFile(path)) for key, path in files]
        self._lock = threading.Lock()

    def reload(self) -> list[CredentialChange]:
        with self._lock:
            changes = [
                CredentialChange(key, watched.path)
                for key, watched in self._files
                if watched.changed()
            ]
            if changes:
                self._current = self._load()  # CredentialError: the previous one stays
        return changes

    @property
    def auth_method(self) -> str:
        return self._current.auth_method

    @property
    def signing_algorithm(self) -> str | None:
        return self._current.signing_algorithm

    def authenticate(
        self, client_id: str, token_endpoint: str, headers: MutableMapping[str, str], body: str
    ) -> tuple[MutableMapping[str, str], str]:
        return self._current.authenticate(client_id, token_endpoint, headers, body)

    def redacted_values(self) -> tuple[str, ...]:
        return self._current.redacted_values()

    def public_description(self) -> dict[str, str]:
        return self._current.public_description()

    def check_lines(self) -> list[str]:
        return self._current.check_lines()

    def warnings(self, now: datetime) -> list[CredentialWarning]:
        return self._current.warnings(now)

    def __repr__(self) -> str:
        return repr(self._current)
