"""Reads a secret (a client secret, a private key's PEM text) or a credentials file from
where the configuration says it is: an environment variable or a file. Errors name the
source, never the value."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pydantic import SecretStr

from ..errors import CredentialError


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
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise CredentialError(f"file {path} does not exist", key=key) from None
    except PermissionError:
        raise CredentialError(f"file {path} is not readable (permission denied)", key=key) from None
    except IsADirectoryError:
        raise CredentialError(f"{path} is a folder, not a file", key=key) from None
    except OSError as error:
        raise CredentialError(f"file {path} cannot be read ({error.strerror})", key=key) from None


def secret_from_file(path: str) -> SecretStr:
    content = read_credential_file(path)
    # Secret files written by `echo` or editors end with one newline that is not part
    # of the secret.
    value = content.removesuffix("\n").removesuffix("\r")
    if not value.strip():
        raise CredentialError(f"file {path} is empty")
    return SecretStr(value)
