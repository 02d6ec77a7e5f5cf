"""A credential's file that may be replaced while Orthanc runs: written in place by an
administrator, or swapped whole as Kubernetes updates a mounted Secret (its ``..data``
symlink moves to a new folder). What changes is told by the file's identity (device,
inode), size and modification time, then confirmed by its content: a file touched but
not changed is not a change."""

from __future__ import annotations

import hashlib
import os

from ..errors import CredentialError
from .secret_sources import read_credential_bytes

Stamp = tuple[int, int, int, int]


class WatchedFile:
    def __init__(self, path: str) -> None:
        self.path = path
        self._stamp = _stamp(path)
        self._digest = _digest(path)

    def changed(self) -> bool:
        """Whether the file's content differs from when it was last seen; a file that
        cannot be read now is not a change yet (a swap in progress, a mount gone)."""
        stamp = _stamp(self.path)
        if stamp is None or stamp == self._stamp:
            return False
        digest = _digest(self.path)
        if digest is None:
            return False
        self._stamp = stamp
        if digest == self._digest:
            return False
        self._digest = digest
        return True


def _stamp(path: str) -> Stamp | None:
    try:
        status = os.stat(path)  # follows the ..data symlink
    except OSError:
        return None
    return status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns


def _digest(path: str) -> bytes | None:
    """The content's digest; None when it cannot be read (nor is a credential: a FIFO, a
    device, a file too large)."""
    try:
        return hashlib.sha256(read_credential_bytes(path)).digest()
    except CredentialError:
        return None
