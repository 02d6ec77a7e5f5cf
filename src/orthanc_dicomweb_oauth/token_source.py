"""One OAuth2 client-credentials token request (RFC 6749 §4.4) through Authlib, on httpx2.

Authlib builds the request and authenticates the client; this module adds what a server
running for months needs: connect and read timeouts, a cap on the answer's size, TLS and
proxy settings, form-urlencoded HTTP Basic credentials, and errors that say what went
wrong without carrying a secret.

Authlib's framework-agnostic client runs on an httpx2.Client here rather than through
``authlib.integrations.httpx_client``: importing that package loads Authlib's OAuth 1,
async and assertion clients with anyio, joserfc and cryptography (~8 MiB resident in
Orthanc) that a client_secret server never uses.
"""

from __future__ import annotations

import base64
import contextlib
import socket
import ssl
import threading
import weakref
from collections.abc import Generator, Iterator, Mapping
from typing import Any
from urllib.parse import quote_plus, urlencode

import httpx2
from authlib.oauth2.auth import ClientAuth
from authlib.oauth2.client import OAuth2Client
from pydantic import SecretStr

from .access_token import AccessToken
from .client_signing_key import ClientSigningKey
from .configuration import TokenEndpointSettings
from .errors import TokenRequestCancelledError, TokenRequestError
from .provider_metadata import discover_token_endpoint
from .redaction import sanitize_external_text
from .tls import tls_context
from .token_response import TokenHttpAnswer, parse_token_answer

# A token answer is a few KiB (a JWT with many roles); anything far larger is not one.
MAX_ANSWER_BYTES = 256 * 1024


class TokenSource:
    """Requests tokens for one server. Not meant for concurrent calls: the TokenKeeper
    lets one request out at a time."""

    def __init__(self, settings: TokenEndpointSettings) -> None:
        self._settings = settings
        self._client: _ClientCredentialsClient | None = None
        self._closed = False
        self._connections = _ConnectionTracker()
        self._token_endpoint = settings.url  # discovered from the issuer when None

    def fetch(self) -> AccessToken:
        if self._closed:
            raise TokenRequestCancelledError
        try:
            token: AccessToken = self._oauth_client().fetch_token(
                self.token_endpoint(),
                grant_type="client_credentials",
                body=urlencode(dict(self._settings.extra_parameters)),
            )
        except TokenRequestError:
            raise
        except (httpx2.HTTPError, _AnswerTooLargeError, ssl.SSLError, OSError) as error:
            if self._closed:
                raise TokenRequestCancelledError from None
            raise self._translated(error) from None
        return token

    @property
    def known_token_endpoint(self) -> str | None:
        """The token endpoint if known yet, without asking the provider."""
        return self._token_endpoint

    def token_endpoint(self) -> str:
        """The configured token endpoint, or the one the issuer's metadata names (read
        once; a failure is retried with the next token request)."""
        if self._token_endpoint is None:
            settings = self._settings
            if settings.issuer is None:  # the configuration requires one of the two
                raise TokenRequestError("neither TokenEndpoint nor Issuer is set", transient=False)
            self._token_endpoint = discover_token_endpoint(
                settings.issuer,
                settings.auth_method,
                settings.allow_insecure_http,
                self._get_metadata,
                signing_algorithm=settings.credential.algorithm
                if isinstance(settings.credential, ClientSigningKey)
                else None,
            )
        return self._token_endpoint

    def _get_metadata(self, url: str) -> tuple[int, bytes]:
        response = self._oauth_client().session.get(url, headers={"Accept": "application/json"})
        return response.status_code, response.content

    def _translated(self, error: Exception) -> TokenRequestError:
        settings = self._settings
        if isinstance(error, httpx2.ConnectTimeout):
            return TokenRequestError(
                f"timed out after {settings.connect_timeout:g} s connecting to the token endpoint",
                transient=True,
            )
        if isinstance(error, httpx2.TimeoutException):
            return TokenRequestError(
                f"timed out after {settings.read_timeout:g} s waiting for the token endpoint",
                transient=True,
            )
        if isinstance(error, _AnswerTooLargeError):
            return TokenRequestError(
                f"token endpoint answered more than {MAX_ANSWER_BYTES // 1024} KiB: not a "
                "token answer",
                transient=True,
            )
        return self._network_error(error)

    def close(self) -> None:
        """Closes the connections, interrupting a request in flight; no request after."""
        self._closed = True
        self._connections.interrupt()
        if self._client is not None:
            self._client.session.close()
            self._client = None

    def _oauth_client(self) -> _ClientCredentialsClient:
        if self._client is None:
            self._client = _ClientCredentialsClient(
                self._settings, self._transport(), self._connections
            )
        return self._client

    def _transport(self) -> httpx2.BaseTransport:
        settings = self._settings
        try:
            verify = tls_context(settings.ca_certificates) if settings.verify_peer else False
            return _CappedTransport(httpx2.HTTPTransport(verify=verify, proxy=settings.proxy))
        except (ssl.SSLError, OSError) as error:
            raise TokenRequestError(
                f"cannot use the CA bundle {settings.ca_certificates}: "
                f"{getattr(error, 'strerror', None) or error}",
                transient=False,
            ) from None

    def _network_error(self, error: BaseException) -> TokenRequestError:
        cause: BaseException | None = error
        while cause is not None:
            if isinstance(cause, ssl.SSLCertVerificationError):
                return TokenRequestError(
                    "TLS certificate of the token endpoint not trusted "
                    f"({cause.verify_message}): set TokenEndpointCACertificates to the CA "
                    "bundle that signed it",
                    transient=False,
                )
            cause = cause.__cause__ or cause.__context__
        reason = sanitize_external_text(
            str(error) or type(error).__name__, _secrets(self._settings.credential)
        )
        return TokenRequestError(
            f"cannot reach the token endpoint: {reason} ({type(error).__name__})",
            transient=True,
        )


