"""Turns a token endpoint's HTTP answer into an AccessToken or a clear TokenRequestError.

Real providers differ (see docs/configuration.md): ``expires_in`` may be a number, a
numeric string or missing; ``token_type`` comes in any case; errors follow RFC 6749 §5.2,
or arrive as an HTML page from a proxy. Nothing here prints a whole body.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from ...errors import TokenRequestError
from ...redaction import sanitize_external_text
from ...unverified_jwt import JsonValue
from ..access_token import AccessToken
from ..lifetime import token_lifetime
from ..transient import retry_after_seconds, status_is_transient

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
    secrets: Iterable[str],
    wall_clock: Callable[[], float] = time.time,
) -> AccessToken:
    document = _json_object(answer, secrets, wall_clock)
    if "error" in document:
        raise _oauth_error(answer, document, secrets, wall_clock)
    if not 200 <= answer.status < 300:
        raise _http_error(answer, secrets, wall_clock)
    return _access_token(document, default_lifetime, wall_clock)


def _json_object(
    answer: TokenHttpAnswer, secrets: Iterable[str], wall_clock: Callable[[], float]
) -> dict[str, JsonValue]:
    media_type = _media_type(answer)
    try:
        document = json.loads(answer.body)
    except (ValueError, UnicodeDecodeError):
        document = None
    except RecursionError:
        raise TokenRequestError(
            f"token endpoint answered HTTP {answer.status} with JSON nested too deeply",
            transient=True,
            http_status=answer.status,
        ) from None
    if isinstance(document, dict):
        return document
    if not 200 <= answer.status < 300:
        raise _http_error(answer, secrets, wall_clock)
    what = "an empty body" if not answer.body.strip() else f"{media_type}, not a JSON object"
    hint = " (a proxy or captive portal?)" if "html" in media_type else ""
    raise TokenRequestError(
        f"token endpoint answered HTTP {answer.status} with {what}{hint}",
        transient=True,
        http_status=answer.status,
    )


def _oauth_error(
    answer: TokenHttpAnswer,
    document: Mapping[str, JsonValue],
    secrets: Iterable[str],
    wall_clock: Callable[[], float],
) -> TokenRequestError:
    error = document["error"]
    code = (isinstance(error, str) and sanitize_external_text(error, secrets)) or "unknown_error"
    description = document.get("error_description")
    text = code
    if isinstance(description, str) and description.strip():
        text += f": {sanitize_external_text(description, secrets)}"
    if code in PERMANENT_OAUTH_ERRORS:
        transient = False
    elif code in TRANSIENT_OAUTH_ERRORS:
        transient = True
    else:
        transient = status_is_transient(answer.status)
    return TokenRequestError(
        f"{text} (HTTP {answer.status})",
        transient=transient,
        http_status=answer.status,
        oauth_error=code,
        retry_after=retry_after_seconds(answer.retry_after, wall_clock),
    )


def _media_type(answer: TokenHttpAnswer) -> str:
    media_type = answer.content_type.split(";")[0].strip().lower()
    return sanitize_external_text(media_type, ())[:80] or "no content type"


def _http_error(
    answer: TokenHttpAnswer, secrets: Iterable[str], wall_clock: Callable[[], float]
) -> TokenRequestError:
    media_type = _media_type(answer)
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
        transient=status_is_transient(answer.status),
        http_status=answer.status,
        retry_after=retry_after_seconds(answer.retry_after, wall_clock),
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
    return token_lifetime(value, document.get("expires_in"), default_lifetime, wall_clock)
