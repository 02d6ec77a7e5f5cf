"""The token keeper with a scripted token source and a manual clock."""

from __future__ import annotations

import contextlib
import itertools
import logging
import random
import threading
from collections.abc import Callable

import pytest

from orthanc_dicomweb_oauth.config.settings import RefreshSettings
from orthanc_dicomweb_oauth.errors import (
    RefreshRefusedError,
    TokenRequestError,
    TokenUnavailableError,
)
from orthanc_dicomweb_oauth.sources.access_token import AccessToken
from orthanc_dicomweb_oauth.tokens.keeper import (
    MIN_REQUEST_INTERVAL,
    KeeperState,
    TokenKeeper,
)
from orthanc_dicomweb_oauth.tokens.schedule import Schedule

from ..helpers import Clock, ScriptedSource

SETTINGS = RefreshSettings(
    margin_ratio=0.25,
    minimum_margin=30,
    retry_initial_delay=1,
    retry_max_delay=60,
    retry_max_delay_without_token=10,
    permanent_error_retry_delay=300,
)
TRANSIENT = TokenRequestError("cannot reach the token endpoint: refused", transient=True)
PERMANENT = TokenRequestError("invalid_client: bad secret (HTTP 401)", transient=False)


def keeper_for(
    source: Callable[[], AccessToken], clock: Clock, logger: logging.Logger | None = None
) -> TokenKeeper:
    return TokenKeeper(
        "remote",
        source,
        Schedule(SETTINGS, random.Random(7)),
        wait_timeout=5,
        clock=clock,
        wall_clock=lambda: 1_800_000_000.0,
        logger=logger or logging.getLogger("test.keeper"),
    )


def test_first_call_fetches_then_serves_from_cache() -> None:
    clock, source = Clock(), ScriptedSource(300)
    keeper = keeper_for(source, clock)
    assert keeper.status().state is KeeperState.PENDING
    first = keeper.token()
    clock.advance(100)
    assert keeper.token() is first
    assert source.requests == 1
    status = keeper.status()
    assert status.state is KeeperState.VALID
    assert status.expires_in == pytest.approx(200)
    assert (status.token_requests, status.refreshes, status.failures) == (1, 1, 0)


@pytest.mark.parametrize(
    ("lifetime", "earliest", "latest"),
    [
        (300, 300 - 75 * 1.1, 300 - 75),  # Keycloak: 25 % margin
        (86_400, 86_400 - 21_600 * 1.1, 86_400 - 21_600),  # Auth0: 6 h before expiry
        (60, 30 - 3, 30),  # minimum margin 30 s, capped at half the lifetime
        (5, 2.5 - 0.25, 2.5),
    ],
)
def test_refresh_margin_is_proportional(lifetime: float, earliest: float, latest: float) -> None:
    clock, source = Clock(), ScriptedSource(lifetime)
    keeper = keeper_for(source, clock)
    keeper.token()
    due = keeper.seconds_until_due()
    assert earliest <= due <= latest


def test_refreshes_when_due() -> None:
    clock, source = Clock(), ScriptedSource(300)
    keeper = keeper_for(source, clock)
    first = keeper.token()
    clock.advance(keeper.seconds_until_due() + 0.01)
    second = keeper.token()
    assert second is not first
    assert source.requests == 2


def test_failed_refresh_keeps_serving_the_valid_token_then_fails_after_expiry() -> None:
    clock, source = Clock(), ScriptedSource(300, TRANSIENT)
    keeper = keeper_for(source, clock)
    first = keeper.token()
    clock.advance(250)
    assert keeper.token() is first  # refresh failed, cached token still valid
    assert keeper.status().state is KeeperState.DEGRADED
    assert keeper.status().last_error == str(TRANSIENT)
    clock.advance(51)
    with pytest.raises(TokenUnavailableError, match="cannot reach the token endpoint"):
        keeper.token()
    assert keeper.status().state is KeeperState.FAILED


def test_backoff_bounds_the_requests_during_an_outage() -> None:
    clock, source = Clock(), ScriptedSource(TRANSIENT)
    keeper = keeper_for(source, clock)
    for _ in range(600):  # ten minutes of callers, one every second
        with pytest.raises(TokenUnavailableError):
            keeper.token()
        clock.advance(1)
    # No token at all: 1, 2, 4, 8, then every 5 to 10 s (RetryMaxDelayWithoutToken, equal
    # jitter: at least half of it).
    assert 60 <= source.requests <= 125
    assert keeper.status().consecutive_failures == source.requests


