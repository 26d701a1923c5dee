"""Representation measures on activations [N rows, A features] (docs/architecture.md §4 "Analysis").

- Linear CKA (Kornblith, Norouzi, Lee & Hinton 2019, "Similarity of neural network
  representations revisited", ICML): on column-centred X [N, A] and Y [N, B],
  CKA = ‖YᵀX‖²_F / (‖XᵀX‖_F · ‖YᵀY‖_F). Invariant to orthogonal transforms and isotropic scaling
  of either side; A and B may differ. Undefined (NaN) when either side is constant over rows.
- Effective rank, two notions, named as such: the *entropy rank* exp(H(σ/Σσ)) of Roy & Vetterli
  2007 ("The effective rank: a measure of effective dimensionality", EUSIPCO) and the
  *participation ratio* (Σσ)²/Σσ² of the singular values σ. Both equal k for k equal non-zero
  singular values. Representations are column-centred first (the rank of their covariance).
- Activation statistics and MLP neuron activity (a neuron is active on a row when its
  pre-activation is > 0: the open side of ReLU, GELU, SiLU and the SwiGLU gate; dead when it is
  active on no row).

Everything is jnp and jit-able; N is the row axis.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def centered(x_NA: jax.Array) -> jax.Array:
    x = x_NA.astype(jnp.float32)
    return x - x.mean(axis=0, keepdims=True)


def linear_cka(x_NA: jax.Array, y_NB: jax.Array) -> jax.Array:
    """Linear CKA of two representations of the same N rows (NaN if either is constant)."""
    x, y = centered(x_NA), centered(y_NB)
    cross = jnp.sum((y.T @ x) ** 2)
    norm_x = jnp.sqrt(jnp.sum((x.T @ x) ** 2))
    norm_y = jnp.sqrt(jnp.sum((y.T @ y) ** 2))
    denom = norm_x * norm_y
    return jnp.where(denom > 0, cross / jnp.where(denom > 0, denom, 1.0), jnp.nan)


def cka_matrix(xs: list[jax.Array], ys: list[jax.Array]) -> jax.Array:
    """[len(xs), len(ys)] linear CKA of every pair (each [N, ·] over the same rows)."""
    return jnp.stack([jnp.stack([linear_cka(x, y) for y in ys]) for x in xs])


def singular_values(x_NA: jax.Array, center: bool = True) -> jax.Array:
    """Singular values of x (column-centred when ``center``), [min(N, A)], descending. By SVD
    of x itself: square roots of the Gram matrix's eigenvalues turn float32 round-off (~1e-7
    of the largest) into spurious singular values of ~3e-4 of the largest, which shift the
    entropy rank."""
    x = centered(x_NA) if center else x_NA.astype(jnp.float32)
    return jnp.linalg.svd(x, compute_uv=False)


def entropy_rank(sv: jax.Array) -> jax.Array:
    """exp(H(p)), p = σ / Σσ (Roy & Vetterli 2007); 0 for an all-zero spectrum."""
    total = sv.sum()
    p = sv / jnp.where(total > 0, total, 1.0)
    h = -jnp.sum(jnp.where(p > 0, p * jnp.log(jnp.where(p > 0, p, 1.0)), 0.0))
    return jnp.where(total > 0, jnp.exp(h), 0.0)


def participation_ratio(sv: jax.Array) -> jax.Array:
    """(Σσ)² / Σσ² of the singular values σ (docs/architecture.md §4); 0 for an all-zero
    spectrum."""
    sq = jnp.sum(sv ** 2)
    return jnp.where(sq > 0, sv.sum() ** 2 / jnp.where(sq > 0, sq, 1.0), 0.0)


def effective_ranks(x_NA: jax.Array, center: bool = True) -> dict[str, jax.Array]:
    sv = singular_values(x_NA, center)
    return {"entropy_rank": entropy_rank(sv), "participation_ratio": participation_ratio(sv),
            "dim": jnp.float32(x_NA.shape[1])}


def activation_stats(x_NA: jax.Array) -> dict[str, jax.Array]:
    """Mean, std and mean |x| over every entry; mean per-feature std over rows."""
    x = x_NA.astype(jnp.float32)
    return {"mean": x.mean(), "std": x.std(), "mean_abs": jnp.abs(x).mean(),
            "feature_std": x.std(axis=0).mean()}


def neuron_activity(pre_NA: jax.Array) -> dict[str, jax.Array]:
    """Share of (row, neuron) pairs with pre-activation > 0; share of neurons active on no row
    (dead) and on every row (always on)."""
    on = pre_NA > 0
    per_neuron = on.mean(axis=0)
    return {"active_fraction": on.mean(), "dead_fraction": (per_neuron == 0).mean(),
            "always_active_fraction": (per_neuron == 1).mean()}
