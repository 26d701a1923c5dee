"""Arrays and scalars of analysis results as JSON values (NaN and ±inf become null)."""

from __future__ import annotations

import math

import jax
import numpy as np


def to_json(tree):
    """Nested dicts/lists of arrays → plain JSON values."""
    if isinstance(tree, dict):
        return {str(k): to_json(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return [to_json(v) for v in tree]
    if isinstance(tree, (np.ndarray, jax.Array, np.generic)):
        arr = np.asarray(tree)
        if arr.dtype == bool:
            return arr.tolist()
        if np.issubdtype(arr.dtype, np.integer):
            return arr.tolist()
        return _clean(arr.astype(np.float64).tolist())
    if isinstance(tree, float):
        return _clean(tree)
    return tree


def _clean(x):
    if isinstance(x, list):
        return [_clean(v) for v in x]
    return None if isinstance(x, float) and not math.isfinite(x) else x


def seed_slice(tree, i: int):
    """Seed i's part of a result whose arrays have a leading seed axis."""
    return jax.tree.map(lambda x: np.asarray(x)[i], tree)