def test_back_soon_after_an_outage_that_outlives_the_token() -> None:
    """10 s tokens, a 40 s outage from the first refresh: while the cached token is valid,
    the retries come before it expires; once it has expired, never more than 10 s apart,
    yet no storm; and a token within 10 s of the provider's return. The keeper is driven as
    the server's worker drives it: whenever it says it is due."""
    clock = Clock()
    requests: list[float] = []
    outage: tuple[float, float] = (0.0, 0.0)

    def source() -> AccessToken:
        requests.append(clock.now)
        if outage[0] <= clock.now < outage[1]:
            raise TRANSIENT
        return AccessToken(f"token-{len(requests)}", 10, "expires_in")

    keeper = keeper_for(source, clock)
    keeper.token()
    expires = clock.now + 10
    clock.advance(keeper.seconds_until_due())
    outage = (clock.now, clock.now + 40)
    recovered_at = None
    while recovered_at is None:
        try:
            keeper.token()
            if clock.now >= outage[1]:
                recovered_at = clock.now
        except TokenUnavailableError:
            pass
        clock.advance(max(keeper.seconds_until_due(), 0.05))
    during = [moment for moment in requests if outage[0] <= moment < outage[1]]
    after_expiry = [moment for moment in requests if moment >= expires]
    gaps = [later - earlier for earlier, later in itertools.pairwise(after_expiry)]
    assert max(gaps) <= 10
    assert len(during) <= 40 / 2
    assert recovered_at - outage[1] <= 10
    assert keeper.status().state is KeeperState.VALID


def test_permanent_errors_are_retried_slowly() -> None:
    clock, source = Clock(), ScriptedSource(PERMANENT)
    keeper = keeper_for(source, clock)
    for _ in range(600):
        with pytest.raises(TokenUnavailableError, match="invalid_client"):
            keeper.token()
        clock.advance(1)
    assert source.requests in (2, 3)  # every 300 s ± 10 %


def test_retry_after_is_honoured() -> None:
    clock = Clock()
    limited = TokenRequestError("HTTP 429", transient=True, retry_after=120)
    source = ScriptedSource(limited, 300)
    keeper = keeper_for(source, clock)
    with pytest.raises(TokenUnavailableError):
        keeper.token()
    assert keeper.seconds_until_due() == pytest.approx(120)


def test_retries_come_before_the_cached_token_expires() -> None:
    clock, source = Clock(), ScriptedSource(300, TRANSIENT)
    keeper = keeper_for(source, clock)
    keeper.token()
    clock.advance(290)  # 10 s of validity left
    keeper.token()
    assert keeper.seconds_until_due() <= 5


def test_recovery_after_an_outage() -> None:
    clock, source = Clock(), ScriptedSource(300, TRANSIENT, TRANSIENT, 300)
    keeper = keeper_for(source, clock)
    keeper.token()
    for _ in range(3):
        clock.advance(max(keeper.seconds_until_due(), 0) + 0.01)
        keeper.token()
    status = keeper.status()
    assert status.state is KeeperState.VALID
    assert (status.token_requests, status.refreshes, status.failures) == (4, 2, 2)
    assert status.last_error is None


def test_forced_refresh_ignores_the_schedule_and_reports_errors() -> None:
    clock, source = Clock(), ScriptedSource(300, 300, PERMANENT)
    keeper = keeper_for(source, clock)
    first = keeper.token()
    clock.advance(MIN_REQUEST_INTERVAL)
    assert keeper.refresh() is not first
    clock.advance(MIN_REQUEST_INTERVAL)
    with pytest.raises(TokenRequestError, match="invalid_client"):
        keeper.refresh()
    assert source.requests == 3


def test_forced_refreshes_keep_their_spacing_however_many_are_asked() -> None:
    clock, source = Clock(), ScriptedSource(300)
    keeper = keeper_for(source, clock)
    keeper.token()
    with pytest.raises(RefreshRefusedError):  # any request is a second from the next
        keeper.refresh(spacing=5)
    clock.advance(MIN_REQUEST_INTERVAL)
    keeper.refresh(spacing=5)
    assert source.requests == 2
    for _ in range(200):
        clock.advance(0.01)
        with pytest.raises(RefreshRefusedError) as refused:
            keeper.refresh(spacing=5)
        assert refused.value.recent
        assert 0 < refused.value.retry_after <= 5
    assert source.requests == 2
    clock.advance(5)
    keeper.refresh(spacing=5)
    assert source.requests == 3


def test_scheduled_refreshes_do_not_hold_back_a_forced_one() -> None:
    """Short tokens refreshed every few seconds: a forced refresh is spaced from the last
    forced one, and from any request by a second only."""
    clock, source = Clock(), ScriptedSource(4)
    keeper = keeper_for(source, clock)
    keeper.token()
    clock.advance(2.5)
    keeper.token()  # scheduled
    clock.advance(MIN_REQUEST_INTERVAL)
    keeper.refresh(spacing=5)
    assert source.requests == 3


def test_no_forced_refresh_while_waiting_after_a_permanent_error() -> None:
    """Until a credential file changes (``request_now``): the provider refused the client,
    asking again changes nothing but its load."""
    clock, source = Clock(), ScriptedSource(PERMANENT, 300)
    keeper = keeper_for(source, clock)
    with pytest.raises(TokenUnavailableError):
        keeper.token()
    clock.advance(60)
    with pytest.raises(RefreshRefusedError, match="needs an administrator") as refused:
        keeper.refresh()
    assert not refused.value.recent
    assert refused.value.retry_after > 200
    assert source.requests == 1
    keeper.request_now()
    keeper.refresh()
    assert source.requests == 2


