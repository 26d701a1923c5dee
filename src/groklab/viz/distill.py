"""A student's validation curves next to its teacher's (distillation runs)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_student_vs_teacher(student: list[dict], teacher: list[dict], about: dict,
                            path: str | Path, pdf: bool = False) -> Path:
    """Val accuracy vs epoch per seed: the student solid, its teacher dashed up to the
    checkpoint the student learned from (marked with a dot)."""
    by_seed = defaultdict(list)
    for r in student:
        by_seed[r["seed"]].append(r)
    t_by_seed = defaultdict(list)
    for r in teacher:
        t_by_seed[r["seed"]].append(r)
    fig, ax = plt.subplots(figsize=(7, 4), constrained_layout=True)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, seed in enumerate(about["seeds"]):
        c = colors[i % len(colors)]
        rs = by_seed.get(seed, [])
        ax.plot([r["epoch"] for r in rs], [_nan(r["val_acc"]) for r in rs], color=c,
                label=f"student, seed {seed}")
        step = about["steps"][i]
        ts = [r for r in t_by_seed.get(seed, []) if r["step"] <= step]
        if ts:
            ax.plot([r["epoch"] for r in ts], [_nan(r["val_acc"]) for r in ts], color=c,
                    ls="--", lw=1, label=f"teacher, seed {seed}")
            ax.plot([ts[-1]["epoch"]], [_nan(ts[-1]["val_acc"])], "o", color=c, ms=4)
    ax.set_xlabel("epoch")
    ax.set_ylabel("val accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    sel = about.get("selector") or "latest checkpoint"
    ax.set_title(f"student vs teacher ({sel}; dot: the checkpoint used)", fontsize=10)
    ax.legend(fontsize=7, ncol=2)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    if pdf:
        fig.savefig(path.with_suffix(".pdf"))
    plt.close(fig)
    return path


def _nan(x):
    return float("nan") if x is None else x
