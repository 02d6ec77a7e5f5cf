"""What is read from files that may change while Orthanc runs (a secret file, a private key
and its certificate, Google's credentials file), read again when one of them changes. The
value in use is replaced only by one that loads without error; until then the previous one
keeps serving."""

from __future__ import annotations

import threading
from collections.abc import Callable, MutableMapping, Sequence
from datetime import datetime
from typing import Generic, TypeVar

from ..descriptions import CredentialDescription
from ..errors import CredentialError
from .base import ClientCredential, CredentialChange, CredentialWarning
from .watched_file import WatchedFile

Loaded = TypeVar("Loaded")


class FileBacked(Generic[Loaded]):
    def __init__(self, load: Callable[[], Loaded], files: Sequence[tuple[str, str]]) -> None:
        """``load`` reads the value from ``files``, (configuration key, path) pairs; raises
        CredentialError when they cannot be used."""
        self._load = load
        # Seen before the load: a change made while it reads is a change next time.
        self._files = [(key, WatchedFile(path)) for key, path in files]
        self._current = load()
        self._lock = threading.Lock()

    @property
    def current(self) -> Loaded:
        return self._current

    def reload(self) -> list[CredentialChange]:
        """Loads the value again if a file changed, and says which did. Raises
        CredentialError when the changed files cannot be used: the value stays as it was."""
        with self._lock:
            changes = [
                CredentialChange(key, watched.path)
                for key, watched in self._files
                if watched.changed()
            ]
            if changes:
                self._current = self._load()
        return changes


class ReloadingCredential(ClientCredential):
    """A credential read from files, read again when they change."""

    def __init__(self, files: FileBacked[ClientCredential]) -> None:
        self._files = files

    def reload(self) -> list[CredentialChange]:
        return self._files.reload()

    @property
    def auth_method(self) -> str:
        return self._files.current.auth_method

    @property
    def signing_algorithm(self) -> str | None:
        return self._files.current.signing_algorithm

    def authenticate(
        self, client_id: str, token_endpoint: str, headers: MutableMapping[str, str], body: str
    ) -> tuple[MutableMapping[str, str], str]:
        return self._files.current.authenticate(client_id, token_endpoint, headers, body)

    def redacted_values(self) -> tuple[str, ...]:
        return self._files.current.redacted_values()

    def description(self) -> CredentialDescription:
        return self._files.current.description()

    def warnings(self, now: datetime) -> list[CredentialWarning]:
        return self._files.current.warnings(now)

    def __repr__(self) -> str:
        return repr(self._files.current)


def watched_credential(
    load: Callable[[], ClientCredential], files: Sequence[tuple[str, str]], key: str
) -> ClientCredential:
    """The credential ``load`` reads, read again when one of ``files`` changes; loaded once
    when none is a file (a secret or key from the environment or the configuration never
    changes). Its errors name ``key`` unless they name another."""

    def load_naming_the_key() -> ClientCredential:
        try:
            return load()
        except CredentialError as error:
            raise CredentialError(str(error), key=error.key or key) from None

    if not files:
        return load_naming_the_key()
    return ReloadingCredential(FileBacked(load_naming_the_key, files))
