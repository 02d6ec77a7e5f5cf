"""Keeps one server authorized in the DICOMweb plugin: writes the definition with a
fresh token after each refresh, and checks it every CheckInterval seconds."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from ..config.settings import ServerSettings
from ..descriptions import SourceDescription
from ..errors import DicomWebApiError, TokenUnavailableError
from ..logs import LOGGER
from ..redaction import sanitize_external_text
from ..sources.access_token import AccessToken
from ..tokens.keeper import MIN_REQUEST_INTERVAL, KeeperState, KeeperStatus
from ..tokens.server_tokens import ServerTokens
from .definition import authorized_definition, definition_drift

# The worker never spins: it waits at least this long between two rounds.
MINIMUM_WAIT = 0.05
# How often the credential files are looked at, by default: a rotated secret or key is
# used within this many seconds.
CREDENTIAL_CHECK_INTERVAL = 2.0


class DicomWebServers(Protocol):
    """The DICOMweb plugin's server definitions (``/dicom-web/servers``)."""

    def put(self, name: str, definition: Mapping[str, Any]) -> None: ...

    def list_expanded(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class SyncStatus:
    definition_writes: int
    definition_restores: int
    last_write: datetime | None
    last_sync_error: str | None
    # Unexpected errors of the worker's rounds (a defect, an input nothing foresaw).
    internal_errors: int
    last_internal_error: str | None


class ServerWorker:
    def __init__(
        self,
        settings: ServerSettings,
        tokens: ServerTokens,
        dicomweb: DicomWebServers,
        *,
        check_interval: float,
        start_delay: float = 0.0,
        credential_check_interval: float = CREDENTIAL_CHECK_INTERVAL,
        logger: logging.Logger = LOGGER,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self._keeper = tokens.keeper
        self._tokens = tokens
        self._dicomweb = dicomweb
        self._check_interval = check_interval
        self._credential_check_interval = credential_check_interval
        self._start_delay = start_delay
        self._logger = logger
        self._clock = clock
        self._wall_clock = wall_clock
        self._stop = threading.Event()
        self._lock = threading.Lock()  # one definition write at a time
        self._thread = threading.Thread(
            target=self._run, name=f"dicomweb-oauth-{settings.name}", daemon=True
        )
        self._written: AccessToken | None = None
        self._writes = 0
        self._restores = 0
        self._last_write: datetime | None = None
        self._sync_error: str | None = None
        self._internal_errors = 0
        self._internal_errors_in_a_row = 0
        self._internal_error: str | None = None
        self._next_check: float | None = None
        self._next_credential_check: float | None = None

    @property
    def name(self) -> str:
        return self.settings.name

    def source_description(self) -> SourceDescription:
        """Where the server's tokens come from, and with which identity: public facts."""
        return self._tokens.source.description()

    def start(self) -> None:
        self._thread.start()

    def request_stop(self) -> None:
        self._stop.set()
        # Interrupts a token request in flight instead of waiting for its timeout.
        self._tokens.close()

    def join(self, timeout: float) -> bool:
        if self._thread.ident is not None:
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def refresh(self, spacing: float = MIN_REQUEST_INTERVAL) -> AccessToken:
        """A new token now, written to the DICOMweb plugin (an administrator's request, or
        the healer's). A credential file changed ends a wait after a refusal that needs an
        administrator. Raises what ``TokenKeeper.refresh`` raises."""
        if self._tokens.credentials.changed():
            self._keeper.request_now()
        token = self._keeper.refresh(spacing)
        self._sync(token)
        return token

    def token(self) -> AccessToken:
        """The server's valid token; raises TokenUnavailableError when there is none."""
        return self._keeper.token()

    def status(self) -> tuple[KeeperStatus, SyncStatus]:
        with self._lock:
            sync = SyncStatus(
                self._writes,
                self._restores,
                self._last_write,
                self._sync_error,
                self._internal_errors,
                self._internal_error,
            )
        return self._keeper.status(), sync

    def unready(self) -> str | None:
        """Why requests through this server would not be authorized now; None when the
        definition holds a valid token."""
        keeper, sync = self.status()
        if keeper.state not in (KeeperState.VALID, KeeperState.DEGRADED):
            detail = f": {keeper.last_error}" if keeper.last_error else ""
            return f"no valid token ({keeper.state.value}){detail}"
        if sync.last_sync_error is not None:
            return sync.last_sync_error
        if sync.last_internal_error is not None:
            return f"the server's worker failed: {sync.last_internal_error}"
        if sync.definition_writes == 0:
            return "the server definition is not written yet"
        return None

    def step(self) -> float:
        """One round of the worker's thread: writes the definition when the token changed
        or a check is due, and returns how long to wait before the next round."""
        if self._next_check is None:
            self._next_check = self._clock() + self._check_interval
            self._next_credential_check = self._clock() + self._credential_check_interval
        self._look_at_credentials()
        check_due = self._clock() >= self._next_check
        try:
            token: AccessToken | None = self._keeper.token()
        except TokenUnavailableError:
            token = None  # the keeper has logged why; it retries on its schedule
        if token is not None and (token is not self._written or check_due):
            self._sync(token)
        if check_due:
            self._next_check = self._clock() + self._check_interval
        wait = min(
            self._keeper.seconds_until_due(),
            self._next_check - self._clock(),
            (self._next_credential_check or 0.0) - self._clock(),
        )
        return max(wait, MINIMUM_WAIT)

    def _look_at_credentials(self) -> None:
        """A credential file that changed means a token with it now: its wait after a
        permanent error ends, a token the provider may soon refuse is replaced."""
        if self._next_credential_check is None or self._clock() < self._next_credential_check:
            return
        self._next_credential_check = self._clock() + self._credential_check_interval
        if self._tokens.credentials.changed():
            self._keeper.request_now()

    def _run(self) -> None:
        if self._stop.wait(self._start_delay):
            return
        while not self._stop.is_set():
            try:
                wait = self.step()
            except Exception as error:  # a defect or an odd input: this server alone pays
                wait = self._after_internal_error(error)
            else:
                self._after_a_round()
            self._stop.wait(wait)

    def _after_internal_error(self, error: Exception) -> float:
        """Logs an unexpected error once (its type and its message, redacted), counts it,
        and says how long to wait: the keeper's pace after transient failures."""
        said = sanitize_external_text(self._tokens.source.redact(str(error)), ())
        message = f"{type(error).__name__}: {said}" if said else type(error).__name__
        with self._lock:
            self._internal_errors += 1
            self._internal_errors_in_a_row += 1
            in_a_row = self._internal_errors_in_a_row
            repeated = message == self._internal_error
            self._internal_error = message
        if not repeated:
            self._logger.error(
                "%s: internal error in the server's worker (%s); trying again", self.name, message
            )
        refresh = self.settings.refresh
        return min(
            refresh.retry_max_delay, refresh.retry_initial_delay * 2.0 ** min(in_a_row - 1, 32)
        )

    def _after_a_round(self) -> None:
        with self._lock:
            recovered = self._internal_error is not None
            self._internal_errors_in_a_row = 0
            self._internal_error = None
        if recovered:
            self._logger.info("%s: the server's worker works again", self.name)

    def _sync(self, token: AccessToken) -> None:
        """Writes the definition with the keeper's current token (``token`` when none is
        valid any more): another thread may have written a newer one while this one waited
        for the lock. The definition is written again at each check because a replaced
        header value cannot be read back; a definition found missing or changed is logged
        as restored."""
        with self._lock:
            token = self._keeper.cached_token() or token
            drift = None
            if self._written is not None:
                try:
                    listed = self._dicomweb.list_expanded().get(self.name)
                    drift = definition_drift(self.settings.dicomweb_definition, listed)
                except DicomWebApiError as error:
                    self._record_sync_error_locked(f"cannot list the DICOMweb servers: {error}")
            try:
                self._dicomweb.put(
                    self.name, authorized_definition(self.settings.dicomweb_definition, token)
                )
            except DicomWebApiError as error:
                self._record_sync_error_locked(f"cannot write the server definition: {error}")
                return
            first = self._written is None
            self._written = token
            self._writes += 1
            self._last_write = datetime.fromtimestamp(self._wall_clock(), UTC)
            recovered = self._sync_error is not None
            self._sync_error = None
            if drift is not None:
                self._restores += 1
        if first:
            self._logger.info("%s: DICOMweb server definition authorized", self.name)
        if drift is not None:
            self._logger.info(
                "%s: DICOMweb server definition was changed (%s); restored", self.name, drift
            )
        elif recovered:
            self._logger.info("%s: DICOMweb server definition written again", self.name)

    def _record_sync_error_locked(self, message: str) -> None:
        if message != self._sync_error:
            self._logger.error("%s: %s", self.name, message)
        self._sync_error = message
