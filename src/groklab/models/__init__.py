"""Models: one configurable decoder-only transformer and the two-hot MLP.

The configs (``ModelConfig``, ``MODEL_PRESETS``, ``model_preset``, ``scaled``) import no JAX; the
model classes are imported on first use (PEP 562) and ``build_model`` / ``count_params`` import
JAX when called, so reading or checking a config (the CLI's input errors, ``groklab presets``)
does not start JAX.
"""

from __future__ import annotations

from groklab.lazy import lazy_names
from groklab.models.config import MODEL_PRESETS, ModelConfig, model_preset, scaled

# name -> the submodule that defines it, imported on first access
_LAZY = {"ActivationCache": "groklab.models.hooks", "Recorder": "groklab.models.hooks",
         "TwoHotMLP": "groklab.models.mlp", "Transformer": "groklab.models.transformer"}


def build_model(cfg: ModelConfig, key=0):
    """A model (an ``nnx.Module``) from a resolved config, its parameters drawn from ``key`` (a
    JAX key or an int)."""
    from flax import nnx

    from groklab.models.mlp import TwoHotMLP
    from groklab.models.transformer import Transformer

    cls = TwoHotMLP if cfg.kind == "mlp" else Transformer
    return cls(cfg, rngs=nnx.Rngs(params=key))


def count_params(model) -> int:
    """Number of scalars in the model's nnx.Param variables."""
    import jax
    from flax import nnx

    return sum(x.size for x in jax.tree.leaves(nnx.state(model, nnx.Param)))


__all__ = [
    "MODEL_PRESETS", "ActivationCache", "ModelConfig", "Recorder", "Transformer", "TwoHotMLP",
    "build_model", "count_params", "model_preset", "scaled",
]


__getattr__, __dir__ = lazy_names(__name__, _LAZY)
