"""The plugin's REST routes, and the answer both the start path and the runtime send while
no server is managed. Imports nothing: Orthanc's start waits for it."""

from __future__ import annotations

# Not typing's: importing typing would cost Orthanc's start milliseconds.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

ROUTE = "/dicomweb-oauth/servers"
READY_ROUTE = "/dicomweb-oauth/ready"
PATTERNS = (READY_ROUTE, ROUTE, f"{ROUTE}/([^/]+)", f"{ROUTE}/([^/]+)/([^/]+)")


def answer_starting(output: Any) -> None:
    """HTTP 503 while no server is managed: the start is under way, or it failed."""
    send_json_status(output, 503, '{\n  "Error": "starting"\n}')


# Differences between the Python plugin's versions, handled here and only here.


def send_json_status(
    output: Any, status: int, text: str, headers: dict[str, str] | None = None
) -> None:
    """An HTTP status with a JSON body. The Python plugin 4.0 (Orthanc 1.10) takes the body
    as a str and its length; 5.0 and later take the body alone. Each rejects the other's
    arguments with a TypeError before sending anything. ``text`` is ASCII: its length is
    its size in bytes."""
    output.SetHttpHeader("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        output.SetHttpHeader(name, value)
    try:
        output.SendHttpStatus(status, text)
    except TypeError:
        output.SendHttpStatus(status, text, len(text))
