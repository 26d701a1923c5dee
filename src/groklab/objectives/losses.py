"""Losses over logits read at the answer position.

Cross-entropy over softmax: ℓ(z, y) = −log softmax(z)_y = logsumexp(z) − z_y, computed in float32
(or float64 when ``x64`` is enabled and requested) — DESIGN.md §3.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax


def per_row_loss_and_correct(logits_BV: jax.Array, labels_B: jax.Array, dtype=jnp.float32):
    """Per-row softmax cross-entropy and 0/1 correctness (argmax == label)."""
    loss = optax.softmax_cross_entropy_with_integer_labels(logits_BV.astype(dtype), labels_B)
    correct = (jnp.argmax(logits_BV, axis=-1) == labels_B).astype(jnp.float32)
    return loss, correct


def cross_entropy(logits_BV: jax.Array, labels_B: jax.Array, weights_B: jax.Array,
                  dtype=jnp.float32):
    """Weighted mean cross-entropy; rows with weight 0 (padding of a short last batch) drop out,
    so a partial batch averages over its real rows only, as an unpadded one would."""
    loss, correct = per_row_loss_and_correct(logits_BV, labels_B, dtype)
    denom = jnp.maximum(weights_B.sum(), 1.0)
    return (loss * weights_B).sum() / denom, {"acc": (correct * weights_B).sum() / denom}
