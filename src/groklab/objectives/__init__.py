"""Objectives: what the engine minimizes. Softmax cross-entropy, StableMax and sparsemax over
the answer logits; distillation objectives plug into the same signature.

``LOSSES`` (the loss names a config may give) imports no JAX; the rest is imported on first use
(PEP 562), so ``engine.setup.plan_run`` checks ``train.loss`` before JAX starts
(docs/performance.md "Start-up").
"""

from __future__ import annotations

LOSSES = ("softmax", "stablemax", "sparsemax")

# name -> the submodule that defines it, imported on first access
_LAZY = {**{name: "groklab.objectives.losses" for name in (
    "per_row_loss", "per_row_loss_and_correct", "softmax_collapsed", "sparsemax", "stablemax",
    "weighted_loss")}, "Supervised": "groklab.objectives.supervised"}

__all__ = ["LOSSES", "Supervised", "per_row_loss", "per_row_loss_and_correct",
           "softmax_collapsed", "sparsemax", "stablemax", "weighted_loss"]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'groklab.objectives' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
