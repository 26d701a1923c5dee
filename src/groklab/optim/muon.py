"""Muon's parameter split (Jordan et al. 2024; docs/architecture.md §4).

Muon orthogonalizes the update of *hidden* 2-D weight matrices only: the attention and MLP
kernels inside the transformer blocks. Embeddings, the unembedding (output head), positional
tables and every 1-D parameter (norm scales, biases) stay on AdamW. The seeds sent embeddings and
the head to Muon as well, and that run did not grok.
"""

from __future__ import annotations

import jax
from optax.contrib import MuonDimensionNumbers

from groklab.params import param_name

HIDDEN_CONTAINER = "blocks"  # the transformer's hidden layers live under this key


def is_hidden_matrix(path, leaf) -> bool:
    return getattr(leaf, "ndim", 0) == 2 and HIDDEN_CONTAINER in param_name(path).split(".")


def hidden_matrix_mask(params):
    """A tree of bools: True exactly for the leaves Muon updates."""
    return jax.tree_util.tree_map_with_path(is_hidden_matrix, params)


def muon_dimension_numbers(params):
    """optax's per-leaf spec: MuonDimensionNumbers() for hidden matrices (reduce axis 0, output
    axis 1, as in x @ W), None for the leaves that go to AdamW."""
    return jax.tree_util.tree_map_with_path(
        lambda path, leaf: MuonDimensionNumbers() if is_hidden_matrix(path, leaf) else None,
        params)


def hidden_matrix_names(params) -> list[str]:
    """Readable paths of the hidden matrices (for errors and docs)."""
    return [param_name(p) for p, leaf in jax.tree_util.tree_leaves_with_path(params)
            if is_hidden_matrix(p, leaf)]
