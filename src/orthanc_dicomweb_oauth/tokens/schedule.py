"""When to refresh a token, and when to try again after a failure."""

from __future__ import annotations

import random
from dataclasses import dataclass

from ..config.settings import RefreshSettings
from ..errors import TokenRequestError

# Refreshes land up to this fraction of the margin earlier, so that many servers
# started together do not refresh together.
REFRESH_JITTER = 0.1


@dataclass(frozen=True)
class Schedule:
    settings: RefreshSettings
    rng: random.Random

    def refresh_after(self, lifetime: float) -> float:
        """Seconds after the request started at which to refresh a token of this
        lifetime: margin proportional to the lifetime, at least the minimum margin,
        at most half the lifetime."""
        margin = max(self.settings.margin_ratio * lifetime, self.settings.minimum_margin)
        margin = min(margin, lifetime / 2)
        margin *= 1 + REFRESH_JITTER * self.rng.random()
        return lifetime - margin

    def retry_after(
        self, error: TokenRequestError, consecutive_failures: int, valid_for: float | None
    ) -> float:
        """Seconds to wait after a failed request. Transient failures back off
        exponentially with jitter: while a cached token is still valid, up to
        RetryMaxDelay and at least twice before it expires; once none is, up to
        RetryMaxDelayWithoutToken, since every second without a token is a failed transfer.
        A Retry-After from the provider is always honoured. Permanent failures wait long:
        they need an administrator."""
        settings = self.settings
        if not error.transient:
            return settings.permanent_error_retry_delay * self.rng.uniform(0.9, 1.1)
        if valid_for is not None and valid_for > 0:
            longest = settings.retry_max_delay
        else:
            longest, valid_for = settings.retry_max_delay_without_token, None
        exponent = min(consecutive_failures - 1, 32)
        ceiling = min(longest, settings.retry_initial_delay * 2.0**exponent)
        delay = self.rng.uniform(ceiling / 2, ceiling)
        if valid_for is not None:
            delay = min(delay, max(valid_for / 2, settings.retry_initial_delay))
        if error.retry_after is not None:
            delay = max(delay, min(error.retry_after, settings.permanent_error_retry_delay))
        return delay
