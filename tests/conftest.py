"""What every test shares. Before any test module is imported, this process is kept on
the machine (tests/network_guard.py) and the cloud libraries' endpoints are pinned to a
loopback emulation, whose port is chosen here: google-auth reads its metadata server's
address once, at its first import."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from local_rig.cloud_emulations import CLOUD_VARIABLES, CloudEmulation, pinned_environment
from local_rig.installations import GENERATIONS
from local_rig.services import free_port

from . import network_guard
from .helpers import make_jwt
from .reliability_report import ReliabilityReport

ROOT = Path(__file__).resolve().parents[1]
REPORT_PATH = ROOT / "test-artifacts" / "reliability.md"
CLOUD_PORT = free_port()
_GCLOUD_CONFIG = Path(tempfile.mkdtemp(prefix="gcloud-config-"))
atexit.register(shutil.rmtree, _GCLOUD_CONFIG, ignore_errors=True)

network_guard.install()
for _variable in CLOUD_VARIABLES:
    os.environ.pop(_variable, None)
os.environ.update(pinned_environment(f"127.0.0.1:{CLOUD_PORT}", _GCLOUD_CONFIG))


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


@pytest.fixture(scope="session")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudEmulation]:
    """The cloud identity endpoints this process's libraries are pinned to, handing out
    JWTs that live 300 s."""
    emulation = CloudEmulation(
        tmp_path_factory.mktemp("cloud"), lambda: (make_jwt(lifetime=300), 300), port=CLOUD_PORT
    )
    emulation.start()
    yield emulation
    emulation.stop()
