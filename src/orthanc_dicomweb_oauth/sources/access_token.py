"""An access token as this package holds it, and the unverified JWT claims worth showing.

Only the resource server validates the token; the claims are read here without
verification, for the expiry when ``expires_in`` is missing and for administrators
debugging access. The token value never appears in a repr.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from ..errors import TokenRequestError
from ..unverified_jwt import JsonValue, jwt_parts

LifetimeSource = Literal["expires_in", "jwt_exp", "default"]

# RFC 6750 §2.1: what a bearer token is made of. Anything else would go into the HTTP
# header the DICOMweb plugin sends as it is: a CR LF adds a header of the provider's.
B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")

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


def check_bearer_syntax(value: str) -> None:
    """Raises TokenRequestError (the provider's fault, worth another try) for a token
    that is not RFC 6750's ``b64token``; the token is never shown."""
    if not B64TOKEN.fullmatch(value):
        raise TokenRequestError(
            f"the provider issued an access token of {len(value)} characters that are not all "
            "those of a bearer token (RFC 6750: letters, digits, -._~+/ and = at the end): "
            "refused",
            transient=True,
        )


def read_jwt_claims(token: str) -> dict[str, JsonValue] | None:
    """The token's claims, unverified; None when it is opaque, not a JWT."""
    parts = jwt_parts(token)
    return None if parts is None else parts[1]


def displayed_claims(claims: Mapping[str, JsonValue]) -> dict[str, JsonValue]:
    return {name: claims[name] for name in DISPLAYED_CLAIMS if name in claims}
