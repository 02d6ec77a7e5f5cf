"""How long a token is used: the provider's ``expires_in``, else the JWT's ``exp``, else a
configured default; the shorter of the first two when both are given; never beyond a day.
One set of rules for every source."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping

from ..errors import TokenRequestError
from ..unverified_jwt import JsonValue
from .access_token import AccessToken, LifetimeSource, read_jwt_claims

# A longer claimed lifetime is not trusted: the token is refreshed at least this often.
MAX_TRUSTED_LIFETIME = 86_400.0


def token_lifetime(
    value: str,
    expires_in: JsonValue,
    default_lifetime: float,
    wall_clock: Callable[[], float] = time.time,
) -> AccessToken:
    """The token, with the lifetime the rules give from the provider's ``expires_in`` (a
    number or a numeric string), its claims and ``default_lifetime``. Raises
    TokenRequestError for a token already expired."""
    claims = read_jwt_claims(value)
    notes: list[str] = []
    source: LifetimeSource
    jwt_remaining = _jwt_remaining(claims, wall_clock)
    claimed = _number(expires_in)
    if expires_in is not None and claimed is None:
        notes.append("expires_in is not a number; ignored")
    if claimed is not None and claimed <= 0:
        # The provider's own answer, whatever the clocks: a provider in trouble, retried
        # like an outage, not left for an administrator.
        raise TokenRequestError(
            f"token endpoint issued a token with expires_in {claimed:g}: already expired",
            transient=True,
        )
    if claimed is not None:
        lifetime, source = claimed, "expires_in"
        if jwt_remaining is not None and jwt_remaining < claimed:
            lifetime = jwt_remaining
    elif jwt_remaining is not None:
        lifetime, source = jwt_remaining, "jwt_exp"
        if expires_in is None:
            notes.append("no expires_in in the answer; using the JWT's exp claim")
    else:
        lifetime, source = default_lifetime, "default"
        notes.append(
            f"no usable expires_in and no JWT exp; assuming {default_lifetime:g} s "
            "(DefaultTokenLifetime)"
        )
    if lifetime <= 0:
        raise TokenRequestError(
            "token endpoint issued a token whose JWT exp has already passed", transient=False
        )
    if lifetime > MAX_TRUSTED_LIFETIME:
        notes.append(f"claimed lifetime {lifetime:g} s capped to {MAX_TRUSTED_LIFETIME:g} s")
        lifetime = MAX_TRUSTED_LIFETIME
    return AccessToken(value, lifetime, source, claims, tuple(notes))


def token_until(
    value: str, expires_at: float, wall_clock: Callable[[], float] = time.time
) -> AccessToken:
    """A token that a library handed over with its expiry (seconds since the epoch)
    rather than an answer to parse: the same rules as ``expires_in``."""
    if not value.strip():
        raise TokenRequestError("the identity endpoint issued an empty token", transient=False)
    # With a lifetime given, no default is ever assumed.
    return token_lifetime(value, expires_at - wall_clock(), 0.0, wall_clock)


def _jwt_remaining(
    claims: Mapping[str, JsonValue] | None, wall_clock: Callable[[], float]
) -> float | None:
    if claims is None:
        return None
    exp = _number(claims.get("exp"))
    return None if exp is None else exp - wall_clock()


def _number(value: JsonValue) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None
