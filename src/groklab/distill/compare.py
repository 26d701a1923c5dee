"""A distilled student next to the same student trained from scratch: steps to 90 / 99 % val
per seed, Kaplan–Meier medians (a seed that never got there is censored at its budget) and the
log-rank test, as ``comparison.md`` in the student's run directory."""

from __future__ import annotations

import json
from pathlib import Path

from groklab.runs.files import write_atomic
from groklab.stats import GrokTimes, kaplan_meier, logrank

THRESHOLDS = ("0.9", "0.99")


def grok_times(summary: dict, threshold: str) -> GrokTimes:
    return GrokTimes.from_milestones([s["steps_to_val_acc"][threshold] for s in summary["seeds"]],
                                     [summary["step"]] * len(summary["seeds"]))


def comparison_rows(runs: dict[str, dict]) -> list[dict]:
    """One row per run (label → summary.json) and threshold."""
    rows = []
    for label, s in runs.items():
        row = {"run": label, "seeds": len(s["seeds"]),
               "final_val_acc": [x["final"].get("val_acc") for x in s["seeds"]]}
        for th in THRESHOLDS:
            g = grok_times(s, th)
            km = kaplan_meier(g)
            row[f"steps_to_{th}"] = [x["steps_to_val_acc"][th] for x in s["seeds"]]
            row[f"km_median_{th}"] = km.median
            row[f"reached_{th}"] = g.k_of_n()
        rows.append(row)
    return rows


def write_comparison(student_dir: Path, scratch_dir: Path) -> Path:
    runs = {"distilled": json.loads((Path(student_dir) / "summary.json").read_text()),
            "from scratch": json.loads((Path(scratch_dir) / "summary.json").read_text())}
    rows = comparison_rows(runs)
    lines = ["# Distilled student vs the same student from scratch", "",
             f"student: `{student_dir}`; from scratch: `{scratch_dir}` (same architecture, "
             "recipe, seeds and split). Steps per seed; — = not reached within the budget "
             "(censored in the Kaplan–Meier median and the log-rank test).", "",
             "| run | steps to 90 % | KM median | reached | steps to 99 % | KM median | "
             "reached |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        cells = []
        for th in THRESHOLDS:
            steps = ", ".join("—" if x is None else str(x) for x in r[f"steps_to_{th}"])
            med = r[f"km_median_{th}"]
            cells += [steps, "—" if med is None or med != med or med == float("inf")
                      else f"{med:g}", r[f"reached_{th}"]]
        lines.append(f"| {r['run']} | " + " | ".join(cells) + " |")
    for th in THRESHOLDS:
        _, p = logrank(grok_times(runs["distilled"], th), grok_times(runs["from scratch"], th))
        lines.append(f"\nLog-rank, steps to {float(th) * 100:g} %: p = {p:.3g}")
    path = Path(student_dir) / "comparison.md"
    write_atomic(path, "\n".join(lines) + "\n")
    return path
