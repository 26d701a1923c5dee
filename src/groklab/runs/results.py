"""A run's per-seed results as flat rows (the columns of sweep tables and run reports)."""

from __future__ import annotations

from groklab.engine.milestones import THRESHOLD_KEYS

# What a run cost, as measured: differs between two runs of the same config (a batched group
# and its cells run alone, a resumed run), unlike every other column.
COST_KEYS = ("wall_time_s", "compile_time_s", "peak_rss_mb")


def seed_rows(summary: dict) -> list[dict]:
    """One row per seed of a summary.json: milestones, steps/epochs to each val-accuracy
    threshold (None = never reached: censored at ``budget_steps``, how far the run trained) and
    the final metrics."""
    rows = []
    for s in summary["seeds"]:
        row = {"seed": s["seed"], "status": summary.get("status"), "grokked": s["grokked"],
               "memorized_epoch": s.get("memorized_epoch"), "diverged": s.get("diverged"),
               "budget_steps": summary["step"], "budget_epochs": summary["epoch"],
               "steps_per_epoch": summary["steps_per_epoch"],
               **{k: summary.get(k) for k in COST_KEYS}}
        for t in THRESHOLD_KEYS:
            row[f"steps_to_{t}"] = s["steps_to_val_acc"].get(t)
            row[f"epochs_to_{t}"] = s["epochs_to_val_acc"].get(t)
        row.update({f"final_{k}": v for k, v in s["final"].items()})
        rows.append(row)
    return rows
