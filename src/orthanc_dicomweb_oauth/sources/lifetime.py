"""A token as every source hands it over: its value checked as a bearer token's, and how
long it is used: the provider's ``expires_in``, else the JWT's ``exp``, else a configured
default; the shorter of the first two when both are given; never beyond a day, never under
a second. A number no float holds is the provider's fault, retried like an outage."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping

from ..errors import TokenRequestError
from ..unverified_jwt import JsonValue
from .access_token import AccessToken, LifetimeSource, check_bearer_syntax, read_jwt_claims

# A longer claimed lifetime is not trusted: the token is refreshed at least this often.
MAX_TRUSTED_LIFETIME = 86_400.0
# A shorter one cannot be used: a request would outlive its token.
MIN_USABLE_LIFETIME = 1.0


def token_lifetime(
    value: str,
    expires_in: JsonValue,
    default_lifetime: float,
    wall_clock: Callable[[], float] = time.time,
) -> AccessToken:
    """The token, with the lifetime the rules give from the provider's ``expires_in`` (a
    number or a numeric string), its claims and ``default_lifetime``. Raises
    TokenRequestError for a token that is not a bearer token's characters, or already
    expired, or too short-lived to use."""
    check_bearer_syntax(value)
    claims = read_jwt_claims(value)
    notes: list[str] = []
    source: LifetimeSource
    jwt_remaining = _jwt_remaining(claims, wall_clock)
    claimed = _number(expires_in, "expires_in")
    if expires_in is not None and claimed is None:
        notes.append("expires_in is not a number; ignored")
    if claimed is not None and claimed < MIN_USABLE_LIFETIME:
        # The provider's own answer, whatever the clocks: a provider in trouble, retried
        # like an outage, not left for an administrator.
        state = "already expired" if claimed <= 0 else "too short to use"
        raise TokenRequestError(
            f"token endpoint issued a token with expires_in {claimed:g}: {state}",
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
    if lifetime < MIN_USABLE_LIFETIME:
        raise TokenRequestError(
            f"token endpoint issued a token whose JWT exp leaves {lifetime:.3f} s: too short "
            "to use",
            transient=True,
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
    exp = _number(claims.get("exp"), "the JWT's exp")
    return None if exp is None else exp - wall_clock()


def _number(value: JsonValue, what: str) -> float | None:
    """The value as a number, None when it is not one; raises TokenRequestError for a
    number no float holds."""
    if isinstance(value, bool):
        return None
    try:
        if isinstance(value, int | float):
            number = float(value)
        elif isinstance(value, str):
            number = float(value.strip())
        else:
            return None
    except ValueError:
        return None
    except OverflowError:  # an integer of hundreds of digits
        number = math.inf
    if not math.isfinite(number):
        raise TokenRequestError(
            f"token endpoint issued a token with {what} that is not a finite number",
            transient=True,
        )
    return number
