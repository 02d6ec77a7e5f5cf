"""The runtime glue's answers through Orthanc's Python plugin, whose signatures differ between
versions: stand-ins parse the arguments as each version does."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

GLUE = "orthanc_dicomweb_oauth.orthanc_runtime"


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
def glue(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    monkeypatch.setitem(sys.modules, "orthanc", ModuleType("orthanc"))
    yield importlib.import_module(GLUE)
    sys.modules.pop(GLUE, None)


@pytest.mark.parametrize("output_class", [RestOutput4, RestOutput5])
def test_an_error_answer_reaches_every_python_plugin_version(
    glue: ModuleType, output_class: type[RestOutput4]
) -> None:
    output = output_class()
    glue._send_error(output, 409, {"Error": "invalid configuration: é"})
    assert output.headers == {"Content-Type": "application/json"}
    assert output.sent == [(409, b'{\n  "Error": "invalid configuration: \\u00e9"\n}')]
