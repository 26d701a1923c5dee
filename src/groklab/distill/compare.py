"""A distilled student next to the same student trained from scratch: ``runs.compare`` with
the distillation's labels, as ``comparison.md`` / ``comparison.json`` in the student's run
directory."""

from __future__ import annotations

from pathlib import Path

from groklab.runs import compare
from groklab.runs.compare import THRESHOLDS, comparison_rows, grok_times

__all__ = ["THRESHOLDS", "comparison_rows", "grok_times", "write_comparison"]


def write_comparison(student_dir: Path, scratch_dir: Path) -> Path:
    return compare.write_comparison(
        student_dir, scratch_dir, run_label="distilled", baseline_label="from scratch",
        title="Distilled student vs the same student from scratch",
        note="Same architecture, recipe, seeds and split.")
