"""Faults at the token endpoint, one after the other, against a token keeper on the real
HTTP stack: the cached token is served while valid, requests stay bounded, one log line
says what happened, and the keeper recovers on its own. The figures go to
docs/reliability.md."""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from local_rig.cloud_emulations import ASSERTION_CLIENT_ID, CloudEmulation
from orthanc_dicomweb_oauth.config.loader import load_configuration
from orthanc_dicomweb_oauth.errors import TokenUnavailableError
from orthanc_dicomweb_oauth.sources.access_token import AccessToken
from orthanc_dicomweb_oauth.tokens.keeper import KeeperState, TokenKeeper
from orthanc_dicomweb_oauth.tokens.server_tokens import create_server_tokens

from ..helpers import CLIENT_SECRET, Clock, make_jwt, self_signed_certificate, server_settings
from ..reliability_report import ReliabilityReport

LIFETIME = 2  # seconds: the refresh is due after 1 s
FAULT_SECONDS = 0.6  # the fault lasts less than the rest of the cached token's life
STEP = 0.02  # the keeper's clock moves this much between two calls
LOGGER = "orthanc_dicomweb_oauth"


def _json(body: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body), status=status, headers=headers, content_type="application/json"
    )


def _oauth_error(code: str, status: int) -> Callable[[Request], Response]:
    return lambda _: _json({"error": code, "error_description": f"emulated {code}"}, status)


def _slow(_: Request) -> Response:
    time.sleep(1.0)
    return _json({"access_token": "late", "expires_in": LIFETIME})


FAULTS: dict[str, Callable[[Request], Response] | None] = {
    "slow answer past the timeout (0.3 s)": _slow,
    "connection refused": None,  # the endpoint is stopped
    "HTTP 500": lambda _: Response("oops", status=500, content_type="text/plain"),
    "HTTP 502": lambda _: Response(
        "<html>bad gateway</html>", status=502, content_type="text/html"
    ),
    "HTTP 503": lambda _: Response(
        "<html>maintenance</html>", status=503, content_type="text/html"
    ),
    "HTTP 429, Retry-After: 1": lambda _: Response(
        "slow down", status=429, headers={"Retry-After": "1"}
    ),
    "HTML with status 200 (captive portal)": lambda _: Response(
        "<html>Log in to the guest network</html>", content_type="text/html"
    ),
    "truncated JSON": lambda _: Response(
        '{"access_token": "abc", "exp', content_type="application/json"
    ),
    "huge JSON (1 MiB)": lambda _: _json({"access_token": "x", "pad": "x" * 2**20}),
    "missing access_token": lambda _: _json({"token_type": "Bearer", "expires_in": 60}),
    "wrong token_type (mac)": lambda _: _json({"access_token": "x", "token_type": "mac"}),
    "expires_in 0": lambda _: _json({"access_token": "x", "expires_in": 0}),
    "expires_in negative": lambda _: _json({"access_token": "x", "expires_in": -60}),
    **{
        f"{code} (HTTP {status})": _oauth_error(code, status)
        for code, status in (
            ("invalid_request", 400),
            ("invalid_client", 401),
            ("invalid_grant", 400),
            ("unauthorized_client", 400),
            ("unsupported_grant_type", 400),
            ("invalid_scope", 400),
            ("temporarily_unavailable", 503),
            ("server_error", 500),
        )
    },
}
# Odd answers that still carry a usable token.
ACCEPTED: dict[str, tuple[dict[str, object], str]] = {
    "expires_in absurdly large (1e12)": ({"expires_in": 1e12}, "capped to 86400 s"),
    "expires_in non-numeric": ({"expires_in": "soon"}, "DefaultTokenLifetime"),
    "expires_in as a string": ({"expires_in": str(LIFETIME)}, "read as a number"),
}


class Endpoint:
    """A token endpoint that issues numbered tokens, or misbehaves as told."""

    def __init__(self) -> None:
        self.fault: Callable[[Request], Response] | None = None
        self.extra: dict[str, object] = {}
        self.requests = 0
        self.lock = threading.Lock()

    def __call__(self, request: Request) -> Response:
        with self.lock:
            self.requests += 1
            number = self.requests
            fault = self.fault
        if fault is not None:
            return fault(request)
        body = {
            "access_token": f"token-{number}",
            "token_type": "Bearer",
            "expires_in": LIFETIME,
            **self.extra,
        }
        return _json(body)


