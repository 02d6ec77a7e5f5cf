"""The header and claims of a JWT, read without verifying its signature: for what the
package shows administrators (who a token or an assertion is for, until when) and for a
token's expiry when the provider does not say. Only the resource server and the provider
verify; nothing here decides access.

Written here because joserfc's reader loads cryptography (~7 MiB resident) for a split and
a decode.
"""

from __future__ import annotations

import base64
import binascii
import json

JsonValue = str | int | float | bool | None | list["JsonValue"] | dict[str, "JsonValue"]


def jwt_parts(token: str) -> tuple[dict[str, JsonValue], dict[str, JsonValue]] | None:
    """The header and the payload of a JWS compact serialization; None when the text is
    not a JWT (three dot-separated base64url parts, the first two JSON objects)."""
    parts = token.split(".")
    if len(parts) != 3 or not all(parts):
        return None
    try:
        header = json.loads(_base64url_decode(parts[0]))
        payload = json.loads(_base64url_decode(parts[1]))
    except (ValueError, UnicodeError, binascii.Error, RecursionError):
        return None
    if not isinstance(header, dict) or not isinstance(payload, dict):
        return None
    return header, payload


def _base64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
