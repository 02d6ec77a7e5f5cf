"""Reads a secret (a client secret, a private key's PEM text) or a credentials file from
where the configuration says it is: an environment variable or a file. Errors name the
source, never the value.

A file is what an administrator or a mount put there, not always what was meant: it is
opened without blocking (a FIFO would wait for a writer for ever), refused unless it is a
regular file once links are followed (``/dev/zero`` never ends), and read up to
MAX_CREDENTIAL_FILE_BYTES (a credential is a few KiB)."""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping

from pydantic import SecretStr

from ..errors import CredentialError

MAX_CREDENTIAL_FILE_BYTES = 1024 * 1024
_READ_CHUNK = 64 * 1024
_LONGEST_SHOWN_PATH = 4096


def secret_from_environment(variable: str, environ: Mapping[str, str]) -> SecretStr:
    value = environ.get(variable)
    if value is None:
        raise CredentialError(f"environment variable {variable} is not set")
    if not value.strip():
        raise CredentialError(f"environment variable {variable} is empty")
    return SecretStr(value)


def read_credential_file(path: str, *, key: str | None = None) -> str:
    """The text of a file holding a credential; ``key`` names the configuration key in
    the error when it is not the one being read."""
    try:
        return read_credential_bytes(path, key=key).decode("utf-8")
    except UnicodeDecodeError:
        raise CredentialError(f"file {path} is not UTF-8 text", key=key) from None


def read_credential_bytes(path: str, *, key: str | None = None) -> bytes:
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise CredentialError(f"{_missing_file(path)} does not exist", key=key) from None
    except PermissionError:
        raise CredentialError(f"file {path} is not readable (permission denied)", key=key) from None
    except OSError as error:
        raise CredentialError(f"file {path} cannot be read ({error.strerror})", key=key) from None
    try:
        return _regular_file_content(descriptor, path, key)
    finally:
        os.close(descriptor)


def _missing_file(path: str) -> str:
    """A missing file as the error names it: a value that is no path may be the credential
    itself, pasted where its file's path goes, and is not repeated."""
    looks_like_a_path = (
        path.startswith(("/", "./", "../"))
        and len(path) <= _LONGEST_SHOWN_PATH
        and not any(character.isspace() for character in path)
    )
    if looks_like_a_path:
        return f"file {path}"
    return (
        f"the file named there ({len(path)} characters, not shown: a path starts with /, ./ "
        "or ../, and this value may be the credential itself)"
    )


def _regular_file_content(descriptor: int, path: str, key: str | None) -> bytes:
    mode = os.fstat(descriptor).st_mode
    if stat.S_ISDIR(mode):
        raise CredentialError(f"{path} is a folder, not a file", key=key)
    if not stat.S_ISREG(mode):
        raise CredentialError(
            f"{path} is not a regular file ({_kind(mode)}): a credential is read from a file",
            key=key,
        )
    chunks: list[bytes] = []
    size = 0
    try:
        while chunk := os.read(descriptor, _READ_CHUNK):
            size += len(chunk)
            if size > MAX_CREDENTIAL_FILE_BYTES:
                raise CredentialError(
                    f"file {path} is larger than {MAX_CREDENTIAL_FILE_BYTES // 1024 // 1024} MiB: "
                    "not a credential",
                    key=key,
                )
            chunks.append(chunk)
    except OSError as error:
        raise CredentialError(f"file {path} cannot be read ({error.strerror})", key=key) from None
    return b"".join(chunks)


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a file"


def secret_from_file(path: str) -> SecretStr:
    content = read_credential_file(path)
    # Secret files written by `echo` or editors end with one newline that is not part
    # of the secret.
    value = content.removesuffix("\n").removesuffix("\r")
    if not value.strip():
        raise CredentialError(f"file {path} is empty")
    return SecretStr(value)
