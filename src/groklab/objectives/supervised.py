"""The plain-training objective: the chosen loss of the model's answer logits."""

from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp

from groklab.objectives.losses import weighted_loss


@dataclass(frozen=True)
class Supervised:
    """objective(model, tokens, labels, weights, key) -> (loss, aux). Hashable, so it can sit in
    the static part of the compiled program."""

    loss: str = "softmax"  # softmax / stablemax / sparsemax
    dtype: str = "float32"  # float32 or float64 (needs 64-bit mode, see Engine)

    def __call__(self, model, tokens, labels, weights, key):
        return weighted_loss(model(tokens, key), labels, weights, self.loss,
                             jnp.dtype(self.dtype))
