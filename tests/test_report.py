"""groklab report on a synthetic sweep directory (known values, some seeds censored)."""

import csv
import json
import math

import pytest
import scipy.stats as sps

from groklab.cli.main import main
from groklab.report import condition_table, pairwise_tests
from groklab.stats import GrokTimes, kaplan_meier, logrank, speedup

FAST = [100, 120, 140, 160, 180]  # cell 0: all five reach 99 %
SLOW = [300, 340, None, 380, None]  # cell 1: three of five, two censored at 500 steps


def rows():
    out = []
    for cell, times in ((0, FAST), (1, SLOW)):
        for seed, t in enumerate(times):
            out.append({"cell": cell, "cell_name": f"00{cell}_wd={cell}", "optim.weight_decay":
                        str(cell), "seed": seed, "budget_steps": 500, "steps_per_epoch": 10,
                        "steps_to_0.9": t, "steps_to_0.99": t,
                        "final_val_acc": 1.0 if t else 0.5,
                        "wall_time_s": 50.0 * (cell + 1), "peak_rss_mb": 900.0 + cell})
    return out


def test_condition_table_uses_reached_seeds_and_censors_the_rest():
    fast, slow = condition_table(rows(), ["optim.weight_decay"], "0.99")
    assert fast["k_of_n"] == "5/5" and slow["k_of_n"] == "3/5"
    assert fast["steps_mean"] == 140 and fast["epochs_mean"] == 14
    assert slow["steps_mean"] == pytest.approx(340)
    assert fast["steps_std"] == pytest.approx(math.sqrt(1000))
    assert fast["km_median_steps"] == 140
    km = kaplan_meier(GrokTimes.from_milestones(SLOW, 500))
    assert slow["km_median_steps"] == km.median == 380  # 1 · 4/5 · 3/4 · 2/3 = 0.4 at 380
    assert slow["final_val_acc_mean"] == pytest.approx(0.8)
    # run-level costs, once per run: the slow cell took twice the wall time
    assert fast["wall_time_s"] == 50 and slow["wall_time_s"] == 100
    assert slow["wall_time_ratio"] == 2 and slow["peak_rss_mb"] == 901
    assert fast["condition"] == "weight_decay=0"


def test_condition_table_speedup_against_the_first_condition():
    fast, slow = condition_table(rows(), ["optim.weight_decay"], "0.99")
    assert fast["speedup"] == 1.0 and all(map(math.isnan, fast["speedup_ci"]))
    assert slow["speedup"] == pytest.approx(140 / 380)  # KM medians: slow is ~2.7× slower
    want = speedup(GrokTimes.from_milestones(FAST, 500), GrokTimes.from_milestones(SLOW, 500))
    assert slow["speedup_ci"] == want.ci and slow["speedup_ci"][0] <= 140 / 380
    assert slow["speedup_lower_bound"] is False


def test_pairwise_tests_against_the_first_condition():
    (t,) = pairwise_tests(rows(), ["optim.weight_decay"], "0.99")
    z, p = logrank(GrokTimes.from_milestones(SLOW, 500), GrokTimes.from_milestones(FAST, 500))
    assert t["logrank_p"] == pytest.approx(p) and t["logrank_p_holm"] == pytest.approx(p)
    assert t["cohens_d"] > 0 and 0 < t["welch_p"] < 0.05
    assert t["reference"] == "weight_decay=0"


def test_report_command_writes_markdown_csv_and_latex(tmp_path, capsys):
    r = rows()
    with (tmp_path / "results.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(r[0]))
        w.writeheader()
        w.writerows(r)
    (tmp_path / "manifest.json").write_text(json.dumps({
        "name": "synthetic", "axes": ["optim.weight_decay"], "seeds": [0, 1, 2, 3, 4],
        "cells": [{"name": "000_wd=0", "status": "completed"},
                  {"name": "001_wd=1", "status": "completed"}]}))
    assert main(["report", str(tmp_path)]) == 0
    md = (tmp_path / "report.md").read_text()
    assert "| weight_decay=1 | 340 ± 40" in md and "3/5" in md
    assert "| 100 (2.00×) | 901 |" in md
    assert "speed-up vs weight_decay=0 [95 % CI]" in md
    line = next(ln for ln in md.splitlines() if ln.startswith("| weight_decay=1 | 340"))
    assert line.split(" | ")[3].startswith("0.37× [")
    with (tmp_path / "tables" / "conditions_099.csv").open(newline="") as f:
        ref, slow = csv.DictReader(f)
    assert float(ref["speedup"]) == 1.0 and float(slow["speedup"]) == pytest.approx(140 / 380)
    tex = (tmp_path / "tables" / "conditions_099.tex").read_text()
    assert "\\toprule" in tex and "\\bottomrule" in tex and "5/5" in tex
    assert "speed-up vs weight\\_decay=0" in tex and "0.37$\\times$ [" in tex
    # the LaTeX table carries the same cells as the Markdown one: ± std in steps and epochs, CI
    assert "340 $\\pm$ 40 (34.0 $\\pm$ 4.0 ep) [" in tex and "0.800 $\\pm$ 0.274" in tex
    # tests on final val accuracy, defined whatever reached a threshold
    assert "## Final val accuracy" in md
    strip = tmp_path / "figures" / "report_final_val_acc.png"
    assert strip.stat().st_size > 5_000 and "report_final_val_acc.png" in md
    with (tmp_path / "tables" / "tests_final_val_acc.csv").open(newline="") as f:
        (acc,) = csv.DictReader(f)
    assert float(acc["mean"]) == pytest.approx(0.8) and float(acc["reference_mean"]) == 1.0
    assert float(acc["mwu_p"]) == pytest.approx(
        sps.mannwhitneyu([1, 1, 0.5, 1, 0.5], [1] * 5, alternative="two-sided").pvalue)


def test_final_accuracy_tests_when_no_seed_reaches_the_threshold():
    """The steps tests are undefined when nobody grokked; the accuracy tests are not."""
    from groklab.report.tables import final_accuracy_tests

    r = rows()
    for i, row in enumerate(r):
        row["steps_to_0.99"] = None
        row["final_val_acc"] = [0.20, 0.25, 0.22, 0.30, 0.24][i % 5] + (0.1 if row["cell"] else 0)
    (t,) = pairwise_tests(r, ["optim.weight_decay"], "0.99")
    assert math.isnan(t["welch_p"]) and math.isnan(t["cohens_d"])
    (a,) = final_accuracy_tests(r, ["optim.weight_decay"])
    ref = [x["final_val_acc"] for x in r if x["cell"] == 0]
    other = [x["final_val_acc"] for x in r if x["cell"] == 1]
    assert a["welch_p"] == pytest.approx(sps.ttest_ind(other, ref, equal_var=False).pvalue)
    assert a["welch_p_holm"] == pytest.approx(a["welch_p"])  # one comparison: Holm = p
    assert a["cohens_d"] > 0 and a["mean"] == pytest.approx(sum(other) / 5)


def test_report_of_a_directory_without_a_sweep(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "not a sweep directory" in capsys.readouterr().err
