"""The HTTP client token requests go through: httpx2 with the server's TLS, proxy and
timeouts, no redirects, no environment settings, a cap on the answer's size, a way to
interrupt a request in flight, and network errors said plainly without a secret."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import weakref
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import httpx2

from ..errors import TokenRequestError
from ..redaction import sanitize_external_text
from .settings import HttpSettings
from .tls import tls_context

# A token answer is a few KiB (a JWT with many roles); anything far larger is not one.
MAX_ANSWER_BYTES = 256 * 1024


class AnswerTooLargeError(Exception):
    """The answer went past MAX_ANSWER_BYTES; reading stopped there."""


# What a request raises when the network or the answer fails, as opposed to a bug.
NETWORK_ERRORS = (httpx2.HTTPError, ssl.SSLError, OSError, AnswerTooLargeError)


class TokenHttpClient:
    """An httpx2 client for one server's token requests, which ``interrupt()`` can cut
    short from another thread. ``endpoint`` names what it talks to in errors;
    ``direct_hosts`` (host or host:port) are reached without the proxy."""

    def __init__(
        self,
        settings: HttpSettings,
        endpoint: str = "the token endpoint",
        direct_hosts: Sequence[str] = (),
    ) -> None:
        self._settings = settings
        self._endpoint = endpoint
        self._connections = _ConnectionTracker()
        direct = settings.proxy is not None and direct_hosts
        self.session = httpx2.Client(
            transport=_transport(settings, settings.proxy),
            mounts={f"all://{host}": _transport(settings, None) for host in direct_hosts}
            if direct
            else None,
            timeout=self.timeout(),
            follow_redirects=False,
            trust_env=False,
            event_hooks={"request": [self._connections.watch]},
        )

    def timeout(self, at_most: float | None = None) -> httpx2.Timeout:
        """The server's timeouts, shortened to ``at_most`` seconds when a caller asks."""
        read, connect = self._settings.read_timeout, self._settings.connect_timeout
        if at_most is not None:
            read, connect = min(read, at_most), min(connect, at_most)
        return httpx2.Timeout(read, connect=connect)

    def interrupt(self) -> None:
        """Closes the connections, waking a thread blocked on an answer."""
        self._connections.interrupt()
        self.session.close()

    def translated(
        self, error: BaseException, secrets: Iterable[str], endpoint: str | None = None
    ) -> TokenRequestError:
        """A network failure of a request to ``endpoint`` (by default, what the client
        talks to), as the error the keeper retries."""
        settings, endpoint = self._settings, endpoint or self._endpoint
        if isinstance(error, httpx2.ConnectTimeout):
            return TokenRequestError(
                f"timed out after {settings.connect_timeout:g} s connecting to {endpoint}",
                transient=True,
            )
        if isinstance(error, httpx2.TimeoutException):
            return TokenRequestError(
                f"timed out after {settings.read_timeout:g} s waiting for {endpoint}",
                transient=True,
            )
        if isinstance(error, AnswerTooLargeError):
            return TokenRequestError(
                f"{endpoint} answered more than {MAX_ANSWER_BYTES // 1024} KiB: not a token answer",
                transient=True,
            )
        cause: BaseException | None = error
        while cause is not None:
            if isinstance(cause, ssl.SSLCertVerificationError):
                return TokenRequestError(
                    f"TLS certificate of {endpoint} not trusted ({cause.verify_message}): set "
                    "TokenEndpointCACertificates to the CA bundle that signed it",
                    transient=False,
                )
            cause = cause.__cause__ or cause.__context__
        reason = sanitize_external_text(str(error) or type(error).__name__, secrets)
        return TokenRequestError(
            f"cannot reach {endpoint}: {reason} ({type(error).__name__})",
            transient=True,
        )


def _transport(settings: HttpSettings, proxy: str | None) -> httpx2.BaseTransport:
    try:
        verify = tls_context(settings.ca_certificates) if settings.verify_peer else False
        return _CappedTransport(httpx2.HTTPTransport(verify=verify, proxy=proxy))
    except (ssl.SSLError, OSError) as error:
        raise TokenRequestError(
            f"cannot use the CA bundle {settings.ca_certificates}: "
            f"{getattr(error, 'strerror', None) or error}",
            transient=False,
        ) from None


class _ConnectionTracker:
    """Remembers the client's sockets, through httpcore's public ``trace`` request
    extension, so that a request in flight can be interrupted: closing the client alone
    does not wake a thread blocked reading an answer that never comes."""

    def __init__(self) -> None:
        self._sockets: weakref.WeakSet[socket.socket] = weakref.WeakSet()
        self._lock = threading.Lock()

    def watch(self, request: httpx2.Request) -> None:
        request.extensions["trace"] = self._trace

    def interrupt(self) -> None:
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):  # already closed
                sock.shutdown(socket.SHUT_RDWR)

    def _trace(self, event: str, info: dict[str, Any]) -> None:
        if event == "connection.connect_tcp.complete":
            sock = info["return_value"].get_extra_info("socket")
            if isinstance(sock, socket.socket):
                with self._lock:
                    self._sockets.add(sock)


class _CappedStream(httpx2.SyncByteStream):
    def __init__(self, inner: httpx2.SyncByteStream) -> None:
        self._inner = inner

    def __iter__(self) -> Iterator[bytes]:
        received = 0
        for chunk in self._inner:
            received += len(chunk)
            if received > MAX_ANSWER_BYTES:
                raise AnswerTooLargeError
            yield chunk

    def close(self) -> None:
        self._inner.close()


class _CappedTransport(httpx2.BaseTransport):
    """Stops reading an answer past MAX_ANSWER_BYTES instead of buffering it whole."""

    def __init__(self, inner: httpx2.HTTPTransport) -> None:
        self._inner = inner

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        response = self._inner.handle_request(request)
        if not isinstance(response.stream, httpx2.SyncByteStream):
            return response
        return httpx2.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_CappedStream(response.stream),
            extensions=response.extensions,
        )

    def close(self) -> None:
        self._inner.close()
