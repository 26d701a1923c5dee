"""Figures of one run: its training curves (accuracy and loss vs step, one colour per seed,
milestones marked, and the learning-rate and weight-decay schedules when either changes) and,
for a distilled student, its val accuracy next to its teacher's."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from groklab.figures.save import save_figure  # noqa: E402


def _varies(by_seed: dict[int, list[dict]], key: str) -> bool:
    values = {r.get(key) for rs in by_seed.values() for r in rs}
    return len(values - {None}) > 1


def plot_training_curves(records: list[dict], seeds_summary: list[dict], path: str | Path,
                         log_x: bool = False, pdf: bool = False, title: str = "") -> Path:
    """Accuracy (train dashed, val solid) and loss vs step per seed; a circle marks where each
    seed memorized (train ≥ 0.99) and a star where it grokked (val ≥ 0.99). When the learning
    rate or the weight decay changes during the run (a schedule, warmup, per-seed values, the
    adaptive weight decay), a third panel shows both (lr solid on the left axis, wd dotted on
    the right), as logged in metrics.jsonl."""
    by_seed: dict[int, list[dict]] = defaultdict(list)
    for r in records:
        by_seed[r["seed"]].append(r)
    schedules = _varies(by_seed, "lr") or _varies(by_seed, "wd")
    fig, axes = plt.subplots(1, 3 if schedules else 2, figsize=(16 if schedules else 11, 4),
                             constrained_layout=True)
    ax_acc, ax_loss = axes[0], axes[1]
    ax_lr = axes[2] if schedules else None
    ax_wd = ax_lr.twinx() if schedules else None
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    marks = {s["seed"]: s for s in seeds_summary}
    for i, (seed, rs) in enumerate(sorted(by_seed.items())):
        c = colors[i % len(colors)]
        steps = [r["step"] for r in rs]

        def col(key, rs=rs):
            return [r[key] if r.get(key) is not None else float("nan") for r in rs]

        ax_acc.plot(steps, col("train_acc"), "--", color=c, alpha=0.7)
        ax_acc.plot(steps, col("val_acc"), "-", color=c, label=f"seed {seed}")
        ax_loss.plot(steps, col("train_loss"), "--", color=c, alpha=0.7)
        ax_loss.plot(steps, col("val_loss"), "-", color=c)
        if schedules:
            ax_lr.plot(steps, col("lr"), "-", color=c)
            ax_wd.plot(steps, col("wd"), ":", color=c)
        m = marks.get(seed, {})
        if m.get("memorized_step") is not None:
            ax_acc.plot(m["memorized_step"], 0.99, "o", color=c, mfc="none")
        grok = (m.get("steps_to_val_acc") or {}).get("0.99")
        if grok is not None:
            ax_acc.plot(grok, 0.99, "*", color=c, ms=11)
    for ax in axes:
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        if log_x:
            ax.set_xscale("log")
    ax_acc.set_ylabel("accuracy (train --, val —)")
    ax_acc.set_ylim(-0.02, 1.02)
    ax_loss.set_ylabel("cross-entropy loss")
    ax_loss.set_yscale("log")
    if schedules:
        ax_lr.set_ylabel("learning rate (—)")
        ax_wd.set_ylabel("weight decay (··)")
        ax_lr.set_title("schedules", fontsize=9)
    ax_acc.legend(loc="lower right", fontsize=8)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path, pdf, dpi=120)


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
    return save_figure(fig, path, pdf, dpi=120)


def _nan(x):
    return float("nan") if x is None else x
