"""The three phases of grokking of Nanda et al. 2023 (§5.2: memorization, circuit formation,
clean-up), located on one seed's evaluation records (metrics.jsonl). Operational boundaries,
since the paper draws them by eye:

- memorization ends at the first evaluation with train accuracy ≥ 0.99 (the run's
  ``memorized_step``);
- circuit formation lasts while the validation loss stays near its post-memorization peak: it
  ends, and clean-up begins, at the first evaluation after the peak where the validation loss
  has fallen by 10 % of the way from the peak to its final value;
- clean-up ends when validation accuracy first reaches 0.99 (grokked), or at the last
  evaluation.

The restricted and excluded losses are drawn over these phases (figures/progress_measures.png):
in the paper the excluded loss rises during circuit formation while the restricted loss falls,
and the validation loss drops during clean-up.
"""

from __future__ import annotations

import numpy as np

FALL = 0.1


def locate_phases(steps, train_acc, val_loss, val_acc) -> dict | None:
    """{"memorization": [0, m], "circuit_formation": [m, c], "cleanup": [c, e]} in steps, or
    None when the seed never memorized."""
    steps, train_acc = np.asarray(steps), np.asarray(train_acc, float)
    val_loss, val_acc = np.asarray(val_loss, float), np.asarray(val_acc, float)
    mem = np.flatnonzero(train_acc >= 0.99)
    if not len(mem):
        return None
    m = int(mem[0])
    peak = m + int(np.argmax(val_loss[m:]))
    drop = val_loss[peak] - val_loss[-1]
    after = np.flatnonzero(val_loss[peak:] <= val_loss[peak] - FALL * drop)
    c = peak + int(after[0]) if drop > 0 and len(after) else len(steps) - 1
    grok = np.flatnonzero(val_acc[c:] >= 0.99)
    e = c + int(grok[0]) if len(grok) else len(steps) - 1
    return {"memorization": [int(steps[0]), int(steps[m])],
            "circuit_formation": [int(steps[m]), int(steps[c])],
            "cleanup": [int(steps[c]), int(steps[e])]}


def phases_by_seed(metrics: list[dict], seeds) -> dict:
    """``{str(seed): locate_phases(...) or None}`` from a run's metrics.jsonl records."""
    out = {}
    for seed in seeds:
        ms = sorted((r for r in metrics if r["seed"] == seed), key=lambda r: r["step"])
        out[str(seed)] = locate_phases(
            [r["step"] for r in ms], [r["train_acc"] for r in ms], [r["val_loss"] for r in ms],
            [r["val_acc"] for r in ms]) if ms else None
    return out