@pytest.mark.parametrize("lifetime", [0.001, 0.5])
def test_at_most_one_request_a_second_whatever_the_lifetime(lifetime: float) -> None:
    """A provider handing out tokens of a millisecond (the source lets such a lifetime
    through here) gets one request a second, not one per caller."""
    clock, source = Clock(), ScriptedSource(lifetime)
    keeper = keeper_for(source, clock)
    keeper.token()
    for _ in range(9):
        clock.advance(0.1)
        with contextlib.suppress(TokenUnavailableError):
            keeper.token()
    assert source.requests == 1
    clock.advance(0.2)
    with contextlib.suppress(TokenUnavailableError):
        keeper.token()
    assert source.requests == 2


def test_each_distinct_error_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    other = TokenRequestError("HTTP 503 (text/html)", transient=True)
    source = ScriptedSource(300, TRANSIENT, TRANSIENT, TRANSIENT, other, other, 300)
    keeper = keeper_for(source, clock)
    with caplog.at_level(logging.DEBUG, logger="test.keeper"):
        keeper.token()
        while source.requests < 7:
            clock.advance(max(keeper.seconds_until_due(), 0) + 0.01)
            keeper.token()
    messages = [record.getMessage() for record in caplog.records]
    assert messages[0] == "remote: token acquired (valid for 300 s, from expires_in)"
    assert sum("refused" in message for message in messages) == 1
    assert sum("HTTP 503" in message for message in messages) == 1
    assert messages[-1].startswith("remote: token endpoint recovered after 5 failed request(s)")
    assert len(messages) == 4


def test_notes_are_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()

    def source() -> AccessToken:
        return AccessToken("opaque", 300, "default", notes=("assuming 300 s",))

    keeper = keeper_for(source, clock)
    with caplog.at_level(logging.INFO, logger="test.keeper"):
        for _ in range(3):
            keeper.refresh()
            clock.advance(MIN_REQUEST_INTERVAL)
    assert [r.getMessage() for r in caplog.records].count("remote: assuming 300 s") == 1


def test_a_defect_in_the_source_does_not_wedge_the_keeper() -> None:
    clock = Clock()
    calls = 0

    def broken() -> AccessToken:
        nonlocal calls
        calls += 1
        raise KeyError("boom")

    keeper = keeper_for(broken, clock)
    with pytest.raises(TokenUnavailableError, match="internal error"):
        keeper.token()
    with pytest.raises(TokenUnavailableError):
        keeper.token()
    assert calls == 1  # retried later, not in a loop


def test_waiters_share_one_request_and_its_failure() -> None:
    clock = Clock()
    release = threading.Event()
    requests = 0

    def slow_failure() -> AccessToken:
        nonlocal requests
        requests += 1
        release.wait(5)
        raise TRANSIENT

    keeper = keeper_for(slow_failure, clock)
    outcomes: list[BaseException | AccessToken] = []

    def caller() -> None:
        try:
            outcomes.append(keeper.token())
        except (TokenUnavailableError, TokenRequestError) as error:
            outcomes.append(error)

    threads = [threading.Thread(target=caller) for _ in range(16)]
    for thread in threads:
        thread.start()
    while requests == 0:
        threading.Event().wait(0.01)
    release.set()
    for thread in threads:
        thread.join(5)
    assert requests == 1
    assert len(outcomes) == 16
    assert all(isinstance(outcome, TokenUnavailableError) for outcome in outcomes)


def test_waiting_is_bounded() -> None:
    release = threading.Event()

    def hanging() -> AccessToken:
        release.wait(5)
        return AccessToken("late", 300, "expires_in")

    keeper = TokenKeeper("remote", hanging, Schedule(SETTINGS, random.Random(1)), wait_timeout=0.2)
    first = threading.Thread(target=keeper.token)
    first.start()
    while not keeper._in_flight:
        threading.Event().wait(0.01)
    with pytest.raises(TokenUnavailableError, match=r"within 0\.2 s"):
        keeper.token()
    release.set()
    first.join(5)


def test_status_never_shows_the_token() -> None:
    clock, source = Clock(), ScriptedSource(300)
    keeper = keeper_for(source, clock)
    token = keeper.token()
    assert token.value not in repr(keeper.status())
    assert token.value not in repr(token)
    assert token.value not in str(token)


def test_expiry_during_an_outage_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    source = ScriptedSource(300, PERMANENT)
    keeper = keeper_for(source, clock)
    with caplog.at_level(logging.INFO, logger="test.keeper"):
        keeper.token()
        clock.advance(250)
        keeper.token()  # fails, serves the cached token; next attempt in ~300 s
        clock.advance(keeper.seconds_until_due() + 0.01)  # wakes at expiry, not at retry
        for _ in range(3):
            with pytest.raises(TokenUnavailableError):
                keeper.token()
    messages = [record.getMessage() for record in caplog.records]
    assert source.requests == 2
    assert sum("the cached token expired" in message for message in messages) == 1
    assert keeper.status().state is KeeperState.FAILED
