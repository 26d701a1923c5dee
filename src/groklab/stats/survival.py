"""Grokking times censored at the budget: Kaplan–Meier estimates and the log-rank test (SciPy's
``ecdf`` and ``logrank`` on ``CensoredData``).

A seed that never reached the threshold within its budget is right-censored at the budget: we
know only that its time exceeds it. Averaging only the seeds that grokked biases toward fast
runs, and inventing a time for the others is wrong; the Kaplan–Meier median and the log-rank test
use every seed correctly.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class GrokTimes:
    """Per-seed times to a threshold (steps or epochs); ``budget`` for seeds that never got
    there (``grokked`` False)."""

    times: np.ndarray
    grokked: np.ndarray  # bool

    @classmethod
    def from_milestones(cls, times, budget) -> GrokTimes:
        """``times``: per seed the time or None (never reached); ``budget``: one value or one
        per seed (the censoring time of the seeds that did not reach)."""
        budgets = np.broadcast_to(np.asarray(budget, float), (len(times),))
        grokked = np.array([t is not None for t in times])
        t = np.array([float(t) if t is not None else b for t, b in zip(times, budgets)])
        return cls(t, grokked)

    @property
    def k(self) -> int:
        return int(self.grokked.sum())

    @property
    def n(self) -> int:
        return len(self.times)

    def k_of_n(self) -> str:
        return f"{self.k}/{self.n}"

    def censored(self) -> stats.CensoredData:
        return stats.CensoredData(uncensored=self.times[self.grokked],
                                  right=self.times[~self.grokked])


@dataclass(frozen=True)
class KaplanMeier:
    times: np.ndarray  # distinct event times
    survival: np.ndarray  # P(not yet grokked) just after each time
    median: float  # first time survival ≤ 0.5; inf if it never drops that low
    median_ci: tuple[float, float]  # from the pointwise CI of the curve (Brookmeyer–Crowley)
    k: int
    n: int


def kaplan_meier(g: GrokTimes, confidence: float = 0.95) -> KaplanMeier:
    """Kaplan–Meier estimate of the share of seeds not yet grokked over time, with the median
    time to grok and its confidence interval (the times where the curve's log-log pointwise
    interval crosses 0.5)."""
    if g.k == 0:
        return KaplanMeier(np.array([]), np.array([]), float("inf"), (float("inf"),) * 2,
                           0, g.n)
    sf = stats.ecdf(g.censored()).sf
    times, surv = np.asarray(sf.quantiles), np.asarray(sf.probabilities)
    with warnings.catch_warnings():  # undefined at the last event (survival 0): handled below
        warnings.simplefilter("ignore", RuntimeWarning)
        ci = sf.confidence_interval(confidence, method="log-log")

    def first_below(p):
        below = np.nonzero(p <= 0.5 + 1e-12)[0]
        return float(times[below[0]]) if len(below) else float("inf")

    lo = np.nan_to_num(np.asarray(ci.low.probabilities), nan=0.0)
    hi = np.nan_to_num(np.asarray(ci.high.probabilities), nan=1.0)
    return KaplanMeier(times, surv, first_below(surv), (first_below(lo), first_below(hi)),
                       g.k, g.n)


def logrank(a: GrokTimes, b: GrokTimes) -> tuple[float, float]:
    """Log-rank test (Mantel 1966) that the two conditions grok on the same time scale:
    (z = (O − E)/√V of the first condition, two-sided p-value; z² is the usual χ²₁)."""
    if a.k + b.k == 0:
        return float("nan"), float("nan")
    r = stats.logrank(a.censored(), b.censored())
    return float(r.statistic), float(r.pvalue)
