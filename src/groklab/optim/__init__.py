"""Optimizers as optax GradientTransformations built from an OptimConfig."""

from groklab.optim.build import OPTIMIZERS, OptimConfig, build_optimizer, learning_rate_at

__all__ = ["OPTIMIZERS", "OptimConfig", "build_optimizer", "learning_rate_at"]
