"""Curriculum learning: the training set grows from its easiest rows to all of them.

At epoch e the share of training rows available is
    share(e) = start + (1 − start) · min(e / curriculum_epochs, 1)        (linear pacing,
Bengio et al. 2009; Hacohen & Weinshall 2019), and the available rows are the first
ceil(share · n_train) of the seed's difficulty order. While the set is still growing, each step
draws B distinct rows uniformly from the available ones (keys from the seed, the epoch and the
step, so runs are reproducible and resumable); once every row is available the run goes back to
the ordinary per-epoch permutation.

Difficulty (easiest first):
- ``operand``: the larger operand value, max(a, b) (for S5 tasks, the larger permutation index);
  ties are broken by a permutation drawn from the seed.
- ``loss``: self-paced (Kumar et al. 2010): the current model's loss on each training row,
  re-ranked after every evaluation; before the first evaluation the order is the seeded random one.
"""

from __future__ import annotations

import numpy as np

# jax is imported inside the traced functions: plan_run checks CURRICULA without JAX

CURRICULA = ("none", "operand", "loss")


def initial_order(kind: str, tokens: np.ndarray, operand_positions, train_idx: np.ndarray,
                  seed: int) -> np.ndarray:
    """Positions into ``train_idx``, easiest first (a 1-element placeholder without a curriculum:
    Orbax cannot save empty arrays)."""
    if kind == "none":
        return np.zeros(1, np.int32)
    rng = np.random.default_rng([seed, 0xC0FFEE])
    tiebreak = rng.permutation(len(train_idx))
    if kind == "loss":
        return tiebreak.astype(np.int32)
    size = tokens[train_idx][:, list(operand_positions)].max(axis=1)
    return np.lexsort((tiebreak, size)).astype(np.int32)


def available(share, n_train: int, batch_size: int):
    """Rows available at this share (never fewer than one batch)."""
    import jax.numpy as jnp

    n = jnp.ceil(share * n_train).astype(jnp.int32)
    return jnp.clip(n, batch_size, n_train)


def sample_available(key, order, n_avail, batch_size: int):
    """B distinct positions drawn uniformly from the first ``n_avail`` entries of ``order``."""
    import jax
    import jax.numpy as jnp

    n = order.shape[0]
    u = jax.random.uniform(key, (n,))
    u = jnp.where(jnp.arange(n) < n_avail, u, 2.0)
    picks = jnp.argsort(u)[:batch_size]
    return order[picks]


def loss_order(train_row_loss):
    """Self-paced re-ranking: positions into train_idx sorted by current loss, lowest first."""
    import jax.numpy as jnp

    return jnp.argsort(train_row_loss, stable=True).astype(jnp.int32)
