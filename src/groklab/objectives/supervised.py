"""The plain-training objective: the chosen loss of the model's answer logits."""

from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp

from groklab.objectives.losses import weighted_loss


@dataclass(frozen=True)
class Supervised:
    """objective(model, tokens, labels, weights, key, inputs, extra) -> (loss, aux): ``inputs``
    are per-seed data of the objective (a teacher's parameters), ``extra`` its own trainable
    parameters, ``aux`` the scalars named in ``aux_keys``. Hashable, so it can sit in the static
    part of the compiled program."""

    loss: str = "softmax"  # softmax / stablemax / sparsemax
    dtype: str = "float32"  # float32 or float64 (needs 64-bit mode, see Engine)

    aux_keys = ()  # per-step scalars the engine averages into metrics.jsonl (none here)

    def init_extra(self, key):
        """Trainable parameters of the objective itself (none here; see objectives.distill)."""
        return {}

    def __call__(self, model, tokens, labels, weights, key, inputs=None, extra=None):
        loss, _ = weighted_loss(model(tokens, key), labels, weights, self.loss,
                                jnp.dtype(self.dtype))
        return loss, {}
