"""Reads a secret (a client secret, a private key's PEM text) from where the configuration
says it is: an environment variable or a file. Errors name the source, never the value."""

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


def secret_from_file(path: str) -> SecretStr:
    try:
        content = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CredentialError(f"file {path} does not exist") from None
    except PermissionError:
        raise CredentialError(f"file {path} is not readable (permission denied)") from None
    except IsADirectoryError:
        raise CredentialError(f"{path} is a folder, not a file") from None
    except UnicodeDecodeError:
        raise CredentialError(f"file {path} is not UTF-8 text") from None
    except OSError as error:
        raise CredentialError(f"file {path} cannot be read ({error.strerror})") from None
    # Secret files written by `echo` or editors end with one newline that is not part
    # of the secret.
    value = content.removesuffix("\n").removesuffix("\r")
    if not value.strip():
        raise CredentialError(f"file {path} is empty")
    return SecretStr(value)
