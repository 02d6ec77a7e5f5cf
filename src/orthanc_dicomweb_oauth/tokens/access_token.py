"""An access token as this package holds it, and the unverified JWT claims worth showing.

Only the resource server validates the token; the claims are read here without
verification, for the expiry when ``expires_in`` is missing and for administrators
debugging access. The token value never appears in a repr.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

LifetimeSource = Literal["expires_in", "jwt_exp", "default"]

# Claims that say who issued the token, for whom, with which rights, and until when.
DISPLAYED_CLAIMS = (
    "iss",
    "aud",
    "sub",
    "azp",
    "client_id",
    "appid",
    "tid",
    "scp",
    "scope",
    "roles",
    "iat",
    "nbf",
    "exp",
)
JsonValue = str | int | float | bool | None | list["JsonValue"] | dict[str, "JsonValue"]


@dataclass(frozen=True)
class AccessToken:
    value: str = field(repr=False)
    lifetime: float
    lifetime_source: LifetimeSource
    claims: Mapping[str, JsonValue] | None = field(default=None, repr=False)
    notes: tuple[str, ...] = ()

    def authorization_header(self) -> str:
        return f"Bearer {self.value}"

    def __str__(self) -> str:
        return repr(self)


def read_jwt_claims(token: str) -> dict[str, JsonValue] | None:
    """The payload of a JWS compact serialization, unverified; None when the token is
    not a JWT (an opaque token). Three dot-separated base64url parts, the middle one a
    JSON object: done here because joserfc's reader loads cryptography (~7 MiB resident)
    for a split and a decode, and nothing here verifies the signature."""
    parts = token.split(".")
    if len(parts) != 3 or not all(parts):
        return None
    try:
        header = json.loads(_base64url_decode(parts[0]))
        payload = json.loads(_base64url_decode(parts[1]))
    except (ValueError, UnicodeError, binascii.Error):
        return None
    if not isinstance(header, dict) or not isinstance(payload, dict):
        return None
    return payload


def _base64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def displayed_claims(claims: Mapping[str, JsonValue]) -> dict[str, JsonValue]:
    return {name: claims[name] for name in DISPLAYED_CLAIMS if name in claims}
