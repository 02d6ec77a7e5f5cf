"""private_key_jwt client authentication (RFC 7523 §2.2) through Authlib's signer.

Imported only for servers that use private_key_jwt: Authlib's signer loads joserfc and
cryptography.
"""

from __future__ import annotations

from typing import Any

from authlib.common.urls import add_params_to_qs
from authlib.oauth2.rfc7523 import PrivateKeyJWT, private_key_jwt_sign

from .client_signing_key import ClientSigningKey

# Lifetime of an assertion: long enough for clock skew, short enough that a captured one
# is soon useless (Entra ID accepts up to 10 minutes).
ASSERTION_LIFETIME = 60


class SignedAssertion(PrivateKeyJWT):  # type: ignore[misc]  # Authlib is untyped
    """private_key_jwt through Authlib's signer, with a short ``exp``, the configured key
    id and certificate thumbprints in the header, and ``client_id`` in the form too
    (Entra ID requires it; RFC 7521 §4.2 allows it). Authlib adds a new ``jti`` each time
    and sets ``aud`` to the token endpoint the request goes to."""

    def __init__(self, signing_key: ClientSigningKey) -> None:
        super().__init__(alg=signing_key.algorithm)
        self._header = signing_key.jws_header()

    def sign(self, auth: Any, token_endpoint: str) -> str:
        assertion: str = private_key_jwt_sign(
            auth.client_secret,
            client_id=auth.client_id,
            token_endpoint=token_endpoint,
            alg=self.alg,
            header=dict(self._header),
            expires_in=ASSERTION_LIFETIME,
        )
        return assertion

    def __call__(
        self, auth: Any, method: str, uri: str, headers: dict[str, str], body: str
    ) -> tuple[str, dict[str, str], str]:
        uri, headers, body = super().__call__(auth, method, uri, headers, body)
        return uri, headers, add_params_to_qs(body, [("client_id", auth.client_id)])
