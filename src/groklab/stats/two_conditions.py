"""Two conditions compared: Welch's t-test, Mann–Whitney U, Cohen's d with a confidence interval;
and corrections for many comparisons (Holm 1979; Benjamini & Hochberg 1995)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class Comparison:
    n_a: int
    n_b: int
    welch_t: float
    welch_p: float
    mwu_u: float  # U statistic of the first sample
    mwu_p: float
    cohens_d: float  # (mean_a − mean_b) / pooled std
    d_ci: tuple[float, float]

    def to_dict(self) -> dict:
        return asdict(self)


def _finite(x) -> np.ndarray:
    x = np.asarray([v for v in x if v is not None], float)
    return x[np.isfinite(x)]


def cohens_d(a, b, confidence: float = 0.95) -> tuple[float, tuple[float, float]]:
    """Cohen's d with the pooled standard deviation, and its normal-approximation interval with
    SE = √((n_a + n_b)/(n_a n_b) + d² / (2 (n_a + n_b))) (Hedges & Olkin 1985, eq. 5.14)."""
    a, b = _finite(a), _finite(b)
    na, nb = len(a), len(b)
    if na < 2 or nb < 2:
        return float("nan"), (float("nan"), float("nan"))
    pooled = np.sqrt(((na - 1) * a.var(ddof=1) + (nb - 1) * b.var(ddof=1)) / (na + nb - 2))
    if pooled == 0:
        return float("nan"), (float("nan"), float("nan"))
    d = float((a.mean() - b.mean()) / pooled)
    se = np.sqrt((na + nb) / (na * nb) + d * d / (2 * (na + nb)))
    z = stats.norm.ppf((1 + confidence) / 2)
    return d, (float(d - z * se), float(d + z * se))


def compare(a, b, confidence: float = 0.95) -> Comparison:
    """Welch t, Mann–Whitney U (two-sided, exact for small samples without ties) and Cohen's d
    between the finite values of ``a`` and ``b``; nan where a test is undefined."""
    a, b = _finite(a), _finite(b)
    nan = float("nan")
    t = p = u = pu = nan
    if len(a) >= 2 and len(b) >= 2:
        r = stats.ttest_ind(a, b, equal_var=False)
        t, p = float(r.statistic), float(r.pvalue)
    if len(a) >= 1 and len(b) >= 1:
        r = stats.mannwhitneyu(a, b, alternative="two-sided")
        u, pu = float(r.statistic), float(r.pvalue)
    d, ci = cohens_d(a, b, confidence)
    return Comparison(len(a), len(b), t, p, u, pu, d, ci)


def holm(pvalues) -> list[float]:
    """Holm–Bonferroni adjusted p-values (step-down; controls the family-wise error rate)."""
    p = np.asarray(pvalues, float)
    m = len(p)
    order = np.argsort(p)
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return adjusted.tolist()


def benjamini_hochberg(pvalues) -> list[float]:
    """Benjamini–Hochberg adjusted p-values (controls the false discovery rate); SciPy's
    ``false_discovery_control``."""
    p = np.asarray(pvalues, float)
    if len(p) == 0:
        return []
    return stats.false_discovery_control(p, method="bh").tolist()
