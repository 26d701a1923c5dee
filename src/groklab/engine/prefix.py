"""Shared prefixes of a task table, for evaluation that computes each distinct prefix once
(``Transformer.logits_shared_prefix``).

Under a causal mask the activations of positions 0..P−1 depend only on those tokens. For
[a, op, b, =] the first two positions take p distinct values over the p² rows of the table, so
the evaluation can run them for p prefixes and only positions 2–3 for every row.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

WORTH_IT = 0.75  # share only when it removes at least a quarter of the position-rows


class SharedPrefix(NamedTuple):
    prefixes: np.ndarray  # [U, P] int32: the distinct prefixes
    index: np.ndarray  # [N] int32: each row's prefix
    suffix: np.ndarray  # [N, T − P] int32: each row's remaining tokens

    @property
    def length(self) -> int:
        return self.prefixes.shape[1]


def shared_prefix(tokens: np.ndarray) -> SharedPrefix:
    """The split of ``tokens`` [N, T] into distinct prefixes and per-row suffixes that
    minimises the position-rows computed, U·P + N·(T − P); P = 0 (no sharing: an empty
    prefix, every row its own suffix) unless that saves at least a quarter of N·T."""
    tokens = np.asarray(tokens, np.int32)
    N, T = tokens.shape
    best_cost, best = WORTH_IT * N * T, None
    for P in range(1, T):
        prefixes, index = np.unique(tokens[:, :P], axis=0, return_inverse=True)
        cost = len(prefixes) * P + N * (T - P)
        if cost <= best_cost:
            best_cost, best = cost, (prefixes, index.reshape(-1))
    if best is None:
        return no_prefix(tokens)
    prefixes, index = best
    P = prefixes.shape[1]
    return SharedPrefix(prefixes.astype(np.int32), index.astype(np.int32), tokens[:, P:])


def no_prefix(tokens: np.ndarray) -> SharedPrefix:
    """The split that shares nothing (an empty prefix): plain evaluation."""
    tokens = np.asarray(tokens, np.int32)
    return SharedPrefix(np.zeros((1, 0), np.int32), np.zeros(len(tokens), np.int32), tokens)
