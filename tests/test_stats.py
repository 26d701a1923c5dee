"""groklab.stats against hand computations (and textbook formulas computed independently)."""

import math

import numpy as np
import pytest
from scipy import stats as sp

from groklab.stats import (
    GrokTimes,
    benjamini_hochberg,
    cohens_d,
    compare,
    describe,
    holm,
    kaplan_meier,
    logrank,
)


def test_describe_mean_std_and_t_interval_by_hand():
    s = describe([1, 2, 3, 4, None, float("nan")])
    assert s.n == 4 and s.mean == 2.5
    assert s.std == pytest.approx(math.sqrt(5 / 3))
    half = 3.182446305284263 * math.sqrt(5 / 3) / 2  # t_{3, 0.975} from a table
    assert s.ci_t == pytest.approx((2.5 - half, 2.5 + half))
    lo, hi = s.ci_bootstrap
    assert 1 <= lo < 2.5 < hi <= 4


def test_describe_degenerate_cases():
    assert describe([]).n == 0 and math.isnan(describe([]).mean)
    one = describe([7.0])
    assert one.mean == 7.0 and math.isnan(one.std) and all(map(math.isnan, one.ci_t))
    same = describe([3.0, 3.0, 3.0])
    assert same.ci_bootstrap == (3.0, 3.0) and same.ci_t == (3.0, 3.0)


def test_welch_mann_whitney_and_cohens_d_by_hand():
    a, b = [1.0, 2.0, 3.0, 4.0], [2.0, 3.0, 5.0, 7.0, 9.0]
    c = compare(a, b)
    ma, mb, va, vb = np.mean(a), np.mean(b), np.var(a, ddof=1), np.var(b, ddof=1)
    se2 = va / 4 + vb / 5
    t = (ma - mb) / math.sqrt(se2)
    df = se2**2 / ((va / 4) ** 2 / 3 + (vb / 5) ** 2 / 4)  # Welch–Satterthwaite
    assert c.welch_t == pytest.approx(t)
    assert c.welch_p == pytest.approx(2 * sp.t.sf(abs(t), df))
    u = sum((x > y) + 0.5 * (x == y) for x in a for y in b)  # pairs won by a
    assert c.mwu_u == u == 4.0
    pooled = math.sqrt((3 * va + 4 * vb) / 7)
    d = (ma - mb) / pooled
    assert c.cohens_d == pytest.approx(d)
    se = math.sqrt(9 / 20 + d * d / 18)
    assert c.d_ci == pytest.approx((d - 1.959963984540054 * se, d + 1.959963984540054 * se))
    assert 0 < c.mwu_p <= 1


def test_cohens_d_undefined_cases():
    assert math.isnan(cohens_d([1.0], [2.0, 3.0])[0])
    assert math.isnan(cohens_d([1.0, 1.0], [1.0, 1.0])[0])


def test_multiple_comparison_corrections_by_hand():
    p = [0.01, 0.04, 0.03]
    # Holm: sorted 0.01·3, 0.03·2, 0.04·1, made monotone
    assert holm(p) == pytest.approx([0.03, 0.06, 0.06])
    # BH: 0.01·3/1, 0.04·3/3, 0.03·3/2 → running minimum from the largest
    assert benjamini_hochberg(p) == pytest.approx([0.03, 0.04, 0.04])
    assert holm([]) == [] and benjamini_hochberg([]) == []


def test_kaplan_meier_with_a_seed_that_never_grokked():
    g = GrokTimes.from_milestones([5, 8, None, 3, 10], budget=12)
    assert g.k_of_n() == "4/5"
    km = kaplan_meier(g)
    # by hand: at risk 5, 4, 3, 2 at times 3, 5, 8, 10; the censored seed leaves at 12
    want = [4 / 5, 4 / 5 * 3 / 4, 4 / 5 * 3 / 4 * 2 / 3, 4 / 5 * 3 / 4 * 2 / 3 * 1 / 2]
    np.testing.assert_allclose(km.survival[:4], want)
    assert km.times[:4].tolist() == [3, 5, 8, 10]
    assert km.median == 8.0  # first time the curve is at or below 0.5
    assert km.median_ci[0] <= 8.0 <= km.median_ci[1]


def test_kaplan_meier_median_is_infinite_when_most_never_grok():
    km = kaplan_meier(GrokTimes.from_milestones([4, None, None], budget=[10, 10, 10]))
    assert km.median == math.inf and km.k == 1 and km.n == 3
    none = kaplan_meier(GrokTimes.from_milestones([None, None], budget=10))
    assert none.median == math.inf and none.k == 0


def _logrank_by_hand(a: GrokTimes, b: GrokTimes) -> float:
    """χ² of the log-rank test: Σ(O₁ − E₁) over event times, divided by Σ hypergeometric V."""
    times = np.concatenate([a.times, b.times])
    events = np.concatenate([a.grokked, b.grokked])
    first = np.concatenate([np.ones(a.n, bool), np.zeros(b.n, bool)])
    o_minus_e = var = 0.0
    for t in np.unique(times[events]):
        at_risk = times >= t
        n, n1 = at_risk.sum(), (at_risk & first).sum()
        d = (events & (times == t)).sum()
        d1 = (events & (times == t) & first).sum()
        o_minus_e += d1 - d * n1 / n
        if n > 1:
            var += d * (n1 / n) * (1 - n1 / n) * (n - d) / (n - 1)
    return o_minus_e**2 / var


def test_logrank_matches_the_textbook_statistic_with_censoring():
    fast = GrokTimes.from_milestones([2, 3, 3, 5, None], budget=12)
    slow = GrokTimes.from_milestones([6, 8, None, 9, None, 11], budget=12)
    z, p = logrank(fast, slow)
    chi2 = _logrank_by_hand(fast, slow)
    assert z * z == pytest.approx(chi2)
    assert p == pytest.approx(sp.chi2.sf(chi2, 1))
    assert z > 0  # the first condition groks earlier: more events than expected (O₁ > E₁)
