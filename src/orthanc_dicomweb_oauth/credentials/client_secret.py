"""A shared client secret, sent in the token request's form (``client_secret_post``) or in
an HTTP Basic header (``client_secret_basic``), RFC 6749 §2.3.1; read from the configuration,
an environment variable or a file, the file read again when it changes."""

from __future__ import annotations

import base64
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote_plus

from authlib.common.urls import add_params_to_qs
from pydantic import SecretStr

from .. import keys
from ..descriptions import CredentialDescription
from ..errors import CredentialError
from .base import ClientCredential
from .reloading import watched_credential
from .secret_sources import secret_from_environment, secret_from_file

SecretAuthMethod = Literal["client_secret_post", "client_secret_basic"]
KIND = "ClientSecret"


@dataclass(frozen=True)
class ClientSecretSettings:
    """Where the secret is: exactly one of ``value`` (ClientSecret), ``variable``
    (ClientSecretEnv) and ``file`` (ClientSecretFile)."""

    auth_method: SecretAuthMethod
    value: SecretStr | None = None
    variable: str | None = None
    file: str | None = None

    @property
    def key(self) -> str:
        """The configuration key the secret is read from."""
        if self.variable is not None:
            return keys.CLIENT_SECRET_ENV
        if self.file is not None:
            return keys.CLIENT_SECRET_FILE
        return keys.CLIENT_SECRET

    @property
    def origin(self) -> str:
        """Where the secret is read, for administrators."""
        if self.variable is not None:
            return f"environment variable {self.variable}"
        if self.file is not None:
            return f"file {self.file}"
        return f"the configuration ({keys.CLIENT_SECRET})"


def load_client_secret(
    settings: ClientSecretSettings, environ: Mapping[str, str]
) -> ClientCredential:
    """The secret where the settings say; raises CredentialError naming the key."""

    def load() -> ClientCredential:
        return ClientSecret(_secret(settings, environ), settings.auth_method, settings.origin)

    files = [(keys.CLIENT_SECRET_FILE, settings.file)] if settings.file is not None else []
    return watched_credential(
        load,
        files,
        key=settings.key,
        auth_method=settings.auth_method,
        signing_algorithm=None,
        kind=KIND,
    )


def _secret(settings: ClientSecretSettings, environ: Mapping[str, str]) -> SecretStr:
    if settings.variable is not None:
        return secret_from_environment(settings.variable, environ)
    if settings.file is not None:
        return secret_from_file(settings.file)
    if settings.value is None or not settings.value.get_secret_value().strip():
        raise CredentialError("is empty")
    return settings.value


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

    def description(self) -> CredentialDescription:
        return CredentialDescription(KIND, read_from=self._origin)

    def __repr__(self) -> str:
        return f"ClientSecret({self._auth_method})"
