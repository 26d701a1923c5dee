"""Weight statistics per parameter and in total (docs/architecture.md §4): L1 = Σ|w|, L2 = √Σw²,
their ratio L1/L2 (between 1 for one non-zero entry and √n for equal magnitudes), Hoyer sparsity
(√n − L1/L2)/(√n − 1) ∈ [0, 1] (Hoyer 2004, scale-free: 0 dense, 1 one-hot), and the share of
entries with |w| ≤ 1e-3. The seeds' weight norm counted a random-number counter as a
weight: only ``nnx.Param`` leaves are passed here.

Parameters are grouped into layers by name for gradient-flow plots: ``embed``, ``pos_embed``,
``blocks.i``, ``ln_final``, ``unembed`` (the first part, with the block index)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from groklab.params import named_leaves

NEAR_ZERO = 1e-3


def layer_of(name: str) -> str:
    parts = name.split(".")
    return ".".join(parts[:2]) if parts[0] == "blocks" else parts[0]


def tensor_stats(w: jax.Array) -> dict[str, jax.Array]:
    w = w.astype(jnp.float32).ravel()
    n = w.size
    l1, l2 = jnp.abs(w).sum(), jnp.sqrt(jnp.sum(w * w))
    ratio = jnp.where(l2 > 0, l1 / jnp.where(l2 > 0, l2, 1.0), 0.0)
    root = jnp.sqrt(jnp.float32(n))
    hoyer = (root - ratio) / (root - 1.0) if n > 1 else jnp.float32(0.0)
    return {"l1": l1, "l2": l2, "l1_over_l2": ratio, "hoyer_sparsity": hoyer,
            "near_zero_fraction": (jnp.abs(w) <= NEAR_ZERO).mean(), "size": jnp.float32(n)}


def weight_stats(params) -> dict[str, dict[str, jax.Array]]:
    """Per parameter name, plus ``total`` over all parameters together."""
    leaves = named_leaves(params)
    out = {name: tensor_stats(w) for name, w in leaves.items()}
    out["total"] = tensor_stats(jnp.concatenate([w.ravel().astype(jnp.float32)
                                                 for w in leaves.values()]))
    return out


def layer_norms(tree) -> dict[str, jax.Array]:
    """L2 norm per layer group (see ``layer_of``) and ``total``, of parameters or gradients."""
    sq: dict[str, jax.Array] = {}
    for name, x in named_leaves(tree).items():
        key = layer_of(name)
        sq[key] = sq.get(key, 0.0) + jnp.sum(x.astype(jnp.float32) ** 2)
    out = {k: jnp.sqrt(v) for k, v in sq.items()}
    out["total"] = jnp.sqrt(sum(sq.values()))
    return out
