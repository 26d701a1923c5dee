"""Turn a RunConfig into device data, initial parameters and the compiled program's inputs.

Everything here validates before anything is compiled or written (DESIGN.md §1: "validation
happens before any compilation").
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from groklab.config import PER_SEED_KEYS, RunConfig
from groklab.errors import ConfigError
from groklab.models import build_model
from groklab.tasks import Split, Task, make_split, make_task


@dataclass(frozen=True)
class Plan:
    """A validated run: the config with the model resolved for the task, plus sizes."""

    config: RunConfig
    task: Task
    splits: tuple[Split, ...]
    batch_size: int  # effective (full-batch when the config's exceeds the training set)
    steps_per_epoch: int
    total_steps: int
    eval_every: int
    checkpoint_every: int

    @property
    def n_seeds(self) -> int:
        return len(self.config.seeds)

    @property
    def n_train(self) -> int:
        return len(self.splits[0].train_idx)


def plan_run(cfg: RunConfig) -> Plan:
    """Validate every part of ``cfg`` and compute the run's sizes. Raises ConfigError."""
    t = cfg.task
    task = make_task(t.name, t.p, t.layout)
    model = cfg.model.resolve_for_task(task.d_vocab, task.n_ctx, task.operand_positions)
    cfg.optim.validate()
    if not cfg.seeds:
        raise ConfigError("seeds=() is empty; give at least one seed (e.g. --seeds 0,1,2)")
    if len(set(cfg.seeds)) != len(cfg.seeds):
        raise ConfigError(f"seeds={list(cfg.seeds)} has duplicates; each seed must be distinct")
    for key, values in cfg.per_seed.items():
        if key not in PER_SEED_KEYS:
            raise ConfigError(f"per_seed key {key!r} is not allowed; allowed: "
                              f"{', '.join(PER_SEED_KEYS)}")
        if not isinstance(values, (list, tuple)) or len(values) != len(cfg.seeds):
            raise ConfigError(f"per_seed.{key}={values!r} must list one value per seed "
                              f"({len(cfg.seeds)} seeds)")
    splits = tuple(
        make_split(task, t.train_fraction, t.split_seed if t.split_seed is not None else s,
                   t.label_noise)
        for s in cfg.seeds
    )
    n_train = len(splits[0].train_idx)
    tr = cfg.train
    if tr.batch_size < 1:
        raise ConfigError(f"train.batch_size={tr.batch_size} must be a positive integer")
    batch = min(tr.batch_size, n_train)
    spe = math.ceil(n_train / batch)
    if tr.steps is not None:
        if tr.steps < 1:
            raise ConfigError(f"train.steps={tr.steps} must be >= 1")
        total = tr.steps
    elif tr.epochs is not None:
        if tr.epochs < 1:
            raise ConfigError(f"train.epochs={tr.epochs} must be >= 1")
        total = tr.epochs * spe
    else:
        raise ConfigError("set a budget: train.epochs or train.steps")
    eval_every = tr.eval_every if tr.eval_every is not None else spe
    if eval_every < 1:
        raise ConfigError(f"train.eval_every={eval_every} must be >= 1")
    if tr.stop_at is not None and not 0 < tr.stop_at <= 1:
        raise ConfigError(f"train.stop_at={tr.stop_at} is outside (0, 1]")
    ckpt = tr.checkpoint_every or max(eval_every, (total // 5) // eval_every * eval_every)
    if ckpt < 1:
        raise ConfigError(f"train.checkpoint_every={ckpt} must be >= 1")
    cfg = dataclasses.replace(cfg, model=model)
    return Plan(cfg, task, splits, batch, spe, total, eval_every, ckpt)


def device_data(plan: Plan):
    """The ``Data`` pytree the program reads (see engine.program)."""
    from groklab.engine.program import Data, seed_keys

    task, splits = plan.task, plan.splits
    N = len(task.labels)
    labels = np.tile(np.asarray(task.labels, np.int32), (len(splits), 1))
    is_train = np.zeros((len(splits), N), bool)
    for i, sp in enumerate(splits):
        labels[i, sp.train_idx] = sp.train_labels
        is_train[i, sp.train_idx] = True
    keys = [seed_keys(s) for s in plan.config.seeds]
    return Data(
        tokens=jnp.asarray(task.tokens, jnp.int32),
        labels=jnp.asarray(labels),
        true_labels=jnp.asarray(task.labels, jnp.int32),
        train_idx=jnp.asarray(np.stack([sp.train_idx for sp in splits]), jnp.int32),
        is_train=jnp.asarray(is_train),
        shuffle_key=jnp.stack([k.shuffle for k in keys]),
        dropout_key=jnp.stack([k.dropout for k in keys]),
    )


def hyperparams(plan: Plan) -> dict:
    """Per-seed vmapped hyperparameters ([S] arrays), from ``per_seed`` or the config."""
    cfg = plan.config
    out = {}
    for key in PER_SEED_KEYS:
        values = cfg.per_seed.get(key, [getattr(cfg.optim, key)] * plan.n_seeds)
        out[key] = jnp.asarray(values, jnp.float32)
    return out


def init_params(plan: Plan):
    """(graphdef, params with a leading seed axis): each seed's parameters drawn from its own key
    under vmap (the ensembling idiom: vmap the init over keys, never over Python ints)."""
    from groklab.engine.program import seed_keys

    cfg = plan.config.model
    graphdef, _ = nnx.split(build_model(cfg, 0))

    def one(key):
        return nnx.state(build_model(cfg, key), nnx.Param)

    keys = jnp.stack([seed_keys(s).init for s in plan.config.seeds])
    return graphdef, jax.jit(jax.vmap(one))(keys)
