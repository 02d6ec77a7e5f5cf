"""The token keeper on a real token endpoint over loopback: single flight under load,
an outage with the cached token served, recovery."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from orthanc_dicomweb_oauth.errors import TokenUnavailableError
from orthanc_dicomweb_oauth.sources.access_token import AccessToken
from orthanc_dicomweb_oauth.tokens.keeper import MIN_REQUEST_INTERVAL, KeeperState
from orthanc_dicomweb_oauth.tokens.server_tokens import create_server_tokens

from ..helpers import CLIENT_SECRET, Clock, server_settings

THREADS = 64


class CountingEndpoint:
    """Issues numbered tokens of a given lifetime, slowly enough that callers overlap."""

    def __init__(self, lifetime: float, delay: float = 0.2) -> None:
        self.lifetime = lifetime
        self.delay = delay
        self.requests = 0
        self._lock = threading.Lock()

    def __call__(self, _: Request) -> Response:
        with self._lock:
            self.requests += 1
            number = self.requests
        time.sleep(self.delay)
        body = {
            "access_token": f"token-{number}",
            "token_type": "Bearer",
            "expires_in": self.lifetime,
        }
        return Response(json.dumps(body), content_type="application/json")


def call_together(function: object, count: int) -> list[object]:
    barrier = threading.Barrier(count)
    results: list[object] = []
    lock = threading.Lock()

    def run() -> None:
        barrier.wait()
        try:
            outcome: object = function()  # type: ignore[operator]
        except Exception as error:
            outcome = error
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


def test_64_threads_at_expiry_send_exactly_one_request(token_server: HTTPServer) -> None:
    """The keeper's clock is the test's: however slowly the threads run, the token's life
    moves only when the test moves it."""
    endpoint = CountingEndpoint(lifetime=300)
    token_server.expect_request("/token").respond_with_handler(endpoint)
    clock = Clock()
    tokens = create_server_tokens(server_settings(token_server.url_for("/token")), clock=clock)
    keeper = tokens.keeper
    try:
        first = call_together(keeper.token, THREADS)
        assert endpoint.requests == 1
        assert {token.value for token in first if isinstance(token, AccessToken)} == {"token-1"}
        assert len(first) == THREADS

        # Past the refresh point, all threads again: one request, the others keep the
        # still valid token meanwhile.
        clock.advance(keeper.seconds_until_due())
        second = call_together(keeper.token, THREADS)
        assert endpoint.requests == 2
        assert all(isinstance(token, AccessToken) for token in second)
        assert {token.value for token in second if isinstance(token, AccessToken)} <= {
            "token-1",
            "token-2",
        }

        # Past expiry: no valid token left, everyone waits for the one request.
        clock.advance(300)
        third = call_together(keeper.token, THREADS)
        assert endpoint.requests == 3
        assert {token.value for token in third if isinstance(token, AccessToken)} == {"token-3"}
        assert keeper.status().token_requests == 3
    finally:
        tokens.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_outage_serves_the_cached_token_then_recovers(caplog: pytest.LogCaptureFixture) -> None:
    port = _free_port()
    endpoint = CountingEndpoint(lifetime=300, delay=0)
    provider = HTTPServer(host="127.0.0.1", port=port)
    provider.expect_request("/token").respond_with_handler(endpoint)
    provider.start()
    clock = Clock()
    tokens = create_server_tokens(server_settings(f"http://127.0.0.1:{port}/token"), clock=clock)
    keeper = tokens.keeper
    try:
        with caplog.at_level(logging.INFO, logger="orthanc_dicomweb_oauth"):
            cached = keeper.token()
            provider.stop()  # the provider goes away: connection refused
            clock.advance(keeper.seconds_until_due())
            served = [keeper.token() for _ in range(20)]
            assert all(token is cached for token in served)
            assert keeper.status().state is KeeperState.DEGRADED
            clock.advance(keeper.status().expires_in or 0.0)
            with pytest.raises(TokenUnavailableError, match="cannot reach the token endpoint"):
                keeper.token()
            assert keeper.status().state is KeeperState.FAILED

            provider.start()  # back
            clock.advance(keeper.seconds_until_due())  # the next retry is due
            recovered = keeper.token()
        assert recovered.value == "token-2"
        status = keeper.status()
        assert status.state is KeeperState.VALID
        assert status.failures >= 1
        logged = [r.getMessage() for r in caplog.records if r.name == "orthanc_dicomweb_oauth"]
        assert any("still serving the cached token" in line for line in logged)
        assert any("no valid token" in line for line in logged)
        assert any("recovered after" in line for line in logged)
        # One line per state change, not one per retry.
        assert len(logged) == 4
        assert all(CLIENT_SECRET not in line and "token-" not in line for line in logged)
    finally:
        tokens.close()
        if provider.is_running():
            provider.stop()


def test_no_secret_or_token_in_any_log_record_status_or_repr(
    token_server: HTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Every logger at DEBUG (Authlib, httpx2, httpcore2, this package) over successes
    and failures, with both client authentication methods."""
    issued: list[str] = []

    def handler(request: Request) -> Response:
        if len(issued) % 2:
            error = {"error": "invalid_client", "error_description": request.get_data(as_text=True)}
            issued.append("error")
            return Response(json.dumps(error), status=401, content_type="application/json")
        value = f"distinctive-access-token-{len(issued)}"
        issued.append(value)
        body = {"access_token": value, "token_type": "Bearer", "expires_in": 60}
        return Response(json.dumps(body), content_type="application/json")

    token_server.expect_request("/token").respond_with_handler(handler)
    seen: list[str] = []
    with caplog.at_level(logging.DEBUG):
        for method in ("client_secret_post", "client_secret_basic"):
            clock = Clock()
            tokens = create_server_tokens(
                server_settings(token_server.url_for("/token"), ClientAuthMethod=method),
                clock=clock,
            )
            try:
                for _ in range(2):
                    try:
                        tokens.keeper.refresh()
                    except Exception as error:
                        seen.extend([str(error), repr(error)])
                    clock.advance(MIN_REQUEST_INTERVAL)
                    seen.extend([repr(tokens.keeper.status()), repr(tokens.keeper.token())])
            finally:
                tokens.close()
    seen.extend(record.getMessage() for record in caplog.records)
    seen.extend(str(record.args) for record in caplog.records)
    assert len(caplog.records) > 4
    tokens_issued = [value for value in issued if value != "error"]
    assert len(tokens_issued) == 2
    for text in seen:
        assert CLIENT_SECRET not in text
        for value in tokens_issued:
            assert value not in text
