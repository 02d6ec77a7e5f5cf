"""The token endpoint from a provider's metadata: OpenID Connect Discovery 1.0 (§4) or
OAuth 2.0 Authorization Server Metadata (RFC 8414), fetched once per server."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit, urlunsplit

from ... import keys
from ...errors import TokenRequestError
from ...redaction import sanitize_external_text
from ...url_policy import url_problem

OIDC_WELL_KNOWN = "/.well-known/openid-configuration"
RFC8414_WELL_KNOWN = "/.well-known/oauth-authorization-server"
# A value of the metadata, shown in an error: a URL or a method's name, not a page.
MAX_SHOWN_VALUE = 120
MAX_SHOWN_METHODS = 10
# RFC 8414 §2 and OpenID Connect Discovery §3: the default when the field is absent.
DEFAULT_AUTH_METHODS = ("client_secret_basic",)


def metadata_urls(issuer: str) -> list[str]:
    """Where the metadata may be, in the order to try: OpenID Connect appends the
    well-known path to the issuer; RFC 8414 inserts it before the issuer's path."""
    parts = urlsplit(issuer)
    path = parts.path.rstrip("/")
    return [
        issuer.rstrip("/") + OIDC_WELL_KNOWN,
        urlunsplit((parts.scheme, parts.netloc, RFC8414_WELL_KNOWN + path, "", "")),
    ]


def token_endpoint_from_metadata(
    issuer: str,
    url: str,
    body: bytes,
    auth_method: str,
    allow_http: bool,
    *,
    signing_algorithm: str | None = None,
) -> str:
    """Checks the metadata document and returns its token endpoint. ``signing_algorithm``
    is the private_key_jwt assertion's, None for the other methods."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        document = None
    if not isinstance(document, dict):
        raise TokenRequestError(
            f"the provider's metadata at {url} is not a JSON object", transient=True
        )
    announced = document.get("issuer")
    if not isinstance(announced, str) or announced.rstrip("/") != issuer.rstrip("/"):
        raise TokenRequestError(
            f"the provider's metadata at {url} names another issuer ({_shown(announced)}): "
            "Issuer must be the provider's issuer exactly",
            transient=False,
        )
    endpoint = document.get("token_endpoint")
    if not isinstance(endpoint, str) or not endpoint:
        raise TokenRequestError(
            f"the provider's metadata at {url} has no token_endpoint", transient=False
        )
    problem = url_problem(endpoint, allow_http)
    if problem is not None:
        raise TokenRequestError(
            f"the token endpoint {_shown(endpoint)} of the provider's metadata "
            f"{sanitize_external_text(problem, ())}",
            transient=False,
        )
    _check_supported(
        document.get("token_endpoint_auth_methods_supported", DEFAULT_AUTH_METHODS),
        auth_method,
        keys.CLIENT_AUTH_METHOD,
    )
    if signing_algorithm is not None:
        _check_supported(
            # Absent: the provider does not say; the token request will tell.
            document.get("token_endpoint_auth_signing_alg_values_supported", [signing_algorithm]),
            signing_algorithm,
            keys.CLIENT_ASSERTION_ALGORITHM,
        )
    return endpoint


def _check_supported(supported: object, chosen: str, key: str) -> None:
    if (
        isinstance(supported, Sequence)
        and not isinstance(supported, str)
        and chosen not in supported
    ):
        listed = ", ".join(_shown(value) for value in supported[:MAX_SHOWN_METHODS])
        if len(supported) > MAX_SHOWN_METHODS:
            listed += ", ..."
        raise TokenRequestError(
            f"the provider does not support {chosen} at its token endpoint "
            f"(it supports: {listed}): set {key} to one of them",
            transient=False,
        )


def _shown(value: object) -> str:
    """Text of the provider's metadata as an error shows it: printable, short; a value
    that is not text, by its JSON type."""
    if isinstance(value, str):
        return sanitize_external_text(value, ())[:MAX_SHOWN_VALUE] or "''"
    return "none" if value is None else f"<{type(value).__name__}>"


def discover_token_endpoint(
    issuer: str,
    auth_method: str,
    allow_http: bool,
    get: Callable[[str], tuple[int, bytes]],
    *,
    signing_algorithm: str | None = None,
) -> str:
    """Fetches the metadata with ``get(url) -> (status, body)`` and returns the token
    endpoint; a 404 at the OpenID Connect location falls back on RFC 8414's."""
    statuses = []
    for url in metadata_urls(issuer):
        status, body = get(url)
        if status == 200:
            return token_endpoint_from_metadata(
                issuer, url, body, auth_method, allow_http, signing_algorithm=signing_algorithm
            )
        statuses.append(f"{url}: HTTP {status}")
        if status != 404:
            break
    transient = any(not status.endswith(("404", "403", "401")) for status in statuses)
    raise TokenRequestError(
        "cannot read the provider's metadata (" + "; ".join(statuses) + ")", transient=transient
    )
