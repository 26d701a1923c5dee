"""experiments.baseline_comparison: two runs with different budgets, censored seeds, speed-up
and log-rank."""

import json
import math

import pytest

from groklab.experiments.baseline_comparison import (
    comparison_rows,
    write_comparison,
    write_distill_comparison,
)
from groklab.stats import GrokTimes, logrank


def summary(budget, times_90, times_99):
    """A summary.json with per-seed steps to 0.9 / 0.95 / 0.99 (0.95 = 0.99 here)."""
    return {"step": budget, "seeds": [
        {"steps_to_val_acc": {"0.9": a, "0.95": b, "0.99": b}, "final": {"val_acc": 1.0}}
        for a, b in zip(times_90, times_99)]}


# the run (distilled): budget 1000; the baseline (from scratch) gets 3000 steps and still
# never reaches 99 %, so its speed-up there is only a lower bound set by its own budget
RUN = summary(1000, [100, 120, 140], [200, 300, None])
BASE = summary(3000, [1100, None, 1500], [None, None, None])


def write(tmp_path):
    for name, s in (("run", RUN), ("base", BASE)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "summary.json").write_text(json.dumps(s))
    return tmp_path / "run", tmp_path / "base"


def table_row(md: str, threshold_heading: str, run: str) -> list[str]:
    block = md.split(threshold_heading)[1].split("## ")[0]
    line = next(ln for ln in block.splitlines() if ln.startswith(f"| {run} |"))
    return [c.strip() for c in line.strip("|").split("|")]


def test_rows_censor_each_run_at_its_own_budget():
    base, run = comparison_rows({"from scratch": BASE, "distilled": RUN})  # first = baseline
    assert base["speedup_0.9"] is None and base["budget_steps"] == 3000
    assert run["km_median_0.9"] == 120 and base["km_median_0.9"] == 1500  # 2/3 reached
    assert run["reached_0.99"] == "2/3" and base["km_median_0.99"] == math.inf
    s90, s99 = run["speedup_0.9"], run["speedup_0.99"]
    assert s90.estimate == pytest.approx(1500 / 120) and not s90.lower_bound
    assert s99.lower_bound and s99.estimate == pytest.approx(3000 / 300)  # baseline's budget
    assert s99.ci[1] == math.inf
    _, p = logrank(GrokTimes.from_milestones([200, 300, None], 1000),
                   GrokTimes.from_milestones([None] * 3, 3000))
    assert run["logrank_p_0.99"] == pytest.approx(p)


def test_write_comparison_markdown_and_json(tmp_path):
    run_dir, base_dir = write(tmp_path)
    path = write_comparison(run_dir, base_dir, run_label="distilled",
                            baseline_label="from scratch", title="Student vs scratch")
    md = path.read_text()
    assert path == run_dir / "comparison.md" and md.startswith("# Student vs scratch")
    r = table_row(md, "## Steps to 99 % val accuracy", "distilled")
    b = table_row(md, "## Steps to 99 % val accuracy", "from scratch")
    assert r[:5] == ["distilled", "1000", "200, 300, —", "300", "2/3"]
    assert b[:5] == ["from scratch", "3000", "—, —, —", "not reached", "0/3"]
    assert r[5].startswith("> 10.0× [") and r[5].endswith(", ∞]")
    assert b[5] == b[6] == "reference"
    r90 = table_row(md, "## Steps to 90 % val accuracy", "from scratch")
    assert r90[2] == "1100, —, 1500"  # never the budget in place of a censored seed
    data = json.loads((run_dir / "comparison.json").read_text())
    run, base = data["rows"]
    assert data["thresholds"] == ["0.9", "0.95", "0.99"]
    assert base["steps_to_0.9"] == [1100, None, 1500] and base["km_median_0.99"] == "inf"
    assert run["speedup_0.99"]["lower_bound"] and run["speedup_0.99"]["ci"][1] == "inf"
    assert run["speedup_0.99"]["estimate"] == pytest.approx(10.0)


def test_distill_wrapper_and_missing_threshold(tmp_path):
    run_dir, base_dir = write(tmp_path)
    md = write_distill_comparison(run_dir, base_dir).read_text()
    assert "Distilled student" in md and "Log-rank" in md and "| distilled |" in md
    with pytest.raises(ValueError, match="0.5"):
        comparison_rows({"a": RUN, "b": BASE}, thresholds=("0.5",))
