"""Per-row losses over the logits read at the answer position (docs/architecture.md §4 "Losses").

- ``softmax``: cross-entropy over softmax, ℓ(z, y) = logsumexp(z) − z_y.
- ``stablemax``: Prieto et al. 2025 ("Grokking at the Edge of Numerical Stability",
  arXiv:2501.04697). s(x) = x + 1 for x ≥ 0 and 1 / (1 − x) for x < 0;
  StableMax(z)_i = s(z_i) / Σ_j s(z_j); ℓ = −log StableMax(z)_y. It is *not* max-shifted softmax.
- ``sparsemax``: Martins & Astudillo 2016 (arXiv:1602.02068), the Euclidean projection of z onto
  the simplex, trained with its own sparsemax loss (optax's ``multiclass_sparsemax_loss``).

Each loss is computed in ``dtype`` (float32, or float64 when the run enables 64-bit floats).
Accuracy is argmax(z) == y for all three: each normalizer is monotone in z, so the argmax of the
probabilities is the argmax of the logits.

The Softmax-Collapse fraction (Prieto et al. §3) is the share of rows whose softmax has collapsed
in the working precision: Σ_j exp(z_j − max z) == 1 exactly, i.e. every non-maximal exp term
underflowed to nothing, so the gradient of the correct class vanishes.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from groklab.objectives import LOSSES


def stablemax_s(x: jax.Array) -> jax.Array:
    """Prieto et al.'s s(x): x + 1 for x ≥ 0, 1 / (1 − x) for x < 0 (positive, increasing, slope
    1 at 0 from both sides). The 1/(1 − x) branch only sees x ≤ 0, where it is finite, so
    gradients through ``where`` stay finite."""
    pos = x + 1.0
    neg = 1.0 / (1.0 - jnp.minimum(x, 0.0))
    return jnp.where(x >= 0, pos, neg)


def stablemax(logits: jax.Array, axis: int = -1) -> jax.Array:
    """StableMax probabilities s(z_i) / Σ_j s(z_j)."""
    s = stablemax_s(logits)
    return s / s.sum(axis=axis, keepdims=True)


def stablemax_cross_entropy(logits_BV: jax.Array, labels_B: jax.Array) -> jax.Array:
    """−log StableMax(z)_y per row, as log Σ_j s(z_j) − log s(z_y)."""
    s = stablemax_s(logits_BV)
    s_y = jnp.take_along_axis(s, labels_B[:, None], axis=-1)[:, 0]
    return jnp.log(s.sum(axis=-1)) - jnp.log(s_y)


def sparsemax(logits: jax.Array) -> jax.Array:
    """Sparsemax probabilities of each row (projection onto the probability simplex)."""
    return jax.vmap(optax.projections.projection_simplex)(logits.reshape(-1, logits.shape[-1])
                                                          ).reshape(logits.shape)


def per_row_loss(logits_BV: jax.Array, labels_B: jax.Array, loss: str = "softmax",
                 dtype=jnp.float32) -> jax.Array:
    """The named per-row loss, computed in ``dtype``."""
    z = logits_BV.astype(dtype)
    if loss == "softmax":
        return optax.softmax_cross_entropy_with_integer_labels(z, labels_B)
    if loss == "stablemax":
        return stablemax_cross_entropy(z, labels_B)
    if loss == "sparsemax":
        return optax.losses.multiclass_sparsemax_loss(z, labels_B)
    raise ValueError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")


def softmax_collapsed(logits_BV: jax.Array, dtype=jnp.float32) -> jax.Array:
    """1.0 for rows whose softmax has collapsed in ``dtype`` (Σ exp(z − max z) == 1), else 0."""
    z = logits_BV.astype(dtype)
    total = jnp.exp(z - z.max(axis=-1, keepdims=True)).sum(axis=-1)
    return (total == 1).astype(jnp.float32)


def per_row_loss_and_correct(logits_BV: jax.Array, labels_B: jax.Array, loss: str = "softmax",
                             dtype=jnp.float32):
    """Per-row loss and 0/1 correctness (argmax == label)."""
    row_loss = per_row_loss(logits_BV, labels_B, loss, dtype)
    correct = (jnp.argmax(logits_BV, axis=-1) == labels_B).astype(jnp.float32)
    return row_loss, correct


def weighted_loss(logits_BV: jax.Array, labels_B: jax.Array, weights_B: jax.Array,
                  loss: str = "softmax", dtype=jnp.float32):
    """Weighted mean loss; rows with weight 0 (padding of a short last batch) drop out, so a
    partial batch averages over its real rows only, as an unpadded one would. The mean is
    returned in float32 whatever ``dtype`` the per-row losses used."""
    row_loss, correct = per_row_loss_and_correct(logits_BV, labels_B, loss, dtype)
    w = weights_B.astype(row_loss.dtype)
    denom = jnp.maximum(w.sum(), 1.0)
    mean = ((row_loss * w).sum() / denom).astype(jnp.float32)
    return mean, {"acc": (correct * weights_B).sum() / jnp.maximum(weights_B.sum(), 1.0)}
