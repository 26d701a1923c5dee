"""Dropout masks: the hash generator against an independent integer implementation, and the
statistics dropout needs (keep rate, independence across elements and keys)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from groklab.errors import ConfigError
from groklab.models import ModelConfig
from groklab.models.dropout import dropout, hash_bits, keep_mask, lowbias32

M32 = 0xFFFFFFFF


def lowbias32_py(x: int) -> int:
    """Wellons' lowbias32 with Python integers (independent of jnp's uint32 wrap-around)."""
    x ^= x >> 16
    x = (x * 0x7FEB352D) & M32
    x ^= x >> 15
    x = (x * 0x846CA68B) & M32
    return x ^ (x >> 16)


def test_lowbias32_matches_python_integers():
    xs = [0, 1, 2, 12345, 0x9E3779B9, M32, 2**31]
    got = np.asarray(lowbias32(jnp.array(xs, jnp.uint32)))
    assert [int(v) for v in got] == [lowbias32_py(x) for x in xs]


def test_hash_bits_formula():
    key = jax.random.key(3)
    k0, k1 = (int(v) for v in np.asarray(jax.random.bits(key, (2,), jnp.uint32)))
    got = np.asarray(hash_bits(key, (3, 4))).reshape(-1)
    want = [lowbias32_py(lowbias32_py((i * 0x9E3779B9 + k0) & M32) ^ k1) for i in range(12)]
    assert [int(v) for v in got] == want


@pytest.mark.parametrize("keep", [0.8, 0.5, 0.1])
def test_keep_rate_and_independence(keep):
    n = 1 << 20
    m = np.asarray(keep_mask(jax.random.key(0), (n,), keep, "hash"), np.float64)
    sigma = np.sqrt(keep * (1 - keep) / n)
    assert abs(m.mean() - keep) < 5 * sigma
    # neighbouring elements and elements one row apart are uncorrelated
    z = (m - keep) / np.sqrt(keep * (1 - keep))
    for lag in (1, 2, 128, 512):
        assert abs(np.mean(z[:-lag] * z[lag:])) < 5 / np.sqrt(n)
    # another key gives an unrelated mask; so does a key folded from it (the per-step keys)
    for other in (jax.random.key(1), jax.random.fold_in(jax.random.key(0), 1)):
        m2 = np.asarray(keep_mask(other, (n,), keep, "hash"), np.float64)
        z2 = (m2 - keep) / np.sqrt(keep * (1 - keep))
        assert abs(np.mean(z * z2)) < 5 / np.sqrt(n)


def test_bits_are_balanced():
    bits = np.asarray(hash_bits(jax.random.key(7), (1 << 18,)))
    ones = np.unpackbits(bits.view(np.uint8)).reshape(-1, 32).mean(0)
    assert np.all(np.abs(ones - 0.5) < 5 * 0.5 / np.sqrt(1 << 18))


def test_threefry_mode_is_jax_uniform():
    key = jax.random.key(5)
    want = jax.random.uniform(key, (64, 32), jnp.float32) < 0.8
    assert np.array_equal(np.asarray(keep_mask(key, (64, 32), 0.8, "threefry")), np.asarray(want))


@pytest.mark.parametrize("rng", ["hash", "threefry"])
def test_dropout_is_inverted_and_deterministic(rng):
    x = jnp.ones((512, 256))
    key = jax.random.key(11)
    y = np.asarray(dropout(0.2, x, key, rng))
    assert set(np.unique(y)) <= {0.0, np.float32(1 / 0.8)}
    assert abs(y.mean() - 1.0) < 0.01  # expectation preserved
    assert np.array_equal(y, np.asarray(dropout(0.2, x, key, rng)))
    assert np.array_equal(np.asarray(dropout(0.2, x, None, rng)), np.asarray(x))  # eval mode


def test_dropout_rng_is_validated():
    with pytest.raises(ConfigError, match="dropout_rng='philox'.*hash, threefry"):
        ModelConfig(dropout_rng="philox").validate()
