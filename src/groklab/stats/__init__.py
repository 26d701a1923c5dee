"""Statistics for multi-seed studies, on SciPy (docs/architecture.md §4 "Statistics").

- ``describe``: n, mean ± std, 95 % CI from the t distribution and by bootstrap;
- ``compare``: Welch t-test, Mann–Whitney U, Cohen's d with its CI, between two conditions;
- ``holm`` / ``benjamini_hochberg``: multiple-comparison corrections;
- ``kaplan_meier`` / ``logrank``: grokking times censored at the budget (runs that never grok
  count as "not yet at the budget", never as a made-up time), and "k of N grokked";
- ``speedup``: ratio of two conditions' Kaplan–Meier median times with a bootstrap interval
  (a lower bound when the baseline's median is not reached).
"""

from groklab.stats.speedup import Speedup, format_speedup, km_median, speedup
from groklab.stats.summary import Summary, describe
from groklab.stats.survival import GrokTimes, KaplanMeier, kaplan_meier, logrank
from groklab.stats.two_conditions import Comparison, benjamini_hochberg, cohens_d, compare, holm

__all__ = [
    "Comparison", "GrokTimes", "KaplanMeier", "Speedup", "Summary", "benjamini_hochberg",
    "cohens_d", "compare", "describe", "format_speedup", "holm", "kaplan_meier", "km_median",
    "logrank", "speedup",
]
