"""What is read from files that may change while Orthanc runs (a secret file, a private key
and its certificate, Google's credentials file), read again when one of them changes. The
value in use is replaced only by one that loads without error; until then the previous one
keeps serving. Files that cannot be used at start (a Kubernetes mount not there yet) are
looked at like rotated ones: the value is there once they are usable."""

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
        self._lock = threading.Lock()
        self._current: Loaded | None = None
        self._error: CredentialError | None = None
        try:
            self._current = load()
        except CredentialError as error:
            self._error = error

    @property
    def current(self) -> Loaded:
        """The value; raises CredentialError, saying why, while none could be loaded."""
        current = self._current
        if current is None:
            raise self._error or CredentialError("not loaded")
        return current

    @property
    def error(self) -> CredentialError | None:
        """Why no value could be loaded yet; None once one was."""
        return self._error if self._current is None else None

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
                try:
                    self._current = self._load()
                except CredentialError as error:
                    self._error = error
                    raise
                self._error = None
        return changes


class ReloadingCredential(ClientCredential):
    """A credential read from files, read again when they change. What it is comes from
    its settings while the files cannot be used."""

    def __init__(
        self,
        files: FileBacked[ClientCredential],
        *,
        auth_method: str,
        signing_algorithm: str | None,
        kind: str,
    ) -> None:
        self._files = files
        self._auth_method = auth_method
        self._signing_algorithm = signing_algorithm
        self._kind = kind

    def reload(self) -> list[CredentialChange]:
        return self._files.reload()

    @property
    def auth_method(self) -> str:
        return self._auth_method

    @property
    def signing_algorithm(self) -> str | None:
        return self._signing_algorithm

    def authenticate(
        self, client_id: str, token_endpoint: str, headers: MutableMapping[str, str], body: str
    ) -> tuple[MutableMapping[str, str], str]:
        return self._files.current.authenticate(client_id, token_endpoint, headers, body)

    def redacted_values(self) -> tuple[str, ...]:
        error = self._files.error
        return () if error is not None else self._files.current.redacted_values()

    def description(self) -> CredentialDescription:
        error = self._files.error
        if error is not None:
            return CredentialDescription(self._kind, error=_said(error))
        return self._files.current.description()

    def warnings(self, now: datetime) -> list[CredentialWarning]:
        return [] if self._files.error is not None else self._files.current.warnings(now)

    def __repr__(self) -> str:
        error = self._files.error
        return f"{self._kind}(not loaded)" if error is not None else repr(self._files.current)


def watched_credential(
    load: Callable[[], ClientCredential],
    files: Sequence[tuple[str, str]],
    *,
    key: str,
    auth_method: str,
    signing_algorithm: str | None,
    kind: str,
) -> ClientCredential:
    """The credential ``load`` reads, read again when one of ``files`` changes. Without a
    file (a secret or a key from the environment or the configuration, which never
    changes), it is loaded once and its CredentialError raised. Errors name ``key`` unless
    they name another."""

    def load_naming_the_key() -> ClientCredential:
        try:
            return load()
        except CredentialError as error:
            raise CredentialError(str(error), key=error.key or key) from None

    if not files:
        return load_naming_the_key()
    return ReloadingCredential(
        FileBacked(load_naming_the_key, files),
        auth_method=auth_method,
        signing_algorithm=signing_algorithm,
        kind=kind,
    )


def _said(error: CredentialError) -> str:
    return f"{error.key}: {error}" if error.key else str(error)
