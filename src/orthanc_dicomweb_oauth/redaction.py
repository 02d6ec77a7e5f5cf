"""Removes secrets from text that comes from outside (a provider's error description,
an exception's message) before it reaches a log line, an error or an answer."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import quote, quote_plus

REDACTED = "[redacted]"
# Provider text is shown to administrators, not dumped: keep it short and on one line.
MAX_EXTERNAL_TEXT = 300


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replaces every secret, raw or URL-encoded as a form would carry it, by a marker."""
    for secret in secrets:
        if not secret:
            continue
        for form in {secret, quote_plus(secret), quote(secret, safe="")}:
            text = text.replace(form, REDACTED)
    return text


def sanitize_external_text(text: str, secrets: Iterable[str]) -> str:
    """Makes provider-supplied text safe to log: secrets removed, control characters
    replaced (no forged log lines), length bounded."""
    cleaned = "".join(ch if ch.isprintable() else " " for ch in redact(text, secrets))
    cleaned = " ".join(cleaned.split())
    if len(cleaned) > MAX_EXTERNAL_TEXT:
        cleaned = cleaned[: MAX_EXTERNAL_TEXT - 3] + "..."
    return cleaned
