"""A shared client secret, sent in the token request's form (``client_secret_post``) or in
an HTTP Basic header (``client_secret_basic``), RFC 6749 §2.3.1."""

from __future__ import annotations

import base64
from collections.abc import MutableMapping
from typing import Literal
from urllib.parse import quote_plus

from authlib.common.urls import add_params_to_qs
from pydantic import SecretStr

from .base import ClientCredential

SecretAuthMethod = Literal["client_secret_post", "client_secret_basic"]


class ClientSecret(ClientCredential):
    def __init__(self, secret: SecretStr, auth_method: SecretAuthMethod, origin: str) -> None:
        self._secret = secret
        self._auth_method = auth_method
        self._origin = origin  # where the secret was read, for administrators

    @property
    def auth_method(self) -> str:
        return self._auth_method

    def authenticate(
        self, client_id: str, token_endpoint: str, headers: MutableMapping[str, str], body: str
    ) -> tuple[MutableMapping[str, str], str]:
        secret = self._secret.get_secret_value()
        if self._auth_method == "client_secret_post":
            return headers, add_params_to_qs(
                body, [("client_id", client_id), ("client_secret", secret)]
            )
        # Form-urlencoded before Base64, as RFC 6749 §2.3.1 says. Authlib sends them raw,
        # which providers such as Keycloak reject for secrets with '+', '%' or ':'.
        credentials = f"{quote_plus(client_id)}:{quote_plus(secret)}"
        headers["Authorization"] = "Basic " + base64.b64encode(credentials.encode()).decode()
        return headers, body

    def redacted_values(self) -> tuple[str, ...]:
        return (self._secret.get_secret_value(),)

    def public_description(self) -> dict[str, str]:
        return {"Kind": "ClientSecret", "ReadFrom": self._origin}

    def __repr__(self) -> str:
        return f"ClientSecret({self._auth_method})"
