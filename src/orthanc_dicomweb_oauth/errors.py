"""Errors of a token request, classified for the retry policy."""

from __future__ import annotations


class TokenRequestError(Exception):
    """A token request failed. The message is composed by this package and never
    carries a secret or a token; provider-supplied text is redacted before it gets here.

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


class TokenRequestCancelledError(Exception):
    """The token source was closed (Orthanc is stopping) before or during the request."""


class DicomWebApiError(Exception):
    """Orthanc refused a call to the DICOMweb plugin's REST API."""


class QidoError(Exception):
    """A QIDO-RS request through the DICOMweb plugin failed; the message says how."""


class TokenUnavailableError(Exception):
    """No valid token can be served now: none was obtained yet, or the cached one expired
    while the provider keeps failing."""
