from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from .reliability_report import ReliabilityReport

REPORT_PATH = Path(__file__).resolve().parents[1] / "docs" / "reliability.md"


@pytest.fixture(scope="session")
def reliability_report() -> Iterator[ReliabilityReport]:
    """Figures for docs/reliability.md, written only when every section was measured."""
    report = ReliabilityReport()
    yield report
    if report.complete():
        REPORT_PATH.write_text(report.render())


@pytest.fixture(scope="session")
def _shared_token_server() -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1", threaded=True)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def token_server(_shared_token_server: HTTPServer) -> Iterator[HTTPServer]:
    """A real HTTP server on loopback, threaded like a provider, scripted per test."""
    _shared_token_server.clear()
    yield _shared_token_server
    _shared_token_server.clear()
