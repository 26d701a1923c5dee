"""Interchangeable parts of a transformer, chosen once at construction.

Each factory returns a callable with one signature, so ``Block.__call__`` reads the same whatever
the configuration: norms (RMSNorm / LayerNorm / identity), positional schemes (RoPE,
ALiBi, learned, none) and MLP activations.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx


class Identity(nnx.Module):
    """A norm slot that does nothing (``norm="none"`` or the unused side of pre/post norm)."""

    def __call__(self, x):
        return x


def make_norm(kind: str, d_model: int, eps: float, use_bias: bool, rngs: nnx.Rngs) -> nnx.Module:
    """RMSNorm (Zhang & Sennrich 2019), LayerNorm (Ba et al. 2016) or identity."""
    if kind == "rmsnorm":
        return nnx.RMSNorm(d_model, epsilon=eps, use_fast_variance=False, rngs=rngs)
    if kind == "layernorm":
        return nnx.LayerNorm(
            d_model, epsilon=eps, use_bias=use_bias, use_fast_variance=False, rngs=rngs
        )
    return Identity()


# ----- positions inside attention -----


def rope_tables(n_ctx: int, d_head: int, base: float) -> tuple[jax.Array, jax.Array]:
    """cos/sin tables [n_ctx, d_head/2] for RoPE (Su et al. 2021, arXiv:2104.09864):
    θ_i = base^(−2i/d_head), angle(t, i) = t·θ_i."""
    half = d_head // 2
    theta = 1.0 / (base ** (jnp.arange(half, dtype=jnp.float32) * 2.0 / d_head))
    angles = jnp.arange(n_ctx, dtype=jnp.float32)[:, None] * theta[None, :]
    return jnp.cos(angles), jnp.sin(angles)


def apply_rope(x_BTHD: jax.Array, cos_TD: jax.Array, sin_TD: jax.Array) -> jax.Array:
    """Rotate each (x_i, x_{i+d/2}) pair by the position's angle (the "rotate-half" layout).
    A rotation, so it preserves every vector's norm."""
    T = x_BTHD.shape[1]
    cos, sin = cos_TD[None, :T, None, :], sin_TD[None, :T, None, :]
    x1, x2 = jnp.split(x_BTHD, 2, axis=-1)
    return jnp.concatenate([x1 * cos - x2 * sin, x1 * sin + x2 * cos], axis=-1)


def alibi_slopes(n_heads: int) -> jax.Array:
    """Head slopes m_h = 2^(−8h/H), h = 1..H (Press et al. 2022, arXiv:2108.12409)."""
    return 2.0 ** (-8.0 * jnp.arange(1, n_heads + 1, dtype=jnp.float32) / n_heads)


def alibi_bias(n_heads: int, n_ctx: int) -> jax.Array:
    """Score bias [H, T, T] = −m_h · |i − j| (the causal mask removes j > i)."""
    pos = jnp.arange(n_ctx, dtype=jnp.float32)
    dist = jnp.abs(pos[:, None] - pos[None, :])
    return -alibi_slopes(n_heads)[:, None, None] * dist[None]


# ----- activations -----

ACTIVATION_FNS = {
    "relu": jax.nn.relu,
    "gelu": jax.nn.gelu,
    "silu": jax.nn.silu,
    "swiglu": jax.nn.silu,  # the gate's nonlinearity; the gating product lives in the MLP
    "quadratic": jnp.square,
}
