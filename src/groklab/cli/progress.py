"""Live progress (rich) and the end-of-run result table."""

from __future__ import annotations

import math
from pathlib import Path

from rich.console import Console
from rich.live import Live
from rich.table import Table


class LiveProgress:
    """Step/epoch, per-seed train and val accuracy, steps/s and ETA, redrawn after each eval.
    Disabled (silent) when stdout is not a terminal or with --quiet."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self._live = None

    def __enter__(self):
        if self.enabled:
            self._live = Live(Table(), refresh_per_second=4, transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, *exc):
        if self._live is not None:
            self._live.__exit__(*exc)

    def update(self, p) -> None:
        if self._live is None:
            return
        eta = "?" if not math.isfinite(p.eta_s) else f"{p.eta_s:.0f}s"
        table = Table(title=f"step {p.step}/{p.total_steps} · epoch {p.epoch:.1f} · "
                            f"{p.steps_per_s:.1f} steps/s · ETA {eta}")
        for col in ("seed", "train acc", "val acc", "train loss", "val loss", "‖w‖"):
            table.add_column(col, justify="right")
        for r in p.records:
            table.add_row(str(r["seed"]), _pct(r["train_acc"]), _pct(r["val_acc"]),
                          _num(r["train_loss"]), _num(r["val_loss"]), _num(r["weight_norm"]))
        self._live.update(table)


def _pct(x) -> str:
    return "nan" if x is None else f"{100 * x:.2f}%"


def _num(x) -> str:
    return "nan" if x is None else f"{x:.4g}"


def result_table(summary: dict) -> Table:
    table = Table(title=f"{summary['status']} at step {summary['step']} (epoch "
                        f"{summary['epoch']:g}) · {summary['wall_time_s']:.1f}s wall, "
                        f"{summary['compile_time_s']:.1f}s compile")
    for col in ("seed", "memorized", "val≥0.5", "val≥0.9", "val≥0.99", "grokked", "train acc",
                "val acc"):
        table.add_column(col, justify="right")
    for s in summary["seeds"]:
        e = s["epochs_to_val_acc"]
        table.add_row(
            str(s["seed"]), _ep(s["memorized_epoch"]), _ep(e["0.5"]), _ep(e["0.9"]),
            _ep(e["0.99"]),
            "diverged" if s["diverged"] else ("yes" if s["grokked"] else "no"),
            _pct(s["final"].get("train_acc")), _pct(s["final"].get("val_acc")),
        )
    return table


def _ep(x) -> str:
    return "—" if x is None else f"ep {x:g}"


def print_result(summary: dict, out: Path) -> None:
    console = Console(width=120)
    console.print(result_table(summary))
    console.print(f"run directory: {out}   figure: {out / 'figures' / 'curves.png'}")
