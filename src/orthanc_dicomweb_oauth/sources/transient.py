"""Which failed token requests are worth another try soon, for every source alike: a 5xx,
these HTTP statuses, and what a source names as its own exception; and how long the
provider asks to wait (``Retry-After``)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Collection
from email.utils import parsedate_to_datetime

# Request Timeout, Too Early and Too Many Requests: the provider asks for another try.
TRANSIENT_HTTP_STATUSES = frozenset({408, 425, 429})


def status_is_transient(status: int, also: Collection[int] = ()) -> bool:
    """``also``: the statuses a source's own endpoint answers while it gets ready."""
    return status >= 500 or status in TRANSIENT_HTTP_STATUSES or status in also


def retry_after_seconds(
    header: str | None, wall_clock: Callable[[], float] = time.time
) -> float | None:
    """Retry-After as delta-seconds or an HTTP date (RFC 9110 §10.2.3); None when it is
    neither (a digit of another script, a date no calendar holds)."""
    if header is None:
        return None
    header = header.strip()
    if header.isascii() and header.isdigit():
        seconds = float(header)
        return seconds if math.isfinite(seconds) else None
    try:
        moment = parsedate_to_datetime(header)
        return max(0.0, moment.timestamp() - wall_clock())
    except (TypeError, ValueError, OverflowError, IndexError):
        return None
