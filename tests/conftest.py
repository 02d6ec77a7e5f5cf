from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from local_rig.installations import GENERATIONS

from .reliability_report import ReliabilityReport

ROOT = Path(__file__).resolve().parents[1]
REPORT_PATH = ROOT / "test-artifacts" / "reliability.md"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("orthanc", "Orthanc generations of the end-to-end tests")
    group.addoption(
        "--orthanc",
        default=",".join(GENERATIONS),
        metavar="GENERATIONS",
        help="comma-separated Orthanc generations that the tests of tests/e2e/test_plugin.py "
        "run on: bookworm (the host's Orthanc 1.10), trixie (1.12) and sid (1.13), the last "
        "two in chroots built as root (default: all three)",
    )
    group.addoption(
        "--orthanc-strict",
        action="store_true",
        help="a generation that cannot be built fails its tests instead of skipping them",
    )
    parser.addoption(
        "--reliability-report",
        type=Path,
        default=REPORT_PATH,
        metavar="PATH",
        help="where the reliability figures go when every section was measured (default: "
        "test-artifacts/reliability.md; `make reliability` writes docs/reliability.md)",
    )


@pytest.fixture(scope="session")
def reliability_report(request: pytest.FixtureRequest) -> Iterator[ReliabilityReport]:
    """The reliability figures, written only when every section was measured."""
    report = ReliabilityReport()
    yield report
    if report.complete():
        path: Path = request.config.getoption("reliability_report")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(report.render())


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
