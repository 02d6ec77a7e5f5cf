"""A ratio measured round after round, with how far its noise goes, and a verdict that
says so when the noise covers the goal: a table that does not flip between runs."""

from __future__ import annotations

import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

RESAMPLES = 2000


@dataclass(frozen=True)
class Ratio:
    """The median of per-round ratios, and the 95 % interval of that median (bootstrap:
    the rounds drawn again with replacement)."""

    median: float
    low: float
    high: float
    rounds: int

    def shown(self) -> str:
        return f"{self.median:.3f} ({self.low:.3f} to {self.high:.3f})"


def paired_ratio(numerators: Sequence[float], denominators: Sequence[float]) -> Ratio:
    """Each round's numerator over the same round's denominator: the arms alternate within
    a round, so a round's drift touches both."""
    ratios = [above / below for above, below in zip(numerators, denominators, strict=True)]
    if len(ratios) < 2:
        only = ratios[0]
        return Ratio(only, only, only, len(ratios))
    rng = random.Random(len(ratios))  # the same figures give the same interval
    medians = sorted(
        statistics.median(rng.choices(ratios, k=len(ratios))) for _ in range(RESAMPLES)
    )
    return Ratio(
        statistics.median(ratios),
        medians[int(0.025 * RESAMPLES)],
        medians[int(0.975 * RESAMPLES) - 1],
        len(ratios),
    )


def verdict(ratio: Ratio, at_least: float) -> str:
    """ "yes" when the whole interval meets the goal, "NO" when none of it does, "within
    noise" when it straddles the goal."""
    if ratio.low >= at_least:
        return "yes"
    if ratio.high < at_least:
        return "NO"
    return "within noise"
