"""A token endpoint that hands the plugin what a hostile or broken provider gives, one case
per path, each turned sane on demand: for the end-to-end test of hostile inputs.

- ``/token/CASE/SERVER`` answers as its case says (below) until ``make_sane`` is called,
  then with an opaque token living a minute, as a client-credentials grant or Google's
  JWT bearer grant expects it;
- ``/issuer/CASE/.well-known/openid-configuration`` names another issuer on several lines
  and 5 KB, until made sane: then this issuer and ``/token/CASE/CASE``.

Every token request is counted, with its time, per server.
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from urllib.parse import unquote

from werkzeug import Request, Response

from .loopback_http import LoopbackHttpServer

# What each case answers while it is hostile.
ECHO = "echo"  # invalid_client, its description the request's form and Authorization header
CRLF = "crlf"  # a token with CR LF and a header after them
HUGE_LIFETIME = "huge-lifetime"  # expires_in of 400 digits
DEEP_JSON = "deep-json"  # JSON nested 100 000 levels deep
ODD_RETRY_AFTER = "odd-retry-after"  # HTTP 503 with Retry-After: ² (a digit, not ASCII)
TINY_LIFETIME = "tiny-lifetime"  # expires_in 0.001
SANE = "sane"  # a token from the start
SANE_LIFETIME = 60


class HostileProvider:
    def __init__(self) -> None:
        self._server = LoopbackHttpServer(self._answer)
        self._sane: set[str] = {SANE}
        self._lock = threading.Lock()
        self.requests: dict[str, list[float]] = defaultdict(list)
        self.issued: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.port}"

    def token_endpoint(self, case: str, server: str) -> str:
        return f"{self.url}/token/{case}/{server}"

    def issuer(self, case: str) -> str:
        return f"{self.url}/issuer/{case}"

    def start(self) -> None:
        self._server.start()

    def stop(self) -> None:
        self._server.stop()

    def make_sane(self, *cases: str) -> None:
        with self._lock:
            self._sane.update(cases)

    def count(self, server: str) -> int:
        """The token requests the server sent."""
        with self._lock:
            return len(self.requests[server])

    def _answer(self, request: Request) -> Response:
        parts = request.path.strip("/").split("/")
        if len(parts) >= 2 and parts[0] == "issuer":
            return self._metadata(parts[1])
        if len(parts) == 3 and parts[0] == "token":
            case, server = parts[1], parts[2]
            with self._lock:
                self.requests[server].append(time.monotonic())
                sane = case in self._sane
            return self._sane_token(case) if sane else _hostile(case, request)
        return Response("not found", status=404)

    def _sane_token(self, case: str) -> Response:
        with self._lock:
            token = f"sane-{case}-{len(self.issued)}"
            self.issued.append(token)
        body = {"access_token": token, "token_type": "Bearer", "expires_in": SANE_LIFETIME}
        return Response(json.dumps(body), content_type="application/json")

    def _metadata(self, case: str) -> Response:
        with self._lock:
            sane = case in self._sane
        issuer = self.issuer(case) if sane else f"{self.issuer(case)}\nFORGED LOG LINE {'x' * 5000}"
        body = {
            "issuer": issuer,
            "token_endpoint": self.token_endpoint(case, case),
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        }
        return Response(json.dumps(body), content_type="application/json")


def _hostile(case: str, request: Request) -> Response:
    if case == ECHO:
        said = f"{unquote(request.get_data(as_text=True))} {request.headers.get('Authorization')}"
        refusal = {"error": "invalid_client", "error_description": f"bad request: {said}"}
        return Response(json.dumps(refusal), status=401, content_type="application/json")
    if case == ODD_RETRY_AFTER:
        return Response("busy", status=503, headers={"Retry-After": "²"})
    if case == DEEP_JSON:
        return Response("[" * 100_000 + "]" * 100_000, content_type="application/json")
    expires_in: object = {HUGE_LIFETIME: 10**400, TINY_LIFETIME: 0.001}.get(case, 60)
    token = "abc\r\nX-Injected: 1" if case == CRLF else "hostile-token"
    body: dict[str, object] = {
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": expires_in,
    }
    return Response(json.dumps(body), content_type="application/json")
