"""The service, its workers and its REST API without Orthanc: a real token endpoint on
loopback, and an in-memory stand-in for the DICOMweb plugin's server list."""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Iterator
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from orthanc_dicomweb_oauth.config.loader import load_configuration
from orthanc_dicomweb_oauth.dicomweb.service import (
    MAX_START_SPREAD,
    START_SPREAD_PER_SERVER,
    OAuthService,
    start_delays,
)
from orthanc_dicomweb_oauth.errors import QidoError
from orthanc_dicomweb_oauth.orthanc.rest_api import handle, handle_ready
from orthanc_dicomweb_oauth.tokens import keeper

from ..helpers import CLIENT_SECRET, FakeDicomWeb, FakeJobs, server_section, wait_for


@pytest.fixture
def running(token_server: HTTPServer) -> Iterator[tuple[OAuthService, FakeDicomWeb, list[Any]]]:
    token_server.expect_request("/token").respond_with_json(
        {"access_token": "service-token", "token_type": "Bearer", "expires_in": 3600}
    )
    broken = server_section(token_server.url_for("/token"))
    del broken["ClientId"]
    configuration = load_configuration(
        {
            "DicomWebOAuth": {
                "Servers": {
                    "remote": server_section(token_server.url_for("/token")),
                    "broken": broken,
                },
                "CheckInterval": 0.2,
            }
        },
        environ={},
    )
    dicomweb = FakeDicomWeb()
    published: list[Any] = []
    service = OAuthService(configuration, dicomweb, FakeJobs(), publish_metrics=published.append)
    service.start()
    try:
        wait_for("first write", lambda: dicomweb.puts >= 1)
        yield service, dicomweb, published
    finally:
        assert service.stop()


def test_the_definition_is_written_and_restored(
    running: tuple[OAuthService, FakeDicomWeb, list[Any]], caplog: pytest.LogCaptureFixture
) -> None:
    service, dicomweb, _ = running
    assert dicomweb.definitions["remote"]["HttpHeaders"] == {
        "Authorization": "Bearer service-token"
    }
    with caplog.at_level(logging.INFO, logger="orthanc_dicomweb_oauth"):
        with dicomweb.lock:
            del dicomweb.definitions["remote"]
        wait_for("restored", lambda: "remote" in dicomweb.list_expanded())
        wait_for("logged", lambda: caplog.records)
    assert [r.getMessage() for r in caplog.records] == [
        "remote: DICOMweb server definition was changed (missing); restored"
    ]
    assert service.server_status("remote")["DefinitionRestores"] == 1


