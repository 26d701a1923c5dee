"""Oracles for tests and benchmarks, not part of training: ``PlainTrainer``, the engine's
deliberately plain yardstick."""

from groklab.testing.plain_trainer import PlainTrainer

__all__ = ["PlainTrainer"]
