"""Objectives: what the engine minimizes. ``cross_entropy`` now; StableMax, sparsemax and
distillation objectives plug into the same signature."""

from groklab.objectives.losses import cross_entropy, per_row_loss_and_correct

__all__ = ["cross_entropy", "per_row_loss_and_correct"]
