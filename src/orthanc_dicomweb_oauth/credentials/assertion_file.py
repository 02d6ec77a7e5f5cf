"""A JWT issued by a third party, read from a file at every token request and sent as the
client's assertion (RFC 7523 §2.2): a Kubernetes projected service-account token, as Entra
ID workload identity federation uses it. No secret of the client's own anywhere; kubelet
rotates the file."""

from __future__ import annotations

import time
from collections.abc import MutableMapping
from datetime import UTC, datetime

from authlib.common.urls import add_params_to_qs

from ..errors import CredentialError
from ..unverified_jwt import JsonValue, jwt_parts
from .base import ASSERTION_TYPE, ClientCredential
from .secret_sources import read_credential_file

KEY = "ClientAssertionFile"


class ClientAssertionFile(ClientCredential):
    def __init__(self, path: str) -> None:
        self._path = path

    @property
    def auth_method(self) -> str:
        # What providers' metadata call a JWT assertion authenticating the client.
        return "private_key_jwt"

    @property
    def signing_algorithm(self) -> str | None:
        header, _ = self._jwt()
        algorithm = header.get("alg")
        return algorithm if isinstance(algorithm, str) else None

    def authenticate(
        self, client_id: str, token_endpoint: str, headers: MutableMapping[str, str], body: str
    ) -> tuple[MutableMapping[str, str], str]:
        assertion = self.read()
        _, claims = self._jwt(assertion)
        expiry = _number(claims.get("exp"))
        if expiry is not None and expiry <= time.time():
            raise CredentialError(
                f"file {self._path} holds a JWT that expired at {_iso(expiry)}: whatever "
                "writes it (kubelet, for a projected service-account token) has stopped "
                "renewing it",
                key=KEY,
            )
        return headers, add_params_to_qs(
            body,
            [
                ("client_assertion_type", ASSERTION_TYPE),
                ("client_assertion", assertion),
                ("client_id", client_id),
            ],
        )

    def read(self) -> str:
        """The assertion as the file holds it now."""
        assertion = read_credential_file(self._path, key=KEY).strip()
        if not assertion:
            raise CredentialError(f"file {self._path} is empty", key=KEY)
        return assertion

    def redacted_values(self) -> tuple[str, ...]:
        try:
            return (self.read(),)
        except CredentialError:
            return ()

    def public_description(self) -> dict[str, str]:
        """The file, and who the assertion says the client is, until when: its claims,
        never the assertion."""
        description = {"Kind": KEY, "File": self._path}
        try:
            _, claims = self._jwt()
        except CredentialError as error:
            return {**description, "Error": str(error)}
        for claim, name in (("iss", "Issuer"), ("sub", "Subject"), ("aud", "Audience")):
            value = claims.get(claim)
            if isinstance(value, str):
                description[name] = value
        expiry = _number(claims.get("exp"))
        if expiry is not None:
            description["ExpiresAt"] = _iso(expiry)
        return description

    def check_lines(self) -> list[str]:
        description = self.public_description()
        if "Error" in description:
            return [f"client assertion: {description['Error']}"]
        said = ", ".join(
            f"{word} {description[name]}"
            for name, word in (
                ("Issuer", "issuer"),
                ("Subject", "subject"),
                ("ExpiresAt", "expires"),
            )
            if name in description
        )
        return [f"client assertion: {said}"]

    def _jwt(
        self, assertion: str | None = None
    ) -> tuple[dict[str, JsonValue], dict[str, JsonValue]]:
        parts = jwt_parts(assertion if assertion is not None else self.read())
        if parts is None:
            raise CredentialError(f"file {self._path} does not hold a JWT", key=KEY)
        return parts

    def __repr__(self) -> str:
        return f"ClientAssertionFile({self._path!r})"


def _number(value: JsonValue) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")
