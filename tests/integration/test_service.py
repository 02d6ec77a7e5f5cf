"""The service, its workers and its REST API without Orthanc: a real token endpoint on
loopback, and an in-memory stand-in for the DICOMweb plugin's server list."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from orthanc_dicomweb_oauth.configuration import load_configuration
from orthanc_dicomweb_oauth.errors import DicomWebApiError, QidoError
from orthanc_dicomweb_oauth.rest_api import handle
from orthanc_dicomweb_oauth.service import OAuthService

from ..helpers import CLIENT_SECRET, server_section


class FakeDicomWeb:
    """What /dicom-web/servers keeps: definitions by name, header names in listings."""

    def __init__(self) -> None:
        self.definitions: dict[str, dict[str, Any]] = {}
        self.puts = 0
        self.refuse = False
        self.lock = threading.Lock()

    def put(self, name: str, definition: Mapping[str, Any]) -> None:
        if self.refuse:
            raise DicomWebApiError("Bad request")
        with self.lock:
            self.definitions[name] = dict(definition)
            self.puts += 1

    def list_expanded(self) -> Mapping[str, Any]:
        with self.lock:
            return {
                name: {**definition, "HttpHeaders": sorted(definition.get("HttpHeaders", {}))}
                for name, definition in self.definitions.items()
            }


def wait_for(what: str, condition: Callable[[], object], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"not within {timeout} s: {what}")


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
    service = OAuthService(configuration, dicomweb, publish_metrics=published.append)
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


def test_rest_answers(running: tuple[OAuthService, FakeDicomWeb, list[Any]]) -> None:
    service, _, _ = running

    def qido(name: str) -> int:
        return 3

    listing = handle(service, "GET", None, None, qido)
    assert listing.status == 200
    assert listing.body is not None
    assert set(listing.body["Servers"]) == {"remote", "broken"}
    assert listing.body["Servers"]["broken"]["State"] == "Invalid"
    assert handle(service, "POST", None, None, qido).allowed == "GET"
    assert handle(service, "GET", "nope", None, qido).status == 404
    assert handle(service, "POST", "broken", "refresh", qido).status == 409
    assert handle(service, "GET", "remote", "refresh", qido).allowed == "POST"
    assert handle(service, "POST", "remote", "frobnicate", qido).status == 404
    refreshed = handle(service, "POST", "remote", "refresh", qido)
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
        dicomweb.refuse = True
        time.sleep(0.7)  # three checks
        status = service.server_status("remote")
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


def test_first_requests_are_spread_when_many_servers_start(token_server: HTTPServer) -> None:
    url = token_server.url_for("/token")
    configuration = load_configuration(
        {"DicomWebOAuth": {"Servers": {f"s{n}": server_section(url) for n in range(51)}}},
        environ={},
    )
    service = OAuthService(configuration, FakeDicomWeb(), publish_metrics=lambda _: None)
    delays = [worker._start_delay for worker in service.workers.values()]
    assert all(0 <= delay <= 1.0 for delay in delays)  # 20 ms for each of the 50 others
    assert max(delays) - min(delays) > 0.5
    single = load_configuration(
        {"DicomWebOAuth": {"Servers": {"only": server_section(url)}}}, environ={}
    )
    alone = OAuthService(single, FakeDicomWeb(), publish_metrics=lambda _: None)
    assert [worker._start_delay for worker in alone.workers.values()] == [0.0]