def test_rest_answers(
    running: tuple[OAuthService, FakeDicomWeb, list[Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    service, _, _ = running

    def qido(name: str) -> int:
        return 3

    listing = handle(service, "GET", None, None, qido)
    assert listing.status == 200
    assert listing.body is not None
    assert set(listing.body["Servers"]) == {"remote", "broken"}
    assert listing.body["Servers"]["broken"]["State"] == "Invalid"
    assert handle(service, "POST", None, None, qido).allowed == "GET"
    unknown = handle(service, "GET", "nope", None, qido)
    assert (unknown.status, unknown.body) == (
        404,
        {"Error": "no server named nope in DicomWebOAuth.Servers; its servers: broken, remote"},
    )
    by_case = handle(service, "GET", "Remote", None, qido)
    assert by_case.body == {
        "Error": "no server named Remote in DicomWebOAuth.Servers; its servers: broken, remote "
        "(names are case-sensitive: did you mean remote?)"
    }
    assert handle(service, "POST", "broken", "refresh", qido).status == 409
    assert handle(service, "GET", "remote", "refresh", qido).allowed == "POST"
    assert handle(service, "POST", "remote", "frobnicate", qido).status == 404
    with monkeypatch.context() as patched:
        patched.setattr(keeper, "MIN_REQUEST_INTERVAL", 0.0)  # the start's request is recent
        refreshed = handle(service, "POST", "remote", "refresh", qido)
        # Another one moments later waits its turn: one per REST_REFRESH_SPACING.
        throttled = handle(service, "POST", "remote", "refresh", qido)
    assert throttled.status == 503
    assert throttled.retry_after is not None and 1 <= throttled.retry_after <= 5
    assert throttled.body is not None
    assert "remote: a token was asked for " in throttled.body["Error"]
    assert refreshed.status == 200
    assert refreshed.body is not None
    assert refreshed.body["Refreshes"] == 2
    tested = handle(service, "POST", "remote", "test", qido)
    assert tested.body == {
        "Token": {"Success": True, "ExpiresIn": 3600, "LifetimeSource": "expires_in"},
        "Qido": {"Success": True, "Studies": 3},
    }

    def failing_qido(name: str) -> int:
        raise QidoError("QIDO-RS through the DICOMweb plugin failed: Unauthorized")

    failed = handle(service, "POST", "remote", "test", failing_qido)
    assert failed.status == 502
    assert failed.body is not None
    assert failed.body["Qido"] == {
        "Success": False,
        "Error": ("QIDO-RS through the DICOMweb plugin failed: Unauthorized"),
    }
    everything = json.dumps([handle(service, "GET", None, None, qido).body, tested.body])
    assert "service-token" not in everything
    assert CLIENT_SECRET not in everything


def test_ready_only_when_every_server_is_authorized(token_server: HTTPServer) -> None:
    token_server.expect_request("/token").respond_with_json(
        {"access_token": "service-token", "token_type": "Bearer", "expires_in": 3600}
    )
    configuration = load_configuration(
        {
            "DicomWebOAuth": {
                "Servers": {"remote": server_section(token_server.url_for("/token"))},
                "CheckInterval": 0.2,
            }
        },
        environ={},
    )
    dicomweb = FakeDicomWeb()
    service = OAuthService(configuration, dicomweb, FakeJobs(), publish_metrics=lambda _: None)
    before = handle_ready(service, "GET")
    assert (before.status, before.body) == (
        503,
        {"Ready": False, "Reasons": {"remote": "no valid token (Pending)"}},
    )
    assert handle_ready(service, "POST").allowed == "GET"
    service.start()
    try:
        wait_for("ready", lambda: handle_ready(service, "GET").status == 200)
        assert handle_ready(service, "GET").body == {"Ready": True, "Servers": ["remote"]}
        with dicomweb.lock:
            dicomweb.refuse = True
        wait_for("unready", lambda: handle_ready(service, "GET").status == 503)
        assert handle_ready(service, "GET").body == {
            "Ready": False,
            "Reasons": {"remote": "cannot write the server definition: Bad request"},
        }
    finally:
        assert service.stop()


def test_an_invalid_server_is_a_reason_not_to_be_ready(
    running: tuple[OAuthService, FakeDicomWeb, list[Any]],
) -> None:
    service, _, _ = running
    answer = handle_ready(service, "GET")
    assert answer.status == 503
    assert answer.body is not None
    assert list(answer.body["Reasons"]) == ["broken"]
    assert answer.body["Reasons"]["broken"].startswith("invalid configuration: ")
    assert "ClientId" in answer.body["Reasons"]["broken"]


def test_metrics_are_published(running: tuple[OAuthService, FakeDicomWeb, list[Any]]) -> None:
    _, _, published = running
    wait_for(
        "metrics of a valid token",
        lambda: published and published[-1]["dicomweb_oauth_token_valid_remote"] == 1.0,
    )
    metrics = published[-1]
    assert metrics["dicomweb_oauth_token_valid_remote"] == 1.0
    assert metrics["dicomweb_oauth_refreshes_total_remote"] == 1
    assert metrics["dicomweb_oauth_failures_total_remote"] == 0
    assert 3590 < metrics["dicomweb_oauth_token_expires_in_seconds_remote"] <= 3600


def test_a_refused_write_is_reported_once(
    running: tuple[OAuthService, FakeDicomWeb, list[Any]], caplog: pytest.LogCaptureFixture
) -> None:
    service, dicomweb, _ = running
    with caplog.at_level(logging.INFO, logger="orthanc_dicomweb_oauth"):
        with dicomweb.lock:
            dicomweb.refuse = True
        wait_for("three refused writes", lambda: dicomweb.refused_puts >= 3)
        status = service.server_status("remote")
        with dicomweb.lock:
            dicomweb.refuse = False
        # The status changes under the worker's lock, the line is logged just after it.
        wait_for(
            "the line saying it was written again",
            lambda: (
                "remote: DICOMweb server definition written again"
                in [r.getMessage() for r in caplog.records]
            ),
        )
    assert status["LastDefinitionError"] == "cannot write the server definition: Bad request"
    assert service.server_status("remote")["LastDefinitionError"] is None
    messages = [r.getMessage() for r in caplog.records]
    assert messages.count("remote: cannot write the server definition: Bad request") == 1


def test_first_requests_are_spread_when_many_servers_start() -> None:
    rng = random.Random(7)
    delays = start_delays(51, rng)
    assert all(0 <= delay <= 50 * START_SPREAD_PER_SERVER for delay in delays)
    assert max(delays) - min(delays) > 0.5
    assert max(start_delays(1000, rng)) <= MAX_START_SPREAD
    assert start_delays(1, rng) == [0.0]
