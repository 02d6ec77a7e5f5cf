"""Turns a token endpoint's HTTP answer into an AccessToken or a clear TokenRequestError.

Real providers differ (see docs/configuration.md): ``expires_in`` may be a number, a
numeric string or missing; ``token_type`` comes in any case; errors follow RFC 6749 §5.2,
or arrive as an HTML page from a proxy. Nothing here prints a whole body.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from ..errors import TokenRequestError
from ..redaction import sanitize_external_text
from ..unverified_jwt import JsonValue
from .access_token import AccessToken, LifetimeSource, read_jwt_claims

# RFC 6749 §5.2 codes that no retry will fix without an administrator.
PERMANENT_OAUTH_ERRORS = frozenset(
    {
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
        "access_denied",
    }
)
TRANSIENT_OAUTH_ERRORS = frozenset({"temporarily_unavailable", "server_error", "slow_down"})
TRANSIENT_HTTP_STATUSES = frozenset({408, 425, 429})
# A longer claimed lifetime is not trusted: the token is refreshed at least this often.
MAX_TRUSTED_LIFETIME = 86_400.0


@dataclass(frozen=True)
class TokenHttpAnswer:
    status: int
    content_type: str
    body: bytes
    retry_after: str | None = None
    location: str | None = None


def parse_token_answer(
    answer: TokenHttpAnswer,
    *,
    default_lifetime: float,
    secrets: Sequence[str],
    wall_clock: Callable[[], float] = time.time,
) -> AccessToken:
    document = _json_object(answer, secrets)
    if "error" in document:
        raise _oauth_error(answer, document, secrets)
    if not 200 <= answer.status < 300:
        raise _http_error(answer, secrets)
    return _access_token(document, default_lifetime, wall_clock)


def _json_object(answer: TokenHttpAnswer, secrets: Sequence[str]) -> dict[str, JsonValue]:
    media_type = answer.content_type.split(";")[0].strip().lower() or "no content type"
    try:
        document = json.loads(answer.body)
    except (ValueError, UnicodeDecodeError):
        document = None
    if isinstance(document, dict):
        return document
    if not 200 <= answer.status < 300:
        raise _http_error(answer, secrets)
    what = "an empty body" if not answer.body.strip() else f"{media_type}, not a JSON object"
    hint = " (a proxy or captive portal?)" if "html" in media_type else ""
    raise TokenRequestError(
        f"token endpoint answered HTTP {answer.status} with {what}{hint}",
        transient=True,
        http_status=answer.status,
    )


def _oauth_error(
    answer: TokenHttpAnswer, document: Mapping[str, JsonValue], secrets: Sequence[str]
) -> TokenRequestError:
    code = sanitize_external_text(str(document["error"]), secrets) or "unknown_error"
    description = document.get("error_description")
    text = code
    if isinstance(description, str) and description.strip():
        text += f": {sanitize_external_text(description, secrets)}"
    if code in PERMANENT_OAUTH_ERRORS:
        transient = False
    elif code in TRANSIENT_OAUTH_ERRORS:
        transient = True
    else:
        transient = _status_is_transient(answer.status)
    return TokenRequestError(
        f"{text} (HTTP {answer.status})",
        transient=transient,
        http_status=answer.status,
        oauth_error=code,
        retry_after=_retry_after_seconds(answer.retry_after),
    )


def _http_error(answer: TokenHttpAnswer, secrets: Sequence[str]) -> TokenRequestError:
    media_type = answer.content_type.split(";")[0].strip().lower() or "no content type"
    if 300 <= answer.status < 400:
        target = sanitize_external_text(answer.location or "nowhere", secrets)
        return TokenRequestError(
            f"token endpoint answered HTTP {answer.status}, a redirect to {target}: "
            "configure the final token endpoint URL",
            transient=False,
            http_status=answer.status,
        )
    return TokenRequestError(
        f"token endpoint answered HTTP {answer.status} ({media_type})",
        transient=_status_is_transient(answer.status),
        http_status=answer.status,
        retry_after=_retry_after_seconds(answer.retry_after),
    )


def _access_token(
    document: Mapping[str, JsonValue], default_lifetime: float, wall_clock: Callable[[], float]
) -> AccessToken:
    value = document.get("access_token")
    if not isinstance(value, str) or not value.strip():
        raise TokenRequestError("token endpoint answered without an access_token", transient=False)
    token_type = document.get("token_type", "Bearer")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        shown = token_type if isinstance(token_type, str) else type(token_type).__name__
        raise TokenRequestError(
            f"token endpoint issued a token of type {sanitize_external_text(shown, [value])!r}, "
            "not Bearer",
            transient=False,
        )
    claims = read_jwt_claims(value)
    lifetime, source, notes = _lifetime(
        document.get("expires_in"), claims, default_lifetime, wall_clock
    )
    return AccessToken(
        value=value,
        lifetime=lifetime,
        lifetime_source=source,
        claims=claims,
        notes=notes,
    )


def access_token_until(
    value: str, expires_at: float, wall_clock: Callable[[], float] = time.time
) -> AccessToken:
    """A token that a library handed over with its expiry (seconds since the epoch)
    rather than an answer to parse: the same checks as ``expires_in``."""
    if not value.strip():
        raise TokenRequestError("the identity endpoint issued an empty token", transient=False)
    claims = read_jwt_claims(value)
    # With a lifetime given, no default is ever assumed.
    lifetime, source, notes = _lifetime(expires_at - wall_clock(), claims, 0.0, wall_clock)
    return AccessToken(value, lifetime, source, claims, notes)


def _lifetime(
    expires_in: JsonValue,
    claims: Mapping[str, JsonValue] | None,
    default_lifetime: float,
    wall_clock: Callable[[], float],
) -> tuple[float, LifetimeSource, tuple[str, ...]]:
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
    return lifetime, source, tuple(notes)


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


def _status_is_transient(status: int) -> bool:
    return status >= 500 or status in TRANSIENT_HTTP_STATUSES


def _retry_after_seconds(header: str | None) -> float | None:
    """Retry-After as delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if header is None:
        return None
    header = header.strip()
    if header.isdigit():
        return float(header)
    try:
        moment = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())
