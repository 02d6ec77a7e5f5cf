"""The glue's answers through Orthanc's Python plugin, whose signatures differ between
versions: stand-ins parse the arguments as each version does."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from orthanc_dicomweb_oauth.orthanc.rest_api import RestAnswer

GLUE_PACKAGE = "orthanc_dicomweb_oauth.orthanc"
GLUE = f"{GLUE_PACKAGE}.runtime"
ENTRY = f"{GLUE_PACKAGE}.plugin"


class RestOutput4:
    """Python plugin 4.0 (Orthanc 1.10): ``SendHttpStatus(status, body: str, size)``."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, bytes]] = []
        self.headers: dict[str, str] = {}

    def SetHttpHeader(self, name: str, value: str) -> None:  # noqa: N802 - Orthanc's name
        self.headers[name] = value

    def SendHttpStatus(self, *arguments: Any) -> None:  # noqa: N802
        if len(arguments) != 3 or not isinstance(arguments[1], str):
            raise TypeError("Bad types for the arguments (3 arguments expected)")
        status, body, size = arguments
        self.sent.append((status, body.encode()[:size]))


class RestOutput5(RestOutput4):
    """Python plugin 5.0 and later (Orthanc 1.12, 1.13): ``SendHttpStatus(status, body)``,
    the body a str or bytes."""

    def SendHttpStatus(self, *arguments: Any) -> None:  # noqa: N802
        if len(arguments) != 2 or not isinstance(arguments[1], (str, bytes)):
            raise TypeError("Bad types for the arguments (2 arguments expected)")
        status, body = arguments
        self.sent.append((status, body.encode() if isinstance(body, str) else body))


@pytest.fixture
def orthanc_stand_in(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """A stand-in ``orthanc``; the glue's modules imported with it are forgotten after."""
    stand_in = ModuleType("orthanc")
    monkeypatch.setitem(sys.modules, "orthanc", stand_in)
    yield stand_in
    package = sys.modules[GLUE_PACKAGE]
    for name in [name for name in sys.modules if name.startswith(f"{GLUE_PACKAGE}.")]:
        if "orthanc" in vars(sys.modules[name] or ModuleType(name)):
            sys.modules.pop(name)
            # ``from . import`` finds a submodule on its package before sys.modules.
            package.__dict__.pop(name.rpartition(".")[2], None)


@pytest.fixture
def glue(orthanc_stand_in: ModuleType) -> ModuleType:
    return importlib.import_module(GLUE)


@pytest.mark.parametrize("output_class", [RestOutput4, RestOutput5])
def test_an_error_answer_reaches_every_python_plugin_version(
    glue: ModuleType, output_class: type[RestOutput4]
) -> None:
    output = output_class()
    glue.send_answer(output, RestAnswer(409, {"Error": "invalid configuration: é"}))
    assert output.headers == {"Content-Type": "application/json"}
    assert output.sent == [(409, b'{\n  "Error": "invalid configuration: \\u00e9"\n}')]
    throttled = output_class()
    glue.send_answer(throttled, RestAnswer(503, {"Error": "asked 1 s ago"}, retry_after=4))
    assert throttled.headers == {"Content-Type": "application/json", "Retry-After": "4"}
    assert throttled.sent == [(503, b'{\n  "Error": "asked 1 s ago"\n}')]


@pytest.mark.parametrize("output_class", [RestOutput4, RestOutput5])
def test_without_its_runtime_the_plugin_logs_why_and_answers_503(
    orthanc_stand_in: ModuleType, monkeypatch: pytest.MonkeyPatch, output_class: type[RestOutput4]
) -> None:
    """A dependency missing from Orthanc's Python: the REST routes keep answering."""
    logged: list[str] = []
    orthanc_stand_in.LogError = logged.append  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, GLUE, None)  # importing it raises ModuleNotFoundError
    entry = importlib.import_module(ENTRY)
    entry._start()
    assert len(logged) == 1
    assert logged[0].startswith(
        "DicomWebOAuth: cannot start: no server is managed (ModuleNotFoundError"
    )
    output = output_class()
    entry._rest_callback(output, "/dicomweb-oauth/servers", method="GET", groups=[])
    assert output.headers == {"Content-Type": "application/json"}
    assert output.sent == [(503, b'{\n  "Error": "starting"\n}')]
