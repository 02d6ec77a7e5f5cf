"""Reads a server's credential files again when they change, for the worker's regular
look and after a provider refused the client: one log line per change, naming the key
and the path, never the content."""

from __future__ import annotations

import logging

from ..errors import CredentialError, TokenRequestError
from ..redaction import sanitize_external_text
from ..sources.access_token import AccessToken
from ..sources.base import TokenSource

# Answers after which the client's credential files are read again, and the request
# retried at once if they changed: the provider may know the new secret or key already.
REFUSALS_OF_THE_CLIENT = frozenset({"invalid_client", "unauthorized_client"})


class CredentialWatch:
    def __init__(self, server: str, source: TokenSource, logger: logging.Logger) -> None:
        self._server = server
        self._source = source
        self._logger = logger
        self._logged_error: str | None = None

    def changed(self) -> bool:
        """Whether a credential file changed and was read again."""
        try:
            changes = self._source.reload_credentials()
        except CredentialError as error:
            message = f"{error.key}: {error}" if error.key else str(error)
            self._log_once("a credential file changed but cannot be used (%s)", message)
            return False
        except Exception as error:  # a defect or an odd file: the next look still comes
            said = sanitize_external_text(self._source.redact(str(error)), ())
            self._log_once(
                "cannot look at the credential files (%s)", f"{type(error).__name__}: {said}"
            )
            return False
        for change in changes:
            self._logger.info(
                "%s: %s %s changed: read again, asking for a token with it",
                self._server,
                change.key,
                change.path,
            )
        if changes:
            self._logged_error = None
        return bool(changes)

    def _log_once(self, what: str, message: str) -> None:
        if message != self._logged_error:
            self._logged_error = message
            self._logger.error(f"%s: {what}", self._server, message)

    def fetch(self) -> AccessToken:
        """A token from the source; when the provider refuses the client, the credential
        files are read again and, if they changed, the request made again at once, once."""
        try:
            return self._source.fetch()
        except TokenRequestError as error:
            if error.oauth_error not in REFUSALS_OF_THE_CLIENT or not self.changed():
                raise
        return self._source.fetch()
