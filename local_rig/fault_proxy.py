"""A token endpoint in front of the real provider that can fail on demand, for the tests
of outages: it forwards each token request to the provider, or fails as the provider or
its network would.

Modes: ``pass``; ``503`` (an HTML error page); ``html`` (HTTP 200 with a captive
portal's page); ``truncated`` (HTTP 200 with JSON cut short); ``expired`` (the provider's
token, its ``expires_in`` made -60); ``stall`` (no answer until the mode changes);
``refused`` (nothing listens: the server is stopped).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field

import httpx2
from werkzeug import Request, Response

from .loopback_http import LoopbackHttpServer

MODES = ("pass", "503", "html", "truncated", "expired", "stall", "refused")


@dataclass
class FaultProxy:
    provider_token_endpoint: str
    _mode: str = "pass"
    _changed: threading.Condition = field(default_factory=threading.Condition)
    _http: LoopbackHttpServer = field(init=False)

    def __post_init__(self) -> None:
        self._http = LoopbackHttpServer(self._answer)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._http.port}/token"

    def start(self) -> None:
        self._http.start()

    def stop(self) -> None:
        self._http.stop()

    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"mode {mode!r}: one of {MODES}")
        if mode == "refused" and self._http.running:
            self.stop()
        elif mode != "refused" and not self._http.running:
            self.start()
        with self._changed:
            self._mode = mode
            self._changed.notify_all()

    def _answer(self, request: Request) -> Response:
        with self._changed:
            mode = self._mode
        if mode == "stall":
            with self._changed:
                self._changed.wait_for(lambda: self._mode != "stall")
            mode = self._mode
        if mode == "503":
            return Response("<html>maintenance</html>", status=503, content_type="text/html")
        if mode == "html":
            return Response("<html>Log in to the guest network</html>", content_type="text/html")
        if mode == "truncated":
            return Response('{"access_token": "eyJhbGciOi', content_type="application/json")
        answer = httpx2.post(
            self.provider_token_endpoint,
            content=request.get_data(),
            headers={
                name: value
                for name, value in request.headers.items()
                if name.lower() in ("content-type", "authorization")
            },
            timeout=10,
        )
        body = answer.content
        if mode == "expired" and answer.status_code == 200:
            body = json.dumps({**answer.json(), "expires_in": -60}).encode()
        return Response(
            body, status=answer.status_code, content_type=answer.headers.get("content-type")
        )
