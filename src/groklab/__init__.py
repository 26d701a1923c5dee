"""groklab: a JAX + Flax NNX framework for studying grokking."""

__version__ = "0.1.0"