class _ClientAuthFlow(httpx2.Auth, ClientAuth):  # type: ignore[misc]  # Authlib is untyped
    """Authlib's client authentication applied to an httpx2 request."""

    requires_request_body = True

    def auth_flow(self, request: httpx2.Request) -> Generator[httpx2.Request, httpx2.Response]:
        url, headers, body = self.prepare(
            request.method, str(request.url), request.headers, request.content.decode()
        )
        headers["Content-Length"] = str(len(body))
        yield httpx2.Request(
            request.method, url, headers=headers, content=body, extensions=request.extensions
        )


class _ClientCredentialsClient(OAuth2Client):  # type: ignore[misc]  # Authlib is untyped
    """Authlib's client with this package's answer parser: real providers' quirks
    (string ``expires_in``, missing ``token_type``, HTML error pages) are handled there."""

    client_auth_class = _ClientAuthFlow

    def __init__(
        self,
        settings: TokenEndpointSettings,
        transport: httpx2.BaseTransport,
        connections: _ConnectionTracker,
    ) -> None:
        credential = settings.credential
        session = httpx2.Client(
            transport=transport,
            timeout=httpx2.Timeout(settings.read_timeout, connect=settings.connect_timeout),
            follow_redirects=False,
            trust_env=False,
            event_hooks={"request": [connections.watch]},
        )
        super().__init__(
            session,
            client_id=settings.client_id,
            # Authlib's private_key_jwt takes the key where a secret would be.
            client_secret=credential.get_secret_value()
            if isinstance(credential, SecretStr)
            else credential.key,
            token_endpoint_auth_method=settings.auth_method,
            scope=settings.scope,
        )
        self._default_lifetime = settings.default_token_lifetime
        self._secrets = _secrets(credential)
        self.register_client_auth_method(("client_secret_basic", _form_urlencoded_basic))
        if isinstance(credential, ClientSigningKey):
            # Imported here: Authlib's JWT signer loads joserfc and cryptography.
            from .signed_assertion import SignedAssertion  # noqa: PLC0415

            self.register_client_auth_method(SignedAssertion(credential))

    def parse_response_token(self, resp: httpx2.Response) -> AccessToken:
        return parse_token_answer(
            TokenHttpAnswer(
                status=resp.status_code,
                content_type=resp.headers.get("content-type", ""),
                body=resp.content,
                retry_after=resp.headers.get("retry-after"),
                location=resp.headers.get("location"),
            ),
            default_lifetime=self._default_lifetime,
            secrets=self._secrets,
        )

    def __repr__(self) -> str:
        return f"<token endpoint client {self.client_id!r}>"


def _form_urlencoded_basic(
    client: Any, method: str, uri: str, headers: dict[str, str], body: str
) -> tuple[str, Mapping[str, str], str]:
    """client_secret_basic as RFC 6749 §2.3.1 says: id and secret form-urlencoded before
    Base64. Authlib sends them raw, which providers such as Keycloak reject for secrets
    with '+', '%' or ':'."""
    credentials = f"{quote_plus(client.client_id)}:{quote_plus(client.client_secret)}"
    headers["Authorization"] = "Basic " + base64.b64encode(credentials.encode()).decode()
    return uri, headers, body


def _secrets(credential: SecretStr | ClientSigningKey) -> list[str]:
    """What must never appear in an error: the secret (a key is never sent)."""
    return [credential.get_secret_value()] if isinstance(credential, SecretStr) else []


class _ConnectionTracker:
    """Remembers the client's sockets, through httpcore's public ``trace`` request
    extension, so that close() can interrupt a request in flight: closing the client alone
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


class _AnswerTooLargeError(Exception):
    pass


class _CappedStream(httpx2.SyncByteStream):
    def __init__(self, inner: httpx2.SyncByteStream) -> None:
        self._inner = inner

    def __iter__(self) -> Iterator[bytes]:
        received = 0
        for chunk in self._inner:
            received += len(chunk)
            if received > MAX_ANSWER_BYTES:
                raise _AnswerTooLargeError
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
