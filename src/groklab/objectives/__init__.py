"""Objectives: what the engine minimizes. Softmax cross-entropy, StableMax and sparsemax over
the answer logits; distillation objectives plug into the same signature.

``LOSSES`` (the loss names a config may give) imports no JAX; the rest is imported on first use
(PEP 562), so ``engine.setup.plan_run`` checks ``train.loss`` before JAX starts
(docs/performance.md "Start-up").
"""

from __future__ import annotations

from groklab.lazy import lazy_names

LOSSES = ("softmax", "stablemax", "sparsemax")

# name -> the submodule that defines it, imported on first access
_LAZY = {**{name: "groklab.objectives.losses" for name in (
    "per_row_loss", "per_row_loss_and_correct", "softmax_collapsed", "sparsemax", "stablemax",
    "weighted_loss")}, "Supervised": "groklab.objectives.supervised"}

__all__ = ["LOSSES", "Supervised", "per_row_loss", "per_row_loss_and_correct",
           "softmax_collapsed", "sparsemax", "stablemax", "weighted_loss"]


__getattr__, __dir__ = lazy_names(__name__, _LAZY)
