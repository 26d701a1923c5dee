"""Attention entropy in bits (docs/architecture.md §4): H = −Σ_k a_k log2 a_k of each query's
attention
distribution a over its admissible keys (all keys, or keys ≤ the query under a causal mask).
A query with a single admissible key has entropy 0 by construction and is excluded. Uniform
attention over n keys has entropy log2(n)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def admissible_keys(n_ctx: int, causal: bool) -> np.ndarray:
    """[T, T] bool: may query q attend to key k."""
    full = np.ones((n_ctx, n_ctx), bool)
    return np.tril(full) if causal else full


def entropy_bits(pattern_BHQK: jax.Array) -> jax.Array:
    """[B, H, Q] entropy in bits of each query's attention distribution."""
    a = pattern_BHQK.astype(jnp.float32)
    safe = jnp.where(a > 0, a, 1.0)
    return -jnp.sum(jnp.where(a > 0, a * jnp.log2(safe), 0.0), axis=-1)


def attention_entropy(pattern_BHQK: jax.Array, admissible_QK) -> dict[str, jax.Array]:
    """Per head and query: mean entropy over rows [H, Q] (NaN for excluded queries); per head:
    the mean over the counted queries [H]; and the maximum possible, log2(#keys), per query."""
    n_keys = np.asarray(admissible_QK).sum(-1)
    counted = n_keys >= 2  # a static mask: it depends on the shape only
    per_query = entropy_bits(pattern_BHQK).mean(0)  # [H, Q]
    per_head = per_query[:, counted].mean(-1) if counted.any() else \
        jnp.full(per_query.shape[:1], jnp.nan)
    per_query = jnp.where(jnp.asarray(counted)[None], per_query, jnp.nan)
    return {"per_query": per_query, "per_head": per_head,
            "max_bits": jnp.asarray(np.log2(np.maximum(n_keys, 1)), jnp.float32)}
