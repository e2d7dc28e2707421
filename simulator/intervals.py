"""Confidence intervals for a proportion: the one place Monte Carlo and the testing of real
implementations take them from.

Consumes: k successes in n trials, a confidence.
Produces: two-sided intervals: :func:`clopper_pearson` (exact: its coverage is at least the
confidence for every true proportion, which is what Monte Carlo reports and measurements use)
and :func:`wilson` (the score interval; shorter, but below its confidence near 0 and 1, where a
rare harm lives: one success in n trials gives a lower bound of 0.18/n at 95%, where the true
proportion can be 0.025/n).

SciPy is imported on first use, so importing this module costs nothing.
"""

from __future__ import annotations

import math

from libet.errors import UsageError


def _check(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise UsageError(f"the confidence must lie in (0, 1), not {confidence}")


def z_value(confidence: float) -> float:
    """The two-sided normal quantile for ``confidence`` (e.g. 1.96 for 0.95)."""
    from scipy.stats import norm

    _check(confidence)
    return float(norm.ppf(0.5 + confidence / 2))


def clopper_pearson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The exact (Clopper-Pearson) two-sided interval for ``k`` successes in ``n`` trials:
    each bound is the proportion at which seeing at least (at most) ``k`` has probability
    (1 - confidence) / 2. (0, 1) when there are no trials."""
    from scipy.stats import beta

    _check(confidence)
    if n <= 0:
        return 0.0, 1.0
    a = 1 - confidence
    lo = 0.0 if k == 0 else float(beta.ppf(a / 2, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - a / 2, k + 1, n - k))
    return lo, hi


def wilson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval for ``k`` successes in ``n`` trials. (0, 1) when there are no
    trials."""
    if n <= 0:
        return 0.0, 1.0
    z = z_value(confidence)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    low = 0.0 if k == 0 else max(0.0, centre - half)
    high = 1.0 if k == n else min(1.0, centre + half)
    return low, high
