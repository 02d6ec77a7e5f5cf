"""Keeps one server's token: cached in memory, refreshed before it expires, one request
at a time, and served while still valid when the provider fails.

Scheduling uses a monotonic clock. ``token()`` answers from the cache without taking a
lock while no refresh is due; when one is due, exactly one caller sends the request and
the others either keep using the still valid token or wait (bounded) for the answer.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from ..errors import (
    RefreshRefusedError,
    TokenRequestCancelledError,
    TokenRequestError,
    TokenUnavailableError,
)
from ..logs import LOGGER
from ..redaction import sanitize_external_text
from ..sources.access_token import AccessToken, LifetimeSource
from .schedule import Schedule

# Whatever the provider answers (a lifetime of a millisecond, no wait asked), and whoever
# asks, a server's token requests are at least this far apart.
MIN_REQUEST_INTERVAL = 1.0


class KeeperState(StrEnum):
    PENDING = "Pending"  # no request has completed yet
    VALID = "Valid"  # a valid token, the last request succeeded
    DEGRADED = "Degraded"  # the last request failed, the cached token is still valid
    FAILED = "Failed"  # the last request failed and no valid token is left
    EXPIRED = "Expired"  # the token expired and no request was made since


@dataclass(frozen=True)
class KeeperStatus:
    state: KeeperState
    expires_in: float | None
    lifetime: float | None
    lifetime_source: LifetimeSource | None
    last_refresh: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    next_request_in: float | None
    token_requests: int
    refreshes: int
    failures: int
    consecutive_failures: int


@dataclass(frozen=True)
class _CachedToken:
    token: AccessToken
    refresh_at: float
    expires_at: float


class TokenKeeper:
    def __init__(
        self,
        server: str,
        fetch: Callable[[], AccessToken],
        schedule: Schedule,
        *,
        wait_timeout: float,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        logger: logging.Logger = LOGGER,
        redact: Callable[[str], str] = lambda text: text,
    ) -> None:
        """``redact`` removes the source's secrets from an unexpected error's message."""
        self._server = server
        self._fetch = fetch
        self._redact = redact
        self._schedule = schedule
        self._wait_timeout = wait_timeout
        self._clock = clock
        self._wall_clock = wall_clock
        self._logger = logger
        self._condition = threading.Condition(threading.Lock())
        self._cached: _CachedToken | None = None
        self._in_flight = False
        self._next_request_at = float("-inf")
        self._last_request_started: float | None = None
        self._last_forced_started: float | None = None
        self._last_error: TokenRequestError | None = None
        self._last_error_at: float | None = None
        self._last_refresh_at: float | None = None
        # What the log last said: a line is written only when this changes.
        self._logged_state = KeeperState.PENDING
        self._logged_error: str | None = None
        self._logged_notes: set[str] = set()
        self._requests = 0
        self._refreshes = 0
        self._failures = 0
        self._consecutive_failures = 0

    def token(self) -> AccessToken:
        """A valid token: the cached one, or a new one when a refresh is due.
        Raises TokenUnavailableError when none can be had now."""
        cached = self._cached
        if cached is not None and self._clock() < cached.refresh_at:
            return cached.token
        return self._acquire(force=False, spacing=0.0)

    def refresh(self, spacing: float = MIN_REQUEST_INTERVAL) -> AccessToken:
        """A new token now, whatever the schedule (an administrator's request, a token the
        server refused). Joins a request already in flight. Raises TokenRequestError when
        the request fails, and RefreshRefusedError, without a request, when another
        refresh was asked for less than ``spacing`` seconds ago, any request less than
        MIN_REQUEST_INTERVAL ago, or the keeper waits after a refusal that needs an
        administrator (until ``request_now``) or as long as the provider asked."""
        return self._acquire(force=True, spacing=spacing)

    def cached_token(self) -> AccessToken | None:
        """The cached token while it is valid; never a request."""
        with self._condition:
            return self._valid_token(self._clock())

    def request_now(self) -> None:
        """Makes the next ``token()`` request a token, whatever the schedule: after a
        credential changed, even a long wait after a permanent error ends."""
        with self._condition:
            now = self._clock()
            self._next_request_at = now
            cached = self._cached
            if cached is not None and cached.refresh_at > now:
                self._cached = _CachedToken(cached.token, now, cached.expires_at)

    def seconds_until_due(self) -> float:
        """Seconds until the keeper wants attention: its next request (a refresh or a
        retry), or the expiry of the cached token, when that comes first."""
        with self._condition:
            now = self._clock()
            due = self._next_request_at
            cached = self._cached
            if cached is not None and now < cached.expires_at:
                due = min(due, cached.expires_at)
            return max(0.0, due - now)

    def status(self) -> KeeperStatus:
        with self._condition:
            now = self._clock()
            cached = self._cached
            return KeeperStatus(
                state=self._state(now),
                expires_in=None if cached is None else max(0.0, cached.expires_at - now),
                lifetime=None if cached is None else cached.token.lifetime,
                lifetime_source=None if cached is None else cached.token.lifetime_source,
                last_refresh=self._wall_time(self._last_refresh_at, now),
                last_error=None if self._last_error is None else str(self._last_error),
                last_error_at=self._wall_time(self._last_error_at, now),
                next_request_in=(
                    None
                    if self._next_request_at == float("-inf")
                    else max(0.0, self._next_request_at - now)
                ),
                token_requests=self._requests,
                refreshes=self._refreshes,
                failures=self._failures,
                consecutive_failures=self._consecutive_failures,
            )

    def _acquire(self, *, force: bool, spacing: float) -> AccessToken:
        with self._condition:
            completed_before = self._requests
            deadline = self._clock() + self._wait_timeout
            while self._in_flight:
                valid = self._valid_token(self._clock())
                if valid is not None and not force:
                    return valid
                remaining = deadline - self._clock()
                if remaining <= 0:
                    raise TokenUnavailableError(
                        f"{self._server}: no answer from the token endpoint within "
                        f"{self._wait_timeout:g} s"
                    )
                self._condition.wait(remaining)
            if self._requests > completed_before:
                return self._outcome_for_waiter(force)
            now = self._clock()
            if force:
                self._check_forced(now, spacing)
                self._last_forced_started = now
            elif now < self._next_request_at:
                return self._serve_cached(now)
            self._in_flight = True
            self._last_request_started = now
        try:
            return self._request()
        except TokenRequestError:
            if force:
                raise
            with self._condition:
                return self._serve_cached(self._clock())

    def _check_forced(self, now: float, spacing: float) -> None:
        """Raises RefreshRefusedError, the longer wait first: after a refusal that needs an
        administrator, or as long as the provider asked; then the spacing of requests."""
        error = self._last_error
        waiting = self._next_request_at - now
        if error is not None and waiting > 0 and (not error.transient or error.retry_after):
            why = (
                "after a refusal that needs an administrator, until the configuration or a "
                "credential file changes"
                if not error.transient
                else "as long as the provider asked (Retry-After)"
            )
            raise RefreshRefusedError(
                f"{self._server}: waiting {why}: {error}; next request in {waiting:.0f} s",
                retry_after=waiting,
                recent=False,
            )
        for last, least in (
            (self._last_forced_started, spacing),
            (self._last_request_started, MIN_REQUEST_INTERVAL),
        ):
            if last is not None and now - last < least:
                raise RefreshRefusedError(
                    f"{self._server}: a token was asked for {now - last:.1f} s ago; at most "
                    f"one request every {least:g} s is made on demand",
                    retry_after=least - (now - last),
                    recent=True,
                )

    def _outcome_for_waiter(self, force: bool) -> AccessToken:
        """The result of the request another caller made while this one waited."""
        now = self._clock()
        if self._last_error is None or not force:
            return self._serve_cached(now)
        raise self._last_error

    def _serve_cached(self, now: float) -> AccessToken:
        valid = self._valid_token(now)
        if valid is not None:
            return valid
        reason = str(self._last_error) if self._last_error else "the token expired"
        wait = max(0.0, self._next_request_at - now)
        state = self._state(now)
        if state != self._logged_state:
            # The cached token expired during an outage: a state change with no request.
            self._logged_state = state
            self._logger.error(
                "%s: no valid token: the cached token expired (%s); next attempt in %.0f s",
                self._server,
                reason,
                wait,
            )
        raise TokenUnavailableError(
            f"{self._server}: no valid token ({reason}); next request in {wait:.0f} s"
        )

    def _request(self) -> AccessToken:
        started = self._clock()
        try:
            token = self._fetch()
        except TokenRequestError as error:
            self._record_failure(error)
            raise
        except TokenRequestCancelledError:
            with self._condition:  # stopping: neither a failure nor worth a log line
                self._in_flight = False
                self._condition.notify_all()
            raise TokenUnavailableError(f"{self._server}: stopped") from None
        except Exception as error:
            # A defect must not leave the keeper "in flight" forever, nor retry in a loop.
            said = sanitize_external_text(self._redact(str(error)), ())
            failure = TokenRequestError(
                f"internal error while requesting a token ({type(error).__name__}: {said})",
                transient=False,
            )
            self._record_failure(failure)
            raise failure from None
        self._record_success(token, started)
        return token

    def _record_success(self, token: AccessToken, started: float) -> None:
        with self._condition:
            now = self._clock()
            previous_state = self._logged_state
            failures_before = self._consecutive_failures
            self._cached = _CachedToken(
                token=token,
                refresh_at=started + self._schedule.refresh_after(token.lifetime),
                expires_at=started + token.lifetime,
            )
            self._next_request_at = max(self._cached.refresh_at, started + MIN_REQUEST_INTERVAL)
            self._requests += 1
            self._refreshes += 1
            self._consecutive_failures = 0
            self._last_error = None
            self._logged_error = None
            self._logged_state = KeeperState.VALID
            self._last_refresh_at = now
            self._in_flight = False
            new_notes = [note for note in token.notes if note not in self._logged_notes]
            self._logged_notes.update(new_notes)
            self._condition.notify_all()
        lifetime = f"valid for {token.lifetime:.0f} s, from {token.lifetime_source}"
        if previous_state in (KeeperState.PENDING, KeeperState.EXPIRED):
            self._logger.info("%s: token acquired (%s)", self._server, lifetime)
        elif failures_before:
            self._logger.info(
                "%s: token endpoint recovered after %d failed request(s) (%s)",
                self._server,
                failures_before,
                lifetime,
            )
        else:
            self._logger.debug("%s: token refreshed (%s)", self._server, lifetime)
        for note in new_notes:
            self._logger.info("%s: %s", self._server, note)

    def _record_failure(self, error: TokenRequestError) -> None:
        with self._condition:
            now = self._clock()
            self._requests += 1
            self._failures += 1
            self._consecutive_failures += 1
            self._last_error = error
            self._last_error_at = now
            valid = self._valid_token(now)
            valid_for = (
                None if self._cached is None or valid is None else (self._cached.expires_at - now)
            )
            delay = self._schedule.retry_after(error, self._consecutive_failures, valid_for)
            started = self._last_request_started
            self._next_request_at = max(
                now + delay, (now if started is None else started) + MIN_REQUEST_INTERVAL
            )
            delay = self._next_request_at - now
            self._in_flight = False
            state = self._state(now)
            message = str(error)
            should_log = state != self._logged_state or message != self._logged_error
            self._logged_state = state
            self._logged_error = message
            self._condition.notify_all()
        if not should_log:
            return
        if state is KeeperState.DEGRADED and valid_for is not None:
            self._logger.warning(
                "%s: token request failed, still serving the cached token (valid for %.0f s): "
                "%s; next attempt in %.0f s",
                self._server,
                valid_for,
                message,
                delay,
            )
        else:
            self._logger.error(
                "%s: no valid token: %s; next attempt in %.0f s", self._server, message, delay
            )

    def _valid_token(self, now: float) -> AccessToken | None:
        cached = self._cached
        return cached.token if cached is not None and now < cached.expires_at else None

    def _state(self, now: float) -> KeeperState:
        valid = self._valid_token(now) is not None
        if self._last_error is not None:
            return KeeperState.DEGRADED if valid else KeeperState.FAILED
        if valid:
            return KeeperState.VALID
        return KeeperState.EXPIRED if self._cached is not None else KeeperState.PENDING

    def _wall_time(self, monotonic: float | None, now: float) -> datetime | None:
        if monotonic is None:
            return None
        return datetime.fromtimestamp(self._wall_clock() - (now - monotonic), UTC)
