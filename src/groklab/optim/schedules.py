"""Learning-rate and weight-decay schedules, as multipliers of the configured peak values.

The engine evaluates them at the global step t (number of updates done so far) and hands the
optimizer lr(t) = learning_rate · lr_multiplier(t) and wd(t) = weight_decay · wd_multiplier(t),
so per-seed learning rates and weight decays compose with every schedule. The shapes are optax
schedules.

Learning rate (all but one_cycle start with ``warmup_steps`` of linear warmup from 0):
- constant: 1 after warmup (the seeds' recipe);
- cosine: cosine decay from 1 to ``lr_end_ratio`` at the end of the budget;
- linear_decay: linear decay from 1 to ``lr_end_ratio`` at the end of the budget;
- cyclic: cosine cycles of ``lr_cycle_steps`` from 1 to ``lr_end_ratio``, restarting at 1
  (SGDR, Loshchilov & Hutter 2017);
- one_cycle: Smith & Topping's one-cycle (optax.cosine_onecycle_schedule) over the budget, rising
  for ``warmup_steps`` (30 % of the budget when 0);
- plateau: constant, times optax's reduce-on-plateau scale, which multiplies by
  ``plateau_factor`` when the epoch-mean training loss has not improved for ``plateau_patience``
  epochs (see build.py).

Weight decay:
- constant: 1;
- increasing: linear from 1 to ``wd_end_ratio`` over the budget;
- step: ``wd_step_factor`` ** (t // ``wd_step_every``);
- cosine: half-cosine from 1 to ``wd_end_ratio`` over the budget;
- adaptive: 1 here, times a multiplier m carried in the training state and updated after every
  evaluation by ``adapt_wd_scale``: while train_acc − val_acc > ``wd_adaptive_gap`` (memorized
  but not generalized), m ← min(m · factor, ``wd_adaptive_max``); otherwise m ← max(m / factor,
  1). Weight decay is the lever that turns memorization into generalization (Liu et al. 2022;
  Nanda et al. 2023), so it is raised only while the gap says the model is memorizing.
"""

from __future__ import annotations

from collections.abc import Callable

import jax.numpy as jnp
import optax

from groklab.optim.config import OptimConfig

Schedule = Callable[[jnp.ndarray], jnp.ndarray]


def lr_multiplier(cfg: OptimConfig, total_steps: int) -> Schedule:
    """t -> lr(t) / learning_rate."""
    w = cfg.warmup_steps
    rest = max(total_steps - w, 1)
    kind = cfg.lr_schedule
    if kind == "one_cycle":
        pct = w / total_steps if w else 0.3
        return optax.cosine_onecycle_schedule(max(total_steps, 1), 1.0,
                                              pct_start=min(max(pct, 1e-6), 0.99))
    if kind in ("constant", "plateau"):
        main = optax.constant_schedule(1.0)
    elif kind == "cosine":
        main = optax.cosine_decay_schedule(1.0, rest, alpha=cfg.lr_end_ratio)
    elif kind == "linear_decay":
        main = optax.linear_schedule(1.0, cfg.lr_end_ratio, rest)
    elif kind == "cyclic":
        cycle = optax.cosine_decay_schedule(1.0, cfg.lr_cycle_steps, alpha=cfg.lr_end_ratio)

        def main(t):
            return cycle(jnp.asarray(t) % cfg.lr_cycle_steps)
    else:
        raise ValueError(f"unknown lr_schedule {kind!r}")
    if w == 0:
        return main
    return optax.join_schedules([optax.linear_schedule(0.0, 1.0, w), main], [w])


def wd_multiplier(cfg: OptimConfig, total_steps: int) -> Schedule:
    """t -> wd(t) / weight_decay (the adaptive part is applied by the engine separately)."""
    kind, r, T = cfg.wd_schedule, cfg.wd_end_ratio, max(total_steps, 1)
    if kind in ("constant", "adaptive"):
        return optax.constant_schedule(1.0)
    if kind == "increasing":
        return optax.linear_schedule(1.0, r, T)
    if kind == "cosine":
        return optax.cosine_decay_schedule(1.0, T, alpha=r)
    if kind == "step":
        return optax.exponential_decay(1.0, cfg.wd_step_every, cfg.wd_step_factor,
                                       staircase=True)
    raise ValueError(f"unknown wd_schedule {kind!r}")


def adapt_wd_scale(scale, train_acc, val_acc, cfg: OptimConfig):
    """The adaptive weight-decay rule (module docstring), applied after one evaluation."""
    f = cfg.wd_adaptive_factor
    raise_it = (train_acc - val_acc) > cfg.wd_adaptive_gap
    return jnp.where(raise_it, jnp.minimum(scale * f, cfg.wd_adaptive_max),
                     jnp.maximum(scale / f, 1.0))
