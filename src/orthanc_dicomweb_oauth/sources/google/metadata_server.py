"""The metadata server's credentials, keeping the access scopes it lists for the machine's
service account: on Compute Engine a token carries those scopes, whatever is asked for.

Imported for the metadata server only: google-auth's compute_engine loads requests."""

from __future__ import annotations

from typing import Any

from google.auth import compute_engine


class MetadataServerCredentials(compute_engine.Credentials):
    """google-auth reads the account's description, scopes included, before each token,
    and keeps its scopes only when none were asked for: kept here in ``account_scopes``
    (None until read, or when the metadata server lists none)."""

    account_scopes: tuple[str, ...] | None = None

    def _retrieve_info(self, request: Any) -> None:
        asked = self._scopes
        self._scopes = None
        try:
            super()._retrieve_info(request)  # type: ignore[no-untyped-call]
            listed = self._scopes
        finally:
            self._scopes = asked
        if isinstance(listed, list) and all(isinstance(scope, str) for scope in listed):
            self.account_scopes = tuple(listed)
