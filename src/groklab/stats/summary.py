"""One condition's values: n, mean ± std, and 95 % confidence intervals of the mean."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class Summary:
    n: int
    mean: float
    std: float  # sample standard deviation (ddof 1); nan for n < 2
    ci_t: tuple[float, float]  # mean ± t_{n−1, (1+c)/2} · std / √n, within ``bounds``
    ci_bootstrap: tuple[float, float]  # BCa bootstrap of the mean (percentile when n < 3)
    confidence: float

    def to_dict(self) -> dict:
        return asdict(self)


def describe(values, confidence: float = 0.95, n_resamples: int = 9999,
             seed: int = 0, bounds: tuple[float, float] | None = None) -> Summary:
    """Summary of finite ``values`` (NaN/None entries are dropped). Intervals are (nan, nan)
    when they are undefined (n < 2, or all values equal for the bootstrap).

    ``bounds``: the range the quantity cannot leave (an accuracy in [0, 1], steps in
    [0, budget]). The t-interval is cut to it: with 2–3 seeds mean ± t·s/√n can otherwise reach
    a val accuracy of 1.05 or negative steps. The true mean lies within the bounds, so the cut
    interval covers it whenever the uncut one does: the coverage is unchanged. (The bootstrap
    interval lies within the values' own range already.)"""
    x = np.asarray([v for v in values if v is not None], float)
    x = x[np.isfinite(x)]
    n = len(x)
    nan2 = (float("nan"), float("nan"))
    if n == 0:
        return Summary(0, float("nan"), float("nan"), nan2, nan2, confidence)
    mean = float(x.mean())
    if n < 2:
        return Summary(1, mean, float("nan"), nan2, nan2, confidence)
    std = float(x.std(ddof=1))
    half = stats.t.ppf((1 + confidence) / 2, n - 1) * std / np.sqrt(n)
    ci_t = (mean - half, mean + half)
    if bounds is not None:
        ci_t = (max(ci_t[0], bounds[0]), min(ci_t[1], bounds[1]))
    if std == 0:
        ci_boot = (mean, mean)
    else:
        res = stats.bootstrap((x,), np.mean, confidence_level=confidence,
                              n_resamples=n_resamples, vectorized=True,
                              method="BCa" if n >= 3 else "percentile",
                              rng=np.random.default_rng(seed))
        ci_boot = (float(res.confidence_interval.low), float(res.confidence_interval.high))
    return Summary(n, mean, std, (float(ci_t[0]), float(ci_t[1])), ci_boot, confidence)
