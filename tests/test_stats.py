"""groklab.stats against hand computations (and textbook formulas computed independently)."""

import json
import math

import numpy as np
import pytest
from scipy import stats as sp

from groklab.stats import (
    GrokTimes,
    Speedup,
    benjamini_hochberg,
    cohens_d,
    compare,
    describe,
    holm,
    kaplan_meier,
    km_median,
    logrank,
    speedup,
)
from groklab.stats.speedup import _percentile


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


def test_km_median_is_the_kaplan_meier_median():
    rng = np.random.default_rng(0)
    for _ in range(40):
        n = int(rng.integers(1, 8))
        times = [None if rng.random() < 0.4 else int(rng.integers(1, 5)) * 10 for _ in range(n)]
        g = GrokTimes.from_milestones(times, rng.integers(40, 60, n))  # ties, mixed budgets
        assert km_median(g.times, g.grokked) == kaplan_meier(g).median, times


BASE = [1300, 900, 1100, 1000, 1200]  # from scratch: median 1100
FAST = [110, 90, 200, 100, 150]  # treated: median 110


def _exact_bootstrap_quantiles(a, b, qs):
    """Quantiles of median(a*) / median(b*) over all resamples, exactly: with n = 5 distinct
    values the resample median is the j-th smallest with P = F(j/5) − F((j − 1)/5), where
    F(p) = P(Binomial(5, p) ≥ 3) (at least three draws at or below it)."""
    def median_pmf(x):
        cdf = [sp.binom.sf(2, 5, j / 5) for j in range(6)]
        return np.sort(x), np.diff(cdf)
    (xa, pa), (xb, pb) = median_pmf(a), median_pmf(b)
    ratio, prob = np.divide.outer(xa, xb).ravel(), np.multiply.outer(pa, pb).ravel()
    order = np.argsort(ratio)
    cdf = np.cumsum(prob[order])
    return [float(ratio[order][np.searchsorted(cdf, q)]) for q in qs]


def test_speedup_without_censoring_is_the_ratio_of_medians_with_a_bootstrap_interval():
    s = speedup(GrokTimes.from_milestones(BASE, 5000), GrokTimes.from_milestones(FAST, 5000))
    assert s.estimate == pytest.approx(np.median(BASE) / np.median(FAST)) == pytest.approx(10)
    assert not s.lower_bound and (s.k_baseline, s.n_baseline, s.k_treated) == (5, 5, 5)
    assert (s.baseline_median, s.treated_median) == (1100, 110)
    lo, hi = s.ci
    assert lo < s.estimate < hi
    q01, q05, q95, q99 = _exact_bootstrap_quantiles(BASE, FAST, [0.01, 0.05, 0.95, 0.99])
    assert q01 <= lo <= q05 and q95 <= hi <= q99
    assert s.format() == f"10.0× [{lo:.1f}, {hi:.1f}]"
    again = speedup(GrokTimes.from_milestones(BASE, 5000), GrokTimes.from_milestones(FAST, 5000))
    assert again == s  # seeded: reproducible


def test_speedup_is_a_lower_bound_when_the_baseline_never_got_there():
    s = speedup(GrokTimes.from_milestones([None] * 4, 5000), GrokTimes.from_milestones(FAST, 800))
    assert s.lower_bound and s.baseline_median == math.inf
    assert s.estimate == pytest.approx(5000 / 110)
    assert s.ci[1] == math.inf and 5000 / 200 <= s.ci[0] <= s.estimate
    assert s.format().startswith("> 45.5× [") and s.format().endswith(", ∞]")
    d = json.loads(json.dumps(s.to_dict(), allow_nan=False))
    assert d["ci"][1] == "inf" and d["baseline_median"] == "inf" and d["lower_bound"] is True


def test_speedup_with_partly_censored_baseline_has_an_open_interval():
    # 3/5 reached: median 1300, but a third of the resamples have < 3 reached (median ∞)
    s = speedup(GrokTimes.from_milestones([1000, None, None, 1300, 900], 2000),
                GrokTimes.from_milestones(FAST, 2000))
    assert not s.lower_bound and s.estimate == pytest.approx(1300 / 110)
    assert s.ci[0] <= s.estimate and s.ci[1] == math.inf


def test_speedup_is_undefined_when_the_treated_never_got_there():
    never = GrokTimes.from_milestones([None, None, 300], 1000)
    for base in (GrokTimes.from_milestones(BASE, 5000), GrokTimes.from_milestones([None], 9)):
        s = speedup(base, never)
        assert math.isnan(s.estimate) and all(map(math.isnan, s.ci)) and not s.lower_bound
        assert s.format() == "—" and s.to_dict()["estimate"] is None


def test_speedup_format_and_inf_safe_percentile():
    s = Speedup(12.34, (8.06, 20.44), False, 1234, 100, 5, 5, 5, 5)
    assert s.format() == "12.3× [8.1, 20.4]"
    assert Speedup(9.5, (6.0, math.inf), True, math.inf, 10, 0, 5, 5, 5).format() == \
        "> 9.5× [6.0, ∞]"
    x = np.array([3.0, 0.0, 7.5, 1.0, 2.0, 9.0])
    for q in (0, 2.5, 50, 97.5, 100):
        assert _percentile(x, q) == pytest.approx(np.percentile(x, q))
    inf = np.array([1.0, 2.0, math.inf, math.inf])
    assert _percentile(inf, 0) == 1 and _percentile(inf, 20) == pytest.approx(1.6)
    assert _percentile(inf, 40) == math.inf  # between 2 and ∞
    assert _percentile(inf, 50) == math.inf and _percentile(inf, 97.5) == math.inf


def test_t_intervals_stay_within_the_quantitys_range():
    """With 2 seeds mean ± t·s/√n reached a val accuracy of 1.05 and negative steps; within
    ``bounds`` the interval is cut to the range (the true mean lies inside, so coverage holds)."""
    from groklab.stats import describe

    acc = describe([0.999, 0.90])
    assert acc.ci_t[1] > 1 and acc.ci_t[0] < 0.90  # the plain t-interval leaves [0, 1]
    cut = describe([0.999, 0.90], bounds=(0.0, 1.0))
    assert cut.ci_t == (acc.ci_t[0], 1.0) and cut.mean == acc.mean
    steps = describe([100, 1500], bounds=(0, 2000))
    assert describe([100, 1500]).ci_t[0] < 0 and steps.ci_t[0] == 0
    assert steps.ci_t[1] == 2000  # 800 + 12.7 · 700 is far above the budget
    inside = describe([0.5, 0.6, 0.55], bounds=(0.0, 1.0))
    assert inside.ci_t == describe([0.5, 0.6, 0.55]).ci_t  # nothing to cut
