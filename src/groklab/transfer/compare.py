"""A transfer run next to its from-scratch baseline: ``comparison.md`` / ``comparison.json``
(steps to 90 / 95 / 99 % per seed, Kaplan–Meier medians, speed-up with its confidence interval,
baseline seeds that never got there censored at the baseline's own budget) and
``figures/transfer_vs_baseline.png`` (and .pdf)."""

from __future__ import annotations

from pathlib import Path

from groklab.report.figures import plot_condition_curves, read_metrics
from groklab.runs.compare import write_comparison


def write_transfer_comparison(run_dir: Path, baseline_dir: Path) -> Path:
    run_dir, baseline_dir = Path(run_dir), Path(baseline_dir)
    curves = {"transfer": read_metrics(run_dir), "from scratch": read_metrics(baseline_dir)}
    for name, log_x in (("transfer_vs_baseline.png", False),
                        ("transfer_vs_baseline_logx.png", True)):
        plot_condition_curves(curves, run_dir / "figures" / name, per_seed=True, log_x=log_x)
    return write_comparison(run_dir, baseline_dir, run_label="transfer",
                            baseline_label="from scratch",
                            title="Transfer vs the same architecture from random initialization")
