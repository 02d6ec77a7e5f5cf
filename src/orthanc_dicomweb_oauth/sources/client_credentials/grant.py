"""Tokens from the OAuth2 client-credentials grant (RFC 6749 §4.4), through Authlib on
httpx2.

Authlib builds the request; the server's credential adds the client's proof to it; the
answer is parsed by ``token_response``, which knows real providers' quirks. Authlib's
framework-agnostic client runs on an httpx2.Client here rather than through
``authlib.integrations.httpx_client``: importing that package loads Authlib's OAuth 1,
async and assertion clients with anyio, joserfc and cryptography (~8 MiB resident in
Orthanc) that a client_secret server never uses.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Mapping, MutableMapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx2
from authlib.oauth2.auth import ClientAuth
from authlib.oauth2.client import OAuth2Client

from ...credentials.base import CredentialChange
from ...descriptions import SourceDescription
from ...errors import CredentialError, TokenRequestCancelledError, TokenRequestError
from ...redaction import HeldSecrets, redact
from ..access_token import AccessToken
from ..http_client import NETWORK_ERRORS, TokenHttpClient
from ..settings import ClientCredentialsSettings
from .discovery import discover_token_endpoint
from .token_response import TokenHttpAnswer, parse_token_answer


class ClientCredentialsSource:
    """Requests tokens for one server. Not meant for concurrent calls: the TokenKeeper
    lets one request out at a time."""

    def __init__(
        self, settings: ClientCredentialsSettings, wall_clock: Callable[[], float] = time.time
    ) -> None:
        self._settings = settings
        self._wall_clock = wall_clock
        self._client: _OAuthClient | None = None
        self._closed = False
        self._token_endpoint = settings.url  # discovered from the issuer when None
        self._held = HeldSecrets()

    def fetch(self) -> AccessToken:
        if self._closed:
            raise TokenRequestCancelledError
        client = self._oauth_client()
        endpoint = self._discovered_endpoint(client)
        try:
            token: AccessToken = client.fetch_token(
                endpoint,
                grant_type="client_credentials",
                body=urlencode(dict(self._settings.extra_parameters)),
            )
        except TokenRequestError:
            raise
        except CredentialError as error:  # the client's proof cannot be made now
            raise TokenRequestError(
                f"{error.key}: {error}" if error.key else str(error), transient=False
            ) from None
        except NETWORK_ERRORS as error:
            if self._closed:
                raise TokenRequestCancelledError from None
            raise client.http.translated(error, self._held) from None
        return token

    def redact(self, text: str) -> str:
        return redact(text, self._held)

    def _discovered_endpoint(self, client: _OAuthClient) -> str:
        try:
            return self.token_endpoint()
        except NETWORK_ERRORS as error:
            if self._closed:
                raise TokenRequestCancelledError from None
            raise client.http.translated(error, self._held, "the issuer's metadata") from None

    def token_endpoint(self) -> str:
        """The configured token endpoint, or the one the issuer's metadata names (read
        once; a failure is retried with the next token request)."""
        if self._token_endpoint is None:
            settings = self._settings
            if settings.issuer is None:  # the configuration requires one of the two
                raise TokenRequestError("neither TokenEndpoint nor Issuer is set", transient=False)
            self._token_endpoint = discover_token_endpoint(
                settings.issuer,
                settings.credential.auth_method,
                settings.allow_insecure_http,
                self._get_metadata,
                signing_algorithm=settings.credential.signing_algorithm,
            )
        return self._token_endpoint

    def description(self) -> SourceDescription:
        settings = self._settings
        return SourceDescription(
            self._token_endpoint,
            settings.credential.description(),
            issuer=settings.issuer,
            client_id=settings.client_id,
            client_auth_method=settings.credential.auth_method,
        )

    def reload_credentials(self) -> list[CredentialChange]:
        return self._settings.credential.reload()

    def close(self) -> None:
        """Closes the connections, interrupting a request in flight; no request after."""
        self._closed = True
        if self._client is not None:
            self._client.http.interrupt()
            self._client = None

    def _get_metadata(self, url: str) -> tuple[int, bytes]:
        response = self._oauth_client().session.get(url, headers={"Accept": "application/json"})
        return response.status_code, response.content

    def _oauth_client(self) -> _OAuthClient:
        if self._client is None:
            self._client = _OAuthClient(
                self._settings, TokenHttpClient(self._settings.http), self._held, self._wall_clock
            )
        return self._client


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


class _OAuthClient(OAuth2Client):  # type: ignore[misc]  # Authlib is untyped
    """Authlib's client, authenticating with the server's credential and parsing answers
    with this package's parser."""

    client_auth_class = _ClientAuthFlow

    def __init__(
        self,
        settings: ClientCredentialsSettings,
        http: TokenHttpClient,
        held: HeldSecrets,
        wall_clock: Callable[[], float],
    ) -> None:
        credential = settings.credential
        super().__init__(
            http.session,
            client_id=settings.client_id,
            token_endpoint_auth_method=credential.auth_method,
            scope=settings.scope,
        )
        self.http = http
        self._held = held
        self._wall_clock = wall_clock
        self._default_lifetime = settings.default_token_lifetime

        def authenticate(
            auth: Any, method: str, uri: str, headers: MutableMapping[str, str], body: str
        ) -> tuple[str, MutableMapping[str, str], str]:
            headers, body = credential.authenticate(auth.client_id, uri, headers, body)
            held.hold(*credential.redacted_values())
            _hold_request_secrets(held, headers, body)
            return uri, headers, body

        self.register_client_auth_method((credential.auth_method, authenticate))

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
            secrets=self._held,
            wall_clock=self._wall_clock,
        )

    def __repr__(self) -> str:
        return f"<token endpoint client {self.client_id!r}>"


def _hold_request_secrets(held: HeldSecrets, headers: Mapping[str, str], body: str) -> None:
    """What the request carries that proves the client: the Authorization header's
    credentials, a client secret, an assertion (new at each request)."""
    scheme, _, credentials = headers.get("Authorization", "").partition(" ")
    if scheme and credentials:
        held.hold(credentials, credentials.rstrip("="))
    for name, value in parse_qsl(body):
        if name == "client_secret":
            held.hold(value)
        elif name == "client_assertion":
            held.hold_briefly(value)
