"""Optimizer construction.

AdamW (Loshchilov & Hutter 2019) with decoupled weight decay and a linear warmup from 0 to the
learning rate over ``warmup_steps`` (DESIGN.md §3 defaults: lr 1e-3, β = (0.9, 0.98), wd 1.0,
10 warmup steps — the seeds' recipe). Decay applies to every parameter, as in the seeds.

``learning_rate`` and ``weight_decay`` may be traced scalars: the engine builds the optimizer
inside the vmapped step so each seed can carry its own values (``per_seed`` in the run config).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import optax

from groklab.errors import ConfigError

OPTIMIZERS = ("adamw",)


@dataclass(frozen=True, slots=True)
class OptimConfig:
    name: str = "adamw"  # optimizer; issue 4 adds muon, sgd, adam-l2, any optax name
    learning_rate: float = 1e-3  # peak learning rate
    weight_decay: float = 1.0  # decoupled weight decay (AdamW)
    b1: float = 0.9  # Adam β1
    b2: float = 0.98  # Adam β2
    eps: float = 1e-8  # Adam ε
    warmup_steps: int = 10  # linear warmup from 0 over this many steps

    def validate(self) -> OptimConfig:
        if self.name not in OPTIMIZERS:
            raise ConfigError(
                f"unknown optimizer {self.name!r}; choose one of {', '.join(OPTIMIZERS)}"
            )
        if not self.learning_rate > 0:
            raise ConfigError(f"optim.learning_rate={self.learning_rate} must be > 0")
        if self.weight_decay < 0:
            raise ConfigError(f"optim.weight_decay={self.weight_decay} must be >= 0")
        if self.warmup_steps < 0:
            raise ConfigError(f"optim.warmup_steps={self.warmup_steps} must be >= 0")
        for name in ("b1", "b2"):
            if not 0 <= getattr(self, name) < 1:
                raise ConfigError(f"optim.{name}={getattr(self, name)} is outside [0, 1)")
        return self


def learning_rate_at(cfg: OptimConfig, step, learning_rate=None):
    """The schedule's value after ``step`` updates (linear warmup, then constant)."""
    lr = cfg.learning_rate if learning_rate is None else learning_rate
    if cfg.warmup_steps == 0:
        return lr * jnp.ones_like(jnp.asarray(step, jnp.float32))
    frac = jnp.minimum(jnp.asarray(step, jnp.float32) / cfg.warmup_steps, 1.0)
    return lr * frac


def build_optimizer(
    cfg: OptimConfig, learning_rate=None, weight_decay=None, trainable=None
) -> optax.GradientTransformation:
    """The optax transformation for ``cfg``; ``learning_rate``/``weight_decay`` override the
    config's (possibly with traced per-seed scalars). ``trainable``: a pytree of bools shaped like
    the parameters; False leaves get zero updates (frozen layers in transfer)."""
    wd = cfg.weight_decay if weight_decay is None else weight_decay
    tx = optax.adamw(
        lambda count: learning_rate_at(cfg, count, learning_rate),
        b1=cfg.b1, b2=cfg.b2, eps=cfg.eps, weight_decay=wd,
    )
    if trainable is None:
        return tx
    labels = _labels(trainable)
    return optax.multi_transform({"train": tx, "freeze": optax.set_to_zero()}, labels)


def _labels(trainable):
    return jax.tree.map(lambda t: "train" if t else "freeze", trainable)
