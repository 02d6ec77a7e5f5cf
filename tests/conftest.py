from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytest_httpserver import HTTPServer


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
