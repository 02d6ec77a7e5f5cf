"""A JWT issued by a third party, read from a file at every token request and sent as the
client's assertion (RFC 7523 §2.2): a Kubernetes projected service-account token, as Entra
ID workload identity federation uses it. No secret of the client's own anywhere; kubelet
rotates the file."""

from __future__ import annotations

import time
from collections.abc import Callable, MutableMapping

from authlib.common.urls import add_params_to_qs

from ..descriptions import CredentialDescription, iso, moment
from ..errors import CredentialError
from ..keys import CLIENT_ASSERTION_FILE as KEY
from ..unverified_jwt import JsonValue, jwt_parts
from .base import ASSERTION_TYPE, ClientCredential, CredentialChange
from .secret_sources import read_credential_file
from .watched_file import WatchedFile


def open_assertion_file(path: str) -> ClientAssertionFile:
    """The assertion file. It is read at each token request: one not usable yet (a mount
    that comes late) is said then, and looked at again until it is."""
    return ClientAssertionFile(path)


class ClientAssertionFile(ClientCredential):
    def __init__(self, path: str, wall_clock: Callable[[], float] = time.time) -> None:
        self._path = path
        self._wall_clock = wall_clock
        self._watched = WatchedFile(path)

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
        if expiry is not None and expiry <= self._wall_clock():
            raise CredentialError(
                f"file {self._path} holds a JWT that expired at {_when(expiry)}: whatever "
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

    def reload(self) -> list[CredentialChange]:
        """Whether the file changed: read at the next request anyway, a new assertion
        (or a file that is there at last) is worth a token request at once."""
        return [CredentialChange(KEY, self._path)] if self._watched.changed() else []

    def read(self) -> str:
        """The assertion as the file holds it now."""
        assertion = read_credential_file(self._path, key=KEY).strip()
        if not assertion:
            raise CredentialError(f"file {self._path} is empty", key=KEY)
        return assertion

    def description(self) -> CredentialDescription:
        """The file, and who the assertion says the client is, until when: its claims,
        never the assertion."""
        try:
            _, claims = self._jwt()
        except CredentialError as error:
            return CredentialDescription(KEY, file=self._path, error=str(error))
        return CredentialDescription(
            KEY,
            file=self._path,
            issuer=_text(claims.get("iss")),
            subject=_text(claims.get("sub")),
            audience=_text(claims.get("aud")),
            expires_at=moment(claims.get("exp")),
        )

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
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return float(value)
    except OverflowError:  # an integer of hundreds of digits
        return None


def _text(value: JsonValue) -> str | None:
    return value if isinstance(value, str) else None


def _when(seconds: float) -> str:
    when = moment(seconds)
    return f"{seconds:g} (seconds since 1970)" if when is None else iso(when)
