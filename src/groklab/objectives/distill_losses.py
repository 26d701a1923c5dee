"""The distillation losses (docs/architecture.md §4 "Distillation"), as pure functions of arrays.

- Logit KD (Hinton, Vinyals & Dean 2015): T²·KL(softmax(z_T/T) ‖ softmax(z_S/T)) per row; the T²
  keeps its gradient on the scale of the cross-entropy's when T changes.
- Attention transfer (after Zagoruyko & Komodakis 2017, on attention patterns as in the seeds'
  runs): mean squared difference of the attention probabilities of mapped layers; averaged over
  heads first when the two models have different head counts.
- Feature projection (FitNets, Romero et al. 2015): mean squared difference between a learned
  linear projection of the student's hidden state and the teacher's hidden state. The projection
  goes student → teacher, so the target is the frozen teacher's features: shrinking the projector
  (as weight decay would) moves the prediction to 0 and the loss to ‖h_T‖², never to 0. (The
  other direction, comparing h_S with P·h_T, has the collapse P → 0, h_S → 0.)
- Learned weighting (Kendall, Gal & Cipolla 2018, homoscedastic uncertainty): Σ_k exp(−s_k)·L_k +
  s_k with one learned log-variance s_k per loss term.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def kd_per_row(student_logits: jax.Array, teacher_logits: jax.Array,
               temperature: float) -> jax.Array:
    """T²·KL(p_T ‖ p_S) per row, p = softmax(z / T)."""
    t = jnp.float32(temperature)
    log_p_t = jax.nn.log_softmax(teacher_logits.astype(jnp.float32) / t, axis=-1)
    log_p_s = jax.nn.log_softmax(student_logits.astype(jnp.float32) / t, axis=-1)
    return t * t * (jnp.exp(log_p_t) * (log_p_t - log_p_s)).sum(-1)


def attention_per_row(student_patterns: list[jax.Array],
                      teacher_patterns: list[jax.Array]) -> jax.Array:
    """Mean over the mapped layer pairs of the mean squared pattern difference, per row.
    Patterns are [B, H, Tq, Tk]; with different head counts both are head-averaged."""
    total = 0.0
    for s, t in zip(student_patterns, teacher_patterns, strict=True):
        if s.shape[1] != t.shape[1]:
            s, t = s.mean(1, keepdims=True), t.mean(1, keepdims=True)
        total = total + ((s - t) ** 2).mean(axis=(1, 2, 3))
    return total / len(student_patterns)


def feature_per_row(student_hidden: jax.Array, teacher_hidden: jax.Array,
                    projector: jax.Array) -> jax.Array:
    """mean_d (h_S P − h_T)² per row; h are [B, d] (or [B, T, d], averaged over positions),
    P is [d_S, d_T]."""
    diff = student_hidden @ projector - teacher_hidden
    return (diff ** 2).reshape(diff.shape[0], -1).mean(-1)


def uncertainty_weighted(losses: dict[str, jax.Array], log_vars: dict[str, jax.Array]):
    """Σ_k exp(−s_k)·L_k + s_k (Kendall et al. 2018)."""
    return sum(jnp.exp(-log_vars[k]) * v + log_vars[k] for k, v in losses.items())
