"""The private key a client signs its ``private_key_jwt`` assertions with (RFC 7523 §2.2),
as loaded and checked at start by ``client_key_loader``, with the public values that
identify it at the provider.

Nothing here imports cryptography: Orthanc loads it only for servers that use
private_key_jwt.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from joserfc.jwk import ECKey, RSAKey

AssertionAlgorithm = Literal["RS256", "PS256", "ES256"]
ThumbprintHeader = Literal["x5t#S256", "x5t"]


class SigningKeyError(Exception):
    """The key or certificate cannot be used; the message says why, without the key."""

    def __init__(self, message: str, about_certificate: bool = False) -> None:
        super().__init__(message)
        self.about_certificate = about_certificate


@dataclass(frozen=True)
class ClientSigningKey:
    key: RSAKey | ECKey = field(repr=False)
    algorithm: AssertionAlgorithm
    key_id: str | None
    # JWS header name -> base64url thumbprint of the certificate (public values).
    thumbprints: Mapping[str, str]
    # SHA-1 in hex, as Entra ID's portal shows the certificate's "Thumbprint".
    certificate_thumbprint: str | None
    certificate_not_after: datetime | None

    def jws_header(self) -> dict[str, str]:
        """The assertion's header besides ``alg``: what lets the provider find the key."""
        header = dict(self.thumbprints)
        if self.key_id is not None:
            header["kid"] = self.key_id
        return header

    def public_description(self) -> dict[str, str]:
        """What identifies the key at the provider, for `check` and the status: public
        values only."""
        description: dict[str, str] = {"Algorithm": self.algorithm}
        if self.key_id is not None:
            description["KeyId"] = self.key_id
        if self.certificate_thumbprint is not None and self.certificate_not_after is not None:
            description["CertificateThumbprint"] = self.certificate_thumbprint
            description["CertificateNotAfter"] = self.certificate_not_after.isoformat(
                timespec="seconds"
            )
            description["ThumbprintHeaders"] = ", ".join(self.thumbprints)
        return description
