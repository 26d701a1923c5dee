"""Recursive distillation (``groklab distill --chain 0.5,0.25``): generation k learns from
generation k − 1 (generation 0 is the teacher run), at the widths given relative to the
original teacher; each generation is a run directory ``OUT/gen<k>`` whose config names its
parent. ``chain.md`` (and ``chain.json``) say how grokking changes per generation."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from groklab.config import RunConfig
from groklab.errors import ConfigError
from groklab.runs.files import write_atomic, write_json_atomic
from groklab.runs.rundir import RunDir
from groklab.stats import GrokTimes, describe, kaplan_meier


def run_chain(make_config: Callable[[str, float], RunConfig], teacher: str,
              scales: list[float], out: Path,
              train: Callable[[RunConfig, Path], dict]) -> list[dict]:
    """Train every generation (skipping finished ones); ``make_config(parent_ref, scale)``
    gives a generation's config with its width relative to its parent."""
    out = Path(out)
    dirs = [out / f"gen{k + 1}" for k in range(len(scales))]
    parent, previous = teacher, 1.0
    summaries = []
    for scale, d in zip(scales, dirs):
        run = RunDir(d)
        if run.summary_path.exists() and run.read_summary().get("status") in (
                "completed", "stopped_early"):
            summaries.append(run.read_summary())
        else:
            if d.exists() and any(d.iterdir()):
                raise ConfigError(f"{str(d)!r} holds an unfinished generation; resume it with "
                                  f"groklab distill --resume --out {d}, then rerun the chain")
            summaries.append(train(make_config(parent, scale / previous), d))
        parent, previous = str(d.resolve()), scale
    rows = chain_rows(teacher, scales, summaries)
    write_json_atomic(out / "chain.json", {"teacher": teacher, "scales": scales,
                                           "generations": rows})
    write_atomic(out / "chain.md", chain_markdown(teacher, rows))
    return rows


def chain_rows(teacher: str, scales: list[float], summaries: list[dict]) -> list[dict]:
    rows = []
    for k, (scale, s) in enumerate(zip(scales, summaries)):
        times = GrokTimes.from_milestones([x["steps_to_val_acc"]["0.99"] for x in s["seeds"]],
                                          [s["step"]] * len(s["seeds"]))
        reached = [t for t in (x["steps_to_val_acc"]["0.99"] for x in s["seeds"]) if t]
        d = describe(reached) if len(reached) >= 2 else None
        model = s["config"]["model"]
        rows.append({"generation": k + 1, "width_vs_teacher": scale,
                     "d_model": model["d_model"], "n_layers": model["n_layers"],
                     "parent": s.get("teacher", {}).get("run"),
                     "grokked": times.k_of_n(),
                     "km_median_steps_99": _finite(kaplan_meier(times).median),
                     "mean_steps_99": None if d is None else d.mean,
                     "std_steps_99": None if d is None else d.std,
                     "final_val_acc": [x["final"].get("val_acc") for x in s["seeds"]]})
    return rows


def chain_markdown(teacher: str, rows: list[dict]) -> str:
    lines = ["# Recursive distillation", "", f"teacher: `{teacher}`", "",
             "| generation | width × teacher | d_model | layers | grokked (99 %) | steps to 99 % "
             "(mean ± std) | KM median | final val acc (mean) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ms = "—" if r["mean_steps_99"] is None else (
            f"{r['mean_steps_99']:.0f} ± {r['std_steps_99']:.0f}")
        km = r["km_median_steps_99"]
        km = "not reached" if km is None else f"{km:g}"
        vals = [v for v in r["final_val_acc"] if v is not None]
        fv = f"{sum(vals) / len(vals):.3f}" if vals else "—"
        lines.append(f"| {r['generation']} | {r['width_vs_teacher']:g} | {r['d_model']} | "
                     f"{r['n_layers']} | {r['grokked']} | {ms} | {km} | {fv} |")
    return "\n".join(lines) + "\n"


def _finite(x: float) -> float | None:
    """JSON has no infinity: a median never reached is None."""
    return x if x == x and abs(x) != float("inf") else None
