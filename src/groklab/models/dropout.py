"""Inverted dropout (Srivastava et al. 2014) with two ways to draw the keep mask.

``threefry``: ``jax.random.uniform(key) < keep`` — JAX's default counter-based generator
(Threefry-2x32, Salmon et al. 2011), the same masks as ``nnx.Dropout`` in 32-bit mode.

``hash`` (the default): two 32-bit words are drawn from the key with Threefry, then every element's
bits are a keyed integer hash of its index: ``h(h(i·φ + k0) ^ k1)`` with ``h`` the "lowbias32"
avalanche function (Wellons 2018, https://nullprogram.com/blog/2018/07/31/: xor-shift /
multiply rounds with bias ≈ 0.17 % of the ideal). A mask element is kept when its 32 bits are
below ``keep · 2³²``. Why not Threefry everywhere: on the CPU its 20 rounds per pair of words
cost 12 ms of a 46 ms seed-teacher training step (26 %); the hash costs < 1 ms (BENCHMARKS.md).
Dropout only needs independent Bernoulli(keep) masks per element, per step and per
seed; the tests check the keep rate, the independence of neighbouring elements and of different
keys. Masks depend only on (key, element index), so resumed runs replay them exactly.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from groklab.models.config import DROPOUT_RNGS  # noqa: F401 (defined beside the config, JAX-free)

_GOLDEN = 0x9E3779B9  # 2³² / φ: spreads consecutive indices over the word before hashing


def lowbias32(x: jax.Array) -> jax.Array:
    """Wellons' lowbias32 integer hash of uint32 words (a bijection on 32-bit words)."""
    x = x ^ (x >> 16)
    x = x * jnp.uint32(0x7FEB352D)
    x = x ^ (x >> 15)
    x = x * jnp.uint32(0x846CA68B)
    return x ^ (x >> 16)


def hash_bits(key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """uint32 words of ``shape``: a keyed hash of each element's flat index."""
    k0, k1 = jax.random.bits(key, (2,), jnp.uint32)
    n = 1
    for s in shape:
        n *= s
    index = jax.lax.iota(jnp.uint32, n).reshape(shape)
    return lowbias32(lowbias32(index * jnp.uint32(_GOLDEN) + k0) ^ k1)


def keep_mask(key: jax.Array, shape: tuple[int, ...], keep: float, rng: str) -> jax.Array:
    """Boolean mask, True with probability ``keep`` independently per element."""
    if rng == "threefry":
        return jax.random.uniform(key, shape, jnp.float32) < keep
    threshold = min(int(round(keep * 2.0**32)), 2**32 - 1)
    return hash_bits(key, shape) < jnp.uint32(threshold)


def dropout(rate: float, x: jax.Array, key: jax.Array | None, rng: str = "hash") -> jax.Array:
    """Inverted dropout when a key is given (training); identity otherwise."""
    if key is None or rate == 0.0:
        return x
    keep = 1.0 - rate
    return jnp.where(keep_mask(key, x.shape, keep, rng), x / keep, jnp.zeros_like(x))
