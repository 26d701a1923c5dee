"""A run next to its from-scratch baseline (a distilled student, a transfer run), or any
multi-seed runs side by side: per val-accuracy threshold the steps each seed
took ("—" when it never got there), the Kaplan–Meier median (a seed that never got there is
censored at its own run's budget, ``summary["step"]``, so runs with different budgets compare
correctly), k/N reached, the speed-up over the baseline run with its bootstrap interval, and
the log-rank p; written as ``comparison.md`` and ``comparison.json`` in the run's directory."""

from __future__ import annotations

import json
import math
from pathlib import Path

from groklab.engine.milestones import THRESHOLD_KEYS
from groklab.figures.conditions import plot_condition_curves
from groklab.runs.files import write_atomic, write_json_atomic
from groklab.runs.rundir import RunDir
from groklab.stats import GrokTimes, kaplan_meier, logrank, speedup

COMPARED_THRESHOLDS = THRESHOLD_KEYS[1:]  # steps to 90, 95 and 99 % val accuracy


def grok_times(summary: dict, threshold: str) -> GrokTimes:
    """The seeds' steps to ``threshold``, censored at the run's budget (its last step)."""
    try:
        times = [s["steps_to_val_acc"][threshold] for s in summary["seeds"]]
    except KeyError:
        raise ValueError(f"summary has no steps_to_val_acc[{threshold!r}]; pass thresholds "
                         f"recorded by the run (e.g. {COMPARED_THRESHOLDS})") from None
    return GrokTimes.from_milestones(times, summary["step"])


def comparison_rows(runs: dict[str, dict], thresholds=COMPARED_THRESHOLDS,
                    baseline: str | None = None) -> list[dict]:
    """One row per run (label → its ``summary.json``), with per threshold ``th`` the seeds'
    ``steps_to_{th}`` (None = not reached), ``km_median_{th}`` (∞ = not reached),
    ``reached_{th}`` ("k/N") and, against ``baseline`` (a label; default the first run),
    ``speedup_{th}`` (a ``Speedup``) and ``logrank_p_{th}``, None in the baseline's own row."""
    baseline = next(iter(runs)) if baseline is None else baseline
    if baseline not in runs:
        raise ValueError(f"baseline {baseline!r} is not one of the runs {list(runs)}")
    ref = {th: grok_times(runs[baseline], th) for th in thresholds}
    rows = []
    for label, s in runs.items():
        row = {"run": label, "seeds": len(s["seeds"]), "budget_steps": s["step"],
               "final_val_acc": [x["final"].get("val_acc") for x in s["seeds"]]}
        for th in thresholds:
            g = grok_times(s, th)
            row[f"steps_to_{th}"] = [x["steps_to_val_acc"][th] for x in s["seeds"]]
            row[f"km_median_{th}"] = kaplan_meier(g).median
            row[f"reached_{th}"] = g.k_of_n()
            row[f"speedup_{th}"] = row[f"logrank_p_{th}"] = None
            if label != baseline:
                row[f"speedup_{th}"] = speedup(ref[th], g)
                row[f"logrank_p_{th}"] = logrank(g, ref[th])[1]
        rows.append(row)
    return rows


def _cell(x: float, spec: str = "{:g}") -> str:
    return "—" if x is None or math.isnan(x) else "not reached" if x == math.inf else \
        spec.format(x)


