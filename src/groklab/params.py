"""Parameter names: a parameter is named by its path in the model's parameter tree, joined with
dots, e.g. ``embed.embedding``, ``blocks.0.attn.q.kernel``, ``unembed.kernel`` (NNX's trailing
``.value`` dropped). Muon's parameter split, ``--freeze``/``--reinit`` patterns and the weight
statistics of an analysis all use these names."""

from __future__ import annotations

import jax


def param_name(path) -> str:
    """``blocks.0.attn.q.kernel`` from a pytree key path."""
    name = jax.tree_util.keystr(tuple(path), simple=True, separator=".")
    return name.removesuffix(".value")


def param_names(params) -> list[str]:
    """Every parameter's name, in tree order."""
    return [param_name(p) for p, _ in jax.tree_util.tree_leaves_with_path(params)]


def named_leaves(params) -> dict:
    """``{name: leaf}`` of every parameter."""
    return {param_name(p): x for p, x in jax.tree_util.tree_leaves_with_path(params)}
