"""Removes secrets from text that comes from outside (a provider's error description, an
exception's message) before it reaches a log line, an error or an answer.

A server's source holds every secret it has sent or read since Orthanc started: the
secrets of its credential, those a rotation replaced included, and the values its requests
carried (a Basic header, a signed assertion). Text is redacted at the moment it is shown,
with all of them, in every form a provider or a library may echo them."""

from __future__ import annotations

import collections
import json
import threading
from collections.abc import Iterable, Iterator
from urllib.parse import quote, quote_plus

REDACTED = "[redacted]"
# Provider text is shown to administrators, not dumped: keep it short and on one line.
MAX_EXTERNAL_TEXT = 300
# Values a request carried once (a signed assertion lives a minute): the newest are kept.
BRIEF_VALUES_KEPT = 32


def forms(secret: str) -> set[str]:
    """The secret as it may come back: raw, URL-encoded as a form or a path carries it,
    escaped as JSON or as Python's repr of text or bytes shows it."""
    escaped = {
        quote_plus(secret),
        quote(secret, safe=""),
        json.dumps(secret)[1:-1],
        repr(secret)[1:-1],
        repr(secret.encode())[2:-1],
    }
    return {secret, *escaped} - {""}


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replaces every secret, in every form of ``forms``, by a marker; the longest first,
    so that no part of one is left."""
    every_form = {form for secret in secrets if secret for form in forms(secret)}
    for form in sorted(every_form, key=len, reverse=True):
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


class HeldSecrets:
    """Every secret a server's source has held, iterable at the moment of redacting."""

    def __init__(self) -> None:
        self._lasting: set[str] = set()
        self._brief: collections.deque[str] = collections.deque(maxlen=BRIEF_VALUES_KEPT)
        self._lock = threading.Lock()

    def hold(self, *values: str) -> None:
        """Secrets that last (a client secret, a private key): kept for good."""
        with self._lock:
            self._lasting.update(value for value in values if value)

    def hold_briefly(self, *values: str) -> None:
        """Values of one request (a signed assertion): the newest BRIEF_VALUES_KEPT kept."""
        with self._lock:
            self._brief.extend(value for value in values if value and value not in self._brief)

    def __iter__(self) -> Iterator[str]:
        with self._lock:
            return iter([*self._lasting, *self._brief])