def _json_safe(x):
    """∞ → "inf" and nan → null (as ``Speedup.to_dict``), ``Speedup`` → its dict."""
    if isinstance(x, dict):
        return {k: _json_safe(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_json_safe(v) for v in x]
    if hasattr(x, "to_dict"):
        return x.to_dict()
    if isinstance(x, float):
        return None if math.isnan(x) else "inf" if x == math.inf else x
    return x


def comparison_markdown(rows: list[dict], thresholds=COMPARED_THRESHOLDS,
                        baseline: str | None = None) -> str:
    """One Markdown table per threshold of ``comparison_rows``' rows."""
    baseline = rows[0]["run"] if baseline is None else baseline
    blocks = []
    for th in thresholds:
        lines = [f"## Steps to {float(th) * 100:g} % val accuracy", "",
                 f"| run | budget | steps per seed | KM median | reached | "
                 f"speed-up vs {baseline} [95 % CI] | log-rank p |",
                 "|---|---|---|---|---|---|---|"]
        for r in rows:
            steps = ", ".join("—" if x is None else str(x) for x in r[f"steps_to_{th}"])
            sp, p = r[f"speedup_{th}"], r[f"logrank_p_{th}"]
            lines.append(f"| {r['run']} | {r['budget_steps']} | {steps} | "
                         f"{_cell(r[f'km_median_{th}'])} | {r[f'reached_{th}']} | "
                         f"{'reference' if sp is None else sp.format()} | "
                         f"{'reference' if p is None else _cell(p, '{:.3g}')} |")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def write_comparison(run_dir: Path, baseline_dir: Path, run_label: str = "distilled",
                     baseline_label: str = "from scratch", title: str | None = None,
                     note: str = "", thresholds=COMPARED_THRESHOLDS) -> Path:
    """Compare the run in ``run_dir`` with the one in ``baseline_dir`` (each with its own
    budget); writes ``run_dir/comparison.md`` and ``comparison.json``, returns the former."""
    run_dir, baseline_dir = Path(run_dir), Path(baseline_dir)
    if run_label == baseline_label:
        raise ValueError(f"run and baseline need different labels, both are {run_label!r}")
    runs = {run_label: json.loads((run_dir / "summary.json").read_text()),
            baseline_label: json.loads((baseline_dir / "summary.json").read_text())}
    rows = comparison_rows(runs, thresholds, baseline=baseline_label)
    title = title or f"{run_label} vs {baseline_label}"
    text = "\n".join([
        f"# {title}", "",
        f"{run_label}: `{run_dir}`; {baseline_label}: `{baseline_dir}`. {note}".rstrip(), "",
        "Steps per seed; — = not reached within the run's budget (censored at that budget in "
        "the Kaplan–Meier median, the speed-up and the log-rank test). Speed-up = KM median of "
        f"{baseline_label} / KM median of {run_label} (> 1: {run_label} got there faster), "
        "with a bootstrap percentile interval over seeds; \"> x\" is a lower bound when "
        f"{baseline_label}'s median is not reached, — when {run_label}'s is not. Log-rank p: "
        "two-sided test that both reach the threshold on the same time scale.", "",
        comparison_markdown(rows, thresholds, baseline_label)])
    path = run_dir / "comparison.md"
    write_atomic(path, text + "\n")
    write_json_atomic(run_dir / "comparison.json", {
        "run": str(run_dir), "baseline": str(baseline_dir), "run_label": run_label,
        "baseline_label": baseline_label, "thresholds": list(thresholds),
        "rows": _json_safe(rows)})
    return path


def write_distill_comparison(student_dir: Path, scratch_dir: Path) -> Path:
    """A distilled student next to the same student trained from scratch."""
    return write_comparison(
        student_dir, scratch_dir, run_label="distilled", baseline_label="from scratch",
        title="Distilled student vs the same student from scratch",
        note="Same architecture, recipe, seeds and split.")


def write_transfer_comparison(run_dir: Path, baseline_dir: Path) -> Path:
    """A transfer run next to the same architecture trained from random initialization, plus
    ``figures/transfer_vs_baseline.png`` (and its log-x twin)."""
    run_dir, baseline_dir = Path(run_dir), Path(baseline_dir)
    curves = {"transfer": RunDir(run_dir).read_metrics(),
              "from scratch": RunDir(baseline_dir).read_metrics()}
    for name, log_x in (("transfer_vs_baseline.png", False),
                        ("transfer_vs_baseline_logx.png", True)):
        plot_condition_curves(curves, run_dir / "figures" / name, per_seed=True, log_x=log_x)
    return write_comparison(run_dir, baseline_dir, run_label="transfer",
                            baseline_label="from scratch",
                            title="Transfer vs the same architecture from random initialization")
