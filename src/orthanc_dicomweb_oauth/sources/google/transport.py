"""google-auth's transport interface on this package's HTTP client, so that Google's token
requests get what every token request gets: the server's CA bundle, peer verification,
proxy and timeouts, the cap on an answer's size, and interruption when Orthanc stops.
google-auth's own transports would bring requests or urllib3 and none of these settings.

Imported only for servers that use GoogleCredentials.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

import google.auth.exceptions
import google.auth.transport

from ...redaction import HeldSecrets
from ..http_client import NETWORK_ERRORS, TokenHttpClient


class _Response(google.auth.transport.Response):
    def __init__(self, status: int, headers: Mapping[str, str], data: bytes) -> None:
        self._status = status
        self._headers = headers
        self._data = data

    @property
    def status(self) -> int:
        return self._status

    @property
    def headers(self) -> Mapping[str, str]:
        return self._headers

    @property
    def data(self) -> bytes:
        return self._data


class HttpClientRequest(google.auth.transport.Request):
    """Makes google-auth's requests; remembers the last answer's status, or None when no
    server answered, for telling an outage from "not on Google Cloud"."""

    def __init__(self, client: TokenHttpClient, held: HeldSecrets) -> None:
        self._client = client
        self._held = held
        self.last_status: int | None = None
        self.last_error: BaseException | None = None

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> _Response:
        self.last_status, self.last_error = None, None
        _hold_request_secrets(self._held, headers or {}, body)
        try:
            response = self._client.session.request(
                method,
                url,
                content=body,
                headers=dict(headers or {}),
                # google-auth asks the metadata server with a short timeout of its own.
                timeout=self._client.timeout(timeout),
            )
        except NETWORK_ERRORS as error:
            self.last_error = error
            raise google.auth.exceptions.TransportError(type(error).__name__) from error
        self.last_status = response.status_code
        return _Response(response.status_code, response.headers, response.content)


# What google-auth's requests carry that must never be shown: the JWT bearer grant's
# assertion, workload identity federation's subject token, a token or a client's
# credentials in the Authorization header.
_SECRET_FORM_FIELDS = ("assertion", "subject_token", "client_secret")


def _hold_request_secrets(
    held: HeldSecrets, headers: Mapping[str, str], body: bytes | str | None
) -> None:
    for name, value in headers.items():
        if name.lower() == "authorization":
            held.hold_briefly(value.partition(" ")[2])
    if body is None:
        return
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    held.hold_briefly(*(value for name, value in parse_qsl(text) if name in _SECRET_FORM_FIELDS))
