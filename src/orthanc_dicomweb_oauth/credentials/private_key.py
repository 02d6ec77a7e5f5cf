"""A private key the client signs a JWT assertion with at each token request
(``private_key_jwt``, RFC 7523 §2.2), with the public values that identify it at the
provider. ``key_loader`` reads and checks it, from an environment variable or a file (with
its certificate, read again when they change).

Nothing here imports cryptography or joserfc at module level: Orthanc loads them only for
servers that use private_key_jwt.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from authlib.common.urls import add_params_to_qs

from .. import keys
from ..descriptions import CertificateDescription, CredentialDescription
from .base import ASSERTION_TYPE, ClientCredential, CredentialWarning

if TYPE_CHECKING:
    from joserfc.jwk import ECKey, RSAKey

AssertionAlgorithm = Literal["RS256", "PS256", "ES256"]
ThumbprintHeader = Literal["x5t#S256", "x5t"]
ALL_THUMBPRINT_HEADERS: tuple[ThumbprintHeader, ...] = ("x5t#S256", "x5t")
# Lifetime of an assertion: long enough for clock skew, short enough that a captured one
# is soon useless (Entra ID accepts up to 10 minutes).
ASSERTION_LIFETIME = 60
CERTIFICATE_EXPIRY_WARNING = timedelta(days=30)
KIND = "PrivateKey"


@dataclass(frozen=True)
class PrivateKeySettings:
    """Where the key is (exactly one of ``variable``, ClientPrivateKeyEnv, and ``file``,
    ClientPrivateKeyFile), how the assertion names it, and its certificate."""

    algorithm: AssertionAlgorithm
    key_id: str | None = None
    variable: str | None = None
    file: str | None = None
    certificate_file: str | None = None
    thumbprint_headers: Sequence[ThumbprintHeader] = ALL_THUMBPRINT_HEADERS

    @property
    def key(self) -> str:
        """The configuration key the key is read from."""
        return (
            keys.CLIENT_PRIVATE_KEY_ENV
            if self.variable is not None
            else keys.CLIENT_PRIVATE_KEY_FILE
        )


class PrivateKey(ClientCredential):
    def __init__(
        self,
        key: RSAKey | ECKey,
        *,
        algorithm: AssertionAlgorithm,
        key_id: str | None,
        thumbprints: Mapping[str, str],
        certificate_thumbprint: str | None,
        certificate_not_after: datetime | None,
    ) -> None:
        self._key = key
        self._algorithm: AssertionAlgorithm = algorithm
        self._key_id = key_id
        # JWS header name -> base64url thumbprint of the certificate (public values).
        self._thumbprints = dict(thumbprints)
        # SHA-1 in hex, as Entra ID's portal shows the certificate's "Thumbprint".
        self._certificate_thumbprint = certificate_thumbprint
        self._certificate_not_after = certificate_not_after

    @property
    def auth_method(self) -> str:
        return "private_key_jwt"

    @property
    def signing_algorithm(self) -> str:
        return self._algorithm

    def authenticate(
        self, client_id: str, token_endpoint: str, headers: MutableMapping[str, str], body: str
    ) -> tuple[MutableMapping[str, str], str]:
        """Authlib signs the assertion: iss = sub = the client id, aud = the token
        endpoint, a new ``jti`` each time. ``client_id`` goes into the form too: Entra ID
        requires it, RFC 7521 §4.2 allows it."""
        # Loaded already with the key (joserfc, cryptography): the import costs nothing.
        from authlib.oauth2.rfc7523 import private_key_jwt_sign  # noqa: PLC0415

        assertion: str = private_key_jwt_sign(
            self._key,
            client_id=client_id,
            token_endpoint=token_endpoint,
            alg=self._algorithm,
            header=self._jws_header(),
            expires_in=ASSERTION_LIFETIME,
        )
        return headers, add_params_to_qs(
            body,
            [
                ("client_assertion_type", ASSERTION_TYPE),
                ("client_assertion", assertion),
                ("client_id", client_id),
            ],
        )

    def _jws_header(self) -> dict[str, str]:
        """The assertion's header besides ``alg``: what lets the provider find the key."""
        header = dict(self._thumbprints)
        if self._key_id is not None:
            header["kid"] = self._key_id
        return header

    def description(self) -> CredentialDescription:
        certificate = None
        if self._certificate_thumbprint is not None and self._certificate_not_after is not None:
            certificate = CertificateDescription(
                self._certificate_thumbprint, self._certificate_not_after, tuple(self._thumbprints)
            )
        return CredentialDescription(
            KIND, algorithm=self._algorithm, key_id=self._key_id, certificate=certificate
        )

    def warnings(self, now: datetime) -> list[CredentialWarning]:
        not_after = self._certificate_not_after
        if not_after is None or not_after - now > CERTIFICATE_EXPIRY_WARNING:
            return []
        when = not_after.isoformat(timespec="seconds")
        state = "expired on" if not_after <= now else "expires on"
        return [
            CredentialWarning(
                keys.CLIENT_CERTIFICATE_FILE,
                f"the certificate {state} {when}: upload a new one to the provider and "
                "configure it",
            )
        ]

    def __repr__(self) -> str:
        return f"PrivateKey({self._algorithm}, key id {self._key_id!r})"
