"""Objectives: what the engine minimizes. Softmax cross-entropy, StableMax and sparsemax over
the answer logits; distillation objectives plug into the same signature."""

from groklab.objectives.losses import (
    LOSSES,
    per_row_loss,
    per_row_loss_and_correct,
    softmax_collapsed,
    sparsemax,
    stablemax,
    weighted_loss,
)
from groklab.objectives.supervised import Supervised

__all__ = ["LOSSES", "Supervised", "per_row_loss", "per_row_loss_and_correct",
           "softmax_collapsed", "sparsemax", "stablemax", "weighted_loss"]
