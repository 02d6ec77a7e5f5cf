"""A threaded HTTP server on loopback for the rig's emulated endpoints. Stopped and started
again, it keeps its port: a client configured with its URL finds it there again."""

from __future__ import annotations

import threading
from collections.abc import Callable

from werkzeug import Request, Response
from werkzeug.serving import BaseWSGIServer, make_server


class LoopbackHttpServer:
    def __init__(self, answer: Callable[[Request], Response], port: int = 0) -> None:
        """``port`` 0 lets the system choose one at the first start."""
        self._answer = answer
        self.port = port
        self._server: BaseWSGIServer | None = None

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> None:
        self._server = make_server(
            "127.0.0.1", self.port, Request.application(self._answer), threaded=True
        )
        self.port = self._server.server_port
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