@dataclass
class Measure:
    outcome: str
    served_cached: bool
    longest_call: float
    requests: int
    recovered: bool
    recovery: float
    log_lines: int


@pytest.fixture(scope="module")
def endpoint_server() -> Iterator[tuple[HTTPServer, Endpoint]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = HTTPServer(host="127.0.0.1", port=port, threaded=True)
    endpoint = Endpoint()
    server.expect_request("/token").respond_with_handler(endpoint)
    server.start()
    yield server, endpoint
    if server.is_running():
        server.stop()


def _run_fault(
    server: HTTPServer, endpoint: Endpoint, name: str, caplog: pytest.LogCaptureFixture
) -> Measure:
    """The keeper runs on the test's clock, moved STEP per call: the token's life and the
    retry schedule move with the calls, not with this machine's speed. The HTTP stack and
    its timeouts are real."""
    settings = server_settings(
        server.url_for("/token"),
        TokenRequestTimeout=0.3,
        TokenRequestConnectTimeout=0.3,
        RetryInitialDelay=0.1,
        RetryMaxDelay=0.3,
        PermanentErrorRetryDelay=0.3,
    )
    clock = Clock()
    tokens = create_server_tokens(settings, clock=clock)
    keeper = tokens.keeper
    try:
        first = keeper.token()
        if FAULTS[name] is None:
            server.stop()
        clock.advance(keeper.seconds_until_due())
        caplog.clear()
        with endpoint.lock:
            before = endpoint.requests
            endpoint.fault = FAULTS[name]
        served: list[bool] = []
        longest = 0.0
        for _ in range(round(FAULT_SECONDS / STEP)):
            started = time.monotonic()
            served.append(keeper.token() is first)
            longest = max(longest, time.monotonic() - started)
            clock.advance(STEP)
        outcome = keeper.status().last_error or "no error"
        with endpoint.lock:
            endpoint.fault = None
            during = endpoint.requests - before
        if not server.is_running():
            server.start()
            during = keeper.status().failures  # refused requests never reached the server
        back_at = clock.now
        recovered = _recovered(keeper, first, clock)
        lines = [r for r in caplog.records if r.name == LOGGER]
        return Measure(
            outcome=outcome,
            served_cached=all(served),
            longest_call=longest,
            requests=during,
            recovered=recovered,
            recovery=clock.now - back_at,
            log_lines=sum(r.levelno >= logging.WARNING for r in lines),
        )
    finally:
        tokens.close()


def _recovered(keeper: TokenKeeper, first: AccessToken, clock: Clock, within: float = 3) -> bool:
    """Whether the keeper gets a new token on its own, within ``within`` seconds of its
    clock (a few of its retries), once the endpoint answers again."""
    for _ in range(round(within / STEP)):
        try:
            if keeper.token() is not first and keeper.status().state is KeeperState.VALID:
                return True
        except TokenUnavailableError:
            pass
        clock.advance(STEP)
    return False


def test_faults(
    endpoint_server: tuple[HTTPServer, Endpoint],
    caplog: pytest.LogCaptureFixture,
    reliability_report: ReliabilityReport,
) -> None:
    server, endpoint = endpoint_server
    section = reliability_report.section(
        "Faults at the token endpoint",
        f"A token keeper on the real HTTP stack, {LIFETIME} s tokens (refresh due after "
        f"1 s). Each fault starts when the refresh is due and lasts {FAULT_SECONDS} s, while "
        "a caller asks for the token every 20 ms; then the endpoint answers normally again. "
        "The keeper's clock is the test's, moved 20 ms per call, so that the token's life "
        "and the retries follow the calls whatever this machine's speed; the HTTP requests "
        "and their 0.3 s timeouts are real. Retries: 0.1 s doubling to 0.3 s (transient), "
        "0.3 s (permanent errors); the defaults are 1 s to 60 s and 300 s. *Requests*: token "
        "requests during the fault. *Longest call*: the longest a caller waited for a token, "
        "in real time (the caller that sends the request waits for its answer or timeout; "
        "in the plugin that caller is the server's own thread, never an image transfer). "
        "*Recovery*: from the fault's end to a new valid token, in the keeper's time (the "
        "wait for the next retry). *Log lines*: warnings and errors written during the "
        "fault.",
        (
            "Scenario",
            "Error reported",
            "Cached token served",
            "Longest call",
            "Requests",
            "Recovery",
            "Log lines",
        ),
    )
    caplog.set_level(logging.INFO, logger=LOGGER)
    for name in FAULTS:
        measure = _run_fault(server, endpoint, name, caplog)
        section.rows.append(
            (
                name,
                f"`{measure.outcome}`",
                "yes" if measure.served_cached else "NO",
                f"{measure.longest_call:.2f} s",
                str(measure.requests),
                f"{measure.recovery:.2f} s",
                str(measure.log_lines),
            )
        )
        assert measure.outcome != "no error", name
        assert CLIENT_SECRET not in measure.outcome
        assert measure.served_cached, name
        # No storm: the backoff allows about five requests in the fault's 0.6 s, and a
        # slower machine makes fewer.
        assert 1 <= measure.requests <= 8, (name, measure.requests)
        assert measure.recovered, name
        assert measure.log_lines == 1, (name, [r.getMessage() for r in caplog.records])
    for name, (extra, expected) in ACCEPTED.items():
        endpoint.extra = dict(extra)
        tokens = create_server_tokens(server_settings(server.url_for("/token")))
        try:
            token = tokens.keeper.token()
        finally:
            tokens.close()
            endpoint.extra = {}
        result = f"accepted: lifetime {token.lifetime:.0f} s from {token.lifetime_source}"
        notes = "; ".join(token.notes)
        section.rows.append(
            (
                name,
                result + (f"; {notes}" if notes else ""),
                "n/a",
                "n/a",
                "1",
                "n/a",
                str(len(token.notes)),
            )
        )
        assert expected in result + notes or (
            expected == "read as a number" and token.lifetime_source == "expires_in"
        )


def test_tls_failures(tmp_path: Path, reliability_report: ReliabilityReport) -> None:
    """A self-signed token endpoint: refused without its CA, used with it."""
    context, ca_file = self_signed_certificate(tmp_path)
    server = HTTPServer(host="127.0.0.1", ssl_context=context)
    server.expect_request("/token").respond_with_json(
        {"access_token": "tls-token", "token_type": "Bearer", "expires_in": 60}
    )
    server.start()
    section = reliability_report.section("Faults at the token endpoint", "", ())
    try:
        url = server.url_for("/token")
        untrusted = create_server_tokens(server_settings(url, PermanentErrorRetryDelay=0.3))
        trusted = create_server_tokens(
            server_settings(url, TokenEndpointCACertificates=str(ca_file))
        )
        try:
            with pytest.raises(TokenUnavailableError):
                untrusted.keeper.token()
            error = untrusted.keeper.status().last_error
            token = trusted.keeper.token()
        finally:
            untrusted.close()
            trusted.close()
    finally:
        server.stop()
    assert error is not None and "TLS certificate of the token endpoint not trusted" in error
    assert token.value == "tls-token"
    section.rows.append(
        ("TLS: self-signed certificate, CA not given", f"`{error}`", "n/a", "n/a", "1", "n/a", "1")
    )
    section.rows.append(
        (
            "TLS: self-signed certificate, its CA in TokenEndpointCACertificates",
            "accepted",
            "n/a",
            "n/a",
            "1",
            "n/a",
            "0",
        )
    )


@dataclass(frozen=True)
class CloudFault:
    """A server's keys, the emulated route that fails (or None: the fault is in the
    server's own files), how it fails, and the environment the identity needs."""

    server: Callable[[CloudEmulation], dict[str, object]]
    route: str | None
    status: int = 0
    app_service: bool = False
    header: str | None = None


def _assertion_server(cloud: CloudEmulation) -> dict[str, object]:
    return {
        "TokenEndpoint": cloud.assertion_token_endpoint,
        "ClientId": ASSERTION_CLIENT_ID,
        "ClientAssertionFile": str(cloud.assertion_file(make_jwt(lifetime=3600))),
    }


AZURE = {"AzureManagedIdentity": True, "Scope": "https://dicom.healthcareapis.azure.com/.default"}
CLOUD_FAULTS: dict[str, CloudFault] = {
    "Google metadata server: HTTP 503": CloudFault(
        lambda _: {"GoogleCredentials": "default"}, "/computeMetadata/v1/instance", 503
    ),
    "Azure IMDS: HTTP 429": CloudFault(lambda _: AZURE, "/metadata/identity", 429),
    "Azure IMDS: HTTP 410 (starting)": CloudFault(lambda _: AZURE, "/metadata/identity", 410),
    "Azure App Service: wrong identity header": CloudFault(
        lambda _: AZURE, None, app_service=True, header="a-wrong-identity-header"
    ),
    "Assertion file missing": CloudFault(_assertion_server, None),
}


def _break(cloud: CloudEmulation, fault: CloudFault, server: dict[str, object]) -> None:
    if fault.route is not None:
        cloud.faults[fault.route] = fault.status
    elif fault.header is not None:
        os.environ["IDENTITY_HEADER"] = fault.header  # the test's monkeypatch restores it
    else:
        Path(str(server["ClientAssertionFile"])).unlink()


def _mend(cloud: CloudEmulation, fault: CloudFault, server: dict[str, object]) -> None:
    cloud.faults.clear()
    if fault.header is not None:
        os.environ["IDENTITY_HEADER"] = cloud.identity_header
    if "ClientAssertionFile" in server:
        cloud.assertion_file(make_jwt(lifetime=3600))


def test_cloud_faults(
    cloud: CloudEmulation,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    reliability_report: ReliabilityReport,
) -> None:
    """Each identity's endpoint fails once its token is due for refresh, then answers
    again. The keeper runs on the test's clock, the libraries and their requests are
    real. google-auth retries the metadata server five times within one refresh (about
    15 s) before the keeper sees the failure."""
    section = reliability_report.section(
        "Faults at cloud identity endpoints",
        "A token keeper with the real google-auth and azure-identity, against loopback "
        "emulations of Google's metadata server, Azure's IMDS and App Service endpoints, "
        "and a token endpoint checking a federated assertion file (not the clouds "
        "themselves). 300 s tokens; each fault starts when the refresh is due; the keeper's "
        "clock is the test's. *Kind*: how the keeper retries (transient: backoff from 1 s; "
        "permanent: every `PermanentErrorRetryDelay`). *Recovery*: from the fault's end to a "
        "new valid token, in the keeper's time.",
        ("Scenario", "Error reported", "Kind", "Cached token served", "Recovery", "Log lines"),
    )
    caplog.set_level(logging.INFO, logger=LOGGER)
    for name, fault in CLOUD_FAULTS.items():
        if fault.app_service:
            for variable, value in cloud.app_service_environment().items():
                monkeypatch.setenv(variable, value)
        server = fault.server(cloud)
        loaded = load_configuration(
            {"DicomWebOAuth": {"Servers": {"s": {"Url": "https://d/", **server}}}}, environ={}
        )
        assert loaded.problems == (), name
        clock = Clock()
        tokens = create_server_tokens(loaded.servers["s"], clock=clock)
        try:
            first = tokens.keeper.token()
            clock.advance(tokens.keeper.seconds_until_due())
            caplog.clear()
            _break(cloud, fault, server)
            served = tokens.keeper.token() is first
            error = tokens.keeper.status().last_error or "no error"
            transient = tokens.keeper.status().next_request_in or 0.0
            lines = sum(r.levelno >= logging.WARNING for r in caplog.records if r.name == LOGGER)
            _mend(cloud, fault, server)
            back_at = clock.now
            recovered = _recovered(tokens.keeper, first, clock, within=400)
            recovery = clock.now - back_at
        finally:
            tokens.close()
            monkeypatch.delenv("IDENTITY_ENDPOINT", raising=False)
            monkeypatch.delenv("IDENTITY_HEADER", raising=False)
        kind = "transient" if transient < 60 else "permanent"
        # The emulation's folder and port change every run: placeholders keep the report
        # stable.
        shown = error.replace(str(cloud.root), "<test folder>").replace(cloud.host, "<emulation>")
        section.rows.append(
            (name, f"`{shown}`", kind, "yes" if served else "NO", f"{recovery:.1f} s", str(lines))
        )
        assert served, name
        assert error != "no error", name
        assert cloud.identity_header not in error
        assert kind == ("permanent" if fault.route is None else "transient"), (name, error)
        assert recovered, name
        assert lines == 1, (name, [r.getMessage() for r in caplog.records])
