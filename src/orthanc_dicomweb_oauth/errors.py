"""The package's errors, under one base class. Every message is composed by this package:
it never carries a secret or a token, and text from outside (a provider's error
description, an exception's message) is redacted before it gets here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class DicomWebOAuthError(Exception):
    """Base class of the errors this package raises."""


@dataclass(frozen=True)
class ConfigurationProblem:
    """What is wrong with one configuration key (a record, not an exception): ``key`` is
    its path in Orthanc's configuration, ``server`` the server it belongs to, if any."""

    key: str
    message: str
    server: str | None = None

    def __str__(self) -> str:
        return f"{self.key}: {self.message}"


class InvalidServerError(DicomWebOAuthError):
    """A server's section is invalid: the server is not managed."""

    def __init__(self, name: str, problems: Sequence[ConfigurationProblem]) -> None:
        super().__init__(f"{name}: invalid configuration")
        self.name = name
        self.problems = tuple(problems)


class UnknownServerError(DicomWebOAuthError):
    """No server of this name is configured."""

    def __init__(self, name: str) -> None:
        super().__init__(f"no server named {name}")
        self.name = name


class CredentialError(DicomWebOAuthError):
    """A credential cannot be read or used; the message says why without showing it.
    ``key`` names the configuration key at fault when it is not the one the credential
    was read from (a private key's certificate, say)."""

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


class OrthancConfigFileError(DicomWebOAuthError):
    """An Orthanc configuration file cannot be read as Orthanc would read it."""


class TokenRequestError(DicomWebOAuthError):
    """A token request failed.

    ``transient`` failures (network, 5xx, 429, ``temporarily_unavailable``) are retried
    quickly with backoff; the others (``invalid_client``, ``invalid_scope``, a wrong
    ``token_type``...) need an administrator and are retried slowly.
    """

    def __init__(
        self,
        message: str,
        *,
        transient: bool,
        http_status: int | None = None,
        oauth_error: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.transient = transient
        self.http_status = http_status
        self.oauth_error = oauth_error
        self.retry_after = retry_after

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"TokenRequestError({self.message!r}, transient={self.transient})"


class TokenRequestCancelledError(DicomWebOAuthError):
    """The token source was closed (Orthanc is stopping) before or during the request."""


class TokenUnavailableError(DicomWebOAuthError):
    """No valid token can be served now: none was obtained yet, or the cached one expired
    while the provider keeps failing."""


class RefreshRefusedError(DicomWebOAuthError):
    """A token asked for now, whatever the schedule, is refused: one was asked for moments
    ago (``recent``), or the keeper waits after a refusal that needs an administrator, or
    for as long as the provider asked. ``retry_after``: seconds until one may be asked."""

    def __init__(self, message: str, *, retry_after: float, recent: bool) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.recent = recent


class DicomWebApiError(DicomWebOAuthError):
    """Orthanc refused a call to the DICOMweb plugin's REST API."""


class QidoError(DicomWebOAuthError):
    """A QIDO-RS request through the DICOMweb plugin failed; the message says how."""
