"""groklab's own export: every parameter under its groklab name (``groklab.params``:
``embed.embedding``, ``blocks.0.attn.q.kernel``, ...), as float32 arrays, and the model config
that rebuilds the module around them."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
from flax import nnx

from groklab.errors import ConfigError, short
from groklab.models import ModelConfig, build_model
from groklab.params import named_leaves, param_name


def model_tensors(model: nnx.Module) -> dict[str, np.ndarray]:
    """``{groklab name: array}`` of every ``nnx.Param`` of ``model``."""
    return {name: np.asarray(x) for name, x in named_leaves(nnx.state(model, nnx.Param)).items()}


def config_dict(cfg: ModelConfig) -> dict:
    """The model config as JSON values (tuples become lists)."""
    return {k: (list(v) if isinstance(v, tuple) else v)
            for k, v in dataclasses.asdict(cfg).items()}


def config_from_dict(data: dict, where: str) -> ModelConfig:
    """The ``ModelConfig`` of an export's ``model`` section; unknown or missing fields and bad
    values are one-line errors naming ``where``."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: the model section is {short(data)}, not a mapping")
    fields = {f.name for f in dataclasses.fields(ModelConfig)}
    unknown = sorted(set(data) - fields)
    if unknown:
        raise ConfigError(f"{where}: unknown model field {short(unknown[0])}; known: "
                          f"{', '.join(sorted(fields))}")
    values = {k: (tuple(v) if isinstance(v, list) else v) for k, v in data.items()}
    try:
        cfg = ModelConfig(**values).validate()
    except TypeError as e:
        raise ConfigError(f"{where}: {short(str(e), 120)}") from None
    if cfg.kind == "transformer" and (cfg.d_vocab is None or cfg.n_ctx is None):
        raise ConfigError(f"{where}: the model config lacks d_vocab or n_ctx")
    if cfg.kind == "mlp" and (cfg.d_vocab is None or not cfg.operand_positions):
        raise ConfigError(f"{where}: the model config lacks d_vocab or operand_positions")
    return cfg


def model_from_tensors(cfg: ModelConfig, tensors: dict[str, np.ndarray], where: str):
    """The model of ``cfg`` with every parameter taken from ``tensors``: each name the model
    has must be there with its shape, and nothing else may be."""
    graphdef, state = nnx.split(nnx.eval_shape(lambda: build_model(cfg, 0)))  # shapes only
    want = named_leaves(state)
    missing = sorted(set(want) - set(tensors))
    extra = sorted(set(tensors) - set(want))
    if missing or extra:
        what = (f"lacks {short(missing[0])}" if missing else f"has an unknown tensor "
                f"{short(extra[0])}")
        raise ConfigError(f"{where} {what} for its model config (expected: "
                          f"{short(sorted(want), 200)})")
    for name, leaf in want.items():
        if tuple(tensors[name].shape) != tuple(leaf.shape):
            raise ConfigError(f"{where}: tensor {name} has shape {tuple(tensors[name].shape)}; "
                              f"the model config needs {tuple(leaf.shape)}")

    def take(path, leaf):
        return jax.numpy.asarray(tensors[param_name(path)], dtype=leaf.dtype)

    return nnx.merge(graphdef, jax.tree_util.tree_map_with_path(take, state))
