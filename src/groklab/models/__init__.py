"""Models: one configurable decoder-only transformer and the two-hot MLP."""

from __future__ import annotations

import jax
from flax import nnx

from groklab.models.config import MODEL_PRESETS, ModelConfig, model_preset, scaled
from groklab.models.hooks import ActivationCache, Recorder
from groklab.models.mlp import TwoHotMLP
from groklab.models.transformer import Transformer


def build_model(cfg: ModelConfig, key: jax.Array | int = 0) -> nnx.Module:
    """A model from a resolved config, its parameters drawn from ``key``."""
    cls = TwoHotMLP if cfg.kind == "mlp" else Transformer
    return cls(cfg, rngs=nnx.Rngs(params=key))


def count_params(model: nnx.Module) -> int:
    """Number of scalars in the model's nnx.Param variables."""
    return sum(x.size for x in jax.tree.leaves(nnx.state(model, nnx.Param)))


__all__ = [
    "MODEL_PRESETS", "ActivationCache", "ModelConfig", "Recorder", "Transformer", "TwoHotMLP",
    "build_model", "count_params", "model_preset", "scaled",
]
