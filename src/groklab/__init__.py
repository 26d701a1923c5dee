"""groklab: a JAX + Flax NNX framework for studying grokking."""

from groklab import xla_flags

xla_flags.apply()  # before anything starts JAX's CPU backend

__version__ = "0.2.0"
