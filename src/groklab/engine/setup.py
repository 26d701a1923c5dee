"""Turn a RunConfig into device data, initial parameters and the compiled program's inputs.

Everything here validates before anything is compiled or written (docs/architecture.md §1:
"validation happens before any compilation").
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from groklab.config import PER_SEED_KEYS, RunConfig
from groklab.engine.curriculum import CURRICULA, initial_order
from groklab.engine.phases import Phase, epoch_at, make_phases, phase_at
from groklab.errors import ConfigError
from groklab.models import build_model
from groklab.models.config import ModelConfig
from groklab.objectives import LOSSES
from groklab.optim.build import resolved_hparams
from groklab.tasks import Split, Task, make_split, make_task


@dataclass(frozen=True)
class Plan:
    """A validated run: the config with the model resolved for the task, plus sizes."""

    config: RunConfig
    task: Task
    splits: tuple[Split, ...]
    phases: tuple[Phase, ...]  # batch-size phases (one for a constant batch)
    total_steps: int
    eval_every: int | None  # steps between evaluations; None = at the end of every epoch
    checkpoint_every: int

    @property
    def batch_size(self) -> int:
        """The effective full batch size (clipped to the training set)."""
        return self.phases[-1].batch_size

    @property
    def steps_per_epoch(self) -> int:
        """Steps per epoch at the full batch size."""
        return self.phases[-1].steps_per_epoch

    def epoch_at(self, step: int) -> float:
        return epoch_at(self.phases, step)

    def next_stop(self, step: int) -> int:
        """The step of the next evaluation after ``step``: every ``eval_every`` steps (or at each
        epoch end), never crossing a phase boundary or the budget."""
        ph = self.phases[phase_at(self.phases, step)]
        if self.eval_every is not None:
            nxt = (step // self.eval_every + 1) * self.eval_every
        else:
            nxt = step + ph.steps_per_epoch - (step - ph.start_step) % ph.steps_per_epoch
        return min(nxt, ph.end_step, self.total_steps)

    @property
    def n_seeds(self) -> int:
        return len(self.config.seeds)

    @property
    def rng_seeds(self) -> tuple[int, ...]:
        """The seed each member draws its random streams from (``config.rng_seeds`` or
        ``config.seeds``)."""
        return self.config.rng_seeds or self.config.seeds

    @property
    def n_train(self) -> int:
        return len(self.splits[0].train_idx)


@dataclass(frozen=True)
class EngineSetup:
    """Everything the engine trains for one run: the plan plus what makes the run a plain
    training, a distillation or a transfer (docs/architecture.md §1, "one engine"). ``about``:
    extra summary.json fields (the teacher, the transfer source)."""

    plan: Plan
    objective: Any = None  # None: the plain supervised loss of ``train.loss``
    params: Any = None  # initial parameters (leading seed axis); None: fresh per seed
    trainable: Any = None  # bools shaped like one model's parameters; None: all train
    objective_inputs: Any = None  # per-seed inputs of the objective (a teacher's parameters)
    about: dict = field(default_factory=dict)


def plan_run(cfg: RunConfig) -> Plan:
    """Validate every part of ``cfg`` and compute the run's sizes. Raises ConfigError."""
    _check_finite(cfg.to_dict())
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
    if cfg.rng_seeds and len(cfg.rng_seeds) != len(cfg.seeds):
        raise ConfigError(f"rng_seeds={list(cfg.rng_seeds)} must list one seed per seed "
                          f"({len(cfg.seeds)} seeds) or be empty")
    splits = tuple(
        make_split(task, t.train_fraction, t.split_seed if t.split_seed is not None else s,
                   t.label_noise)
        for s in (cfg.rng_seeds or cfg.seeds)
    )
    n_train = len(splits[0].train_idx)
    tr = cfg.train
    _check_train(tr)
    phases = make_phases(tr, n_train)
    total = phases[-1].end_step
    if tr.eval_every is not None and tr.eval_every < 1:
        raise ConfigError(f"train.eval_every={tr.eval_every} must be >= 1")
    every = tr.eval_every or phases[-1].steps_per_epoch
    ckpt = tr.checkpoint_every or max(every, (total // 5) // every * every)
    if ckpt < 1:
        raise ConfigError(f"train.checkpoint_every={ckpt} must be >= 1")
    cfg = dataclasses.replace(cfg, model=model)
    if cfg.optim.name == "muon":
        _check_muon(cfg)
    return Plan(cfg, task, splits, phases, total, tr.eval_every, ckpt)


def _check_finite(tree, key: str = "") -> None:
    """No setting takes NaN or ±inf: one would train, then fail writing strict JSON."""
    if isinstance(tree, dict):
        for k, v in tree.items():
            _check_finite(v, f"{key}.{k}" if key else str(k))
    elif isinstance(tree, list | tuple):
        for i, v in enumerate(tree):
            _check_finite(v, f"{key}[{i}]")
    elif isinstance(tree, float) and not math.isfinite(tree):
        raise ConfigError(f"{key}={tree} is not a finite number; give a finite value")


def _check_train(tr) -> None:
    if tr.stop_at is not None and not 0 < tr.stop_at <= 1:
        raise ConfigError(f"train.stop_at={tr.stop_at} is outside (0, 1]")
    if tr.loss not in LOSSES:
        raise ConfigError(f"unknown train.loss {tr.loss!r}; choose one of {', '.join(LOSSES)}")
    if tr.loss_dtype not in ("float32", "float64"):
        raise ConfigError(f"train.loss_dtype={tr.loss_dtype!r}; choose float32 or float64")
    if tr.curriculum not in CURRICULA:
        raise ConfigError(f"unknown train.curriculum {tr.curriculum!r}; choose one of "
                          f"{', '.join(CURRICULA)}")
    if not 0 < tr.curriculum_start <= 1:
        raise ConfigError(f"train.curriculum_start={tr.curriculum_start} is outside (0, 1]")
    if tr.curriculum_epochs < 1:
        raise ConfigError(f"train.curriculum_epochs={tr.curriculum_epochs} must be >= 1")
    for key in ("detect_gap", "detect_drop"):
        if not 0 < getattr(tr, key) < 1:
            raise ConfigError(f"train.{key}={getattr(tr, key)} is outside (0, 1)")
    if tr.detect_patience < 1:
        raise ConfigError(f"train.detect_patience={tr.detect_patience} must be >= 1")


def _check_muon(cfg: RunConfig) -> None:
    """Muon needs hidden 2-D matrices; the two-hot MLP, for one, has none."""
    from groklab.optim import hidden_matrix_names

    abstract = nnx.eval_shape(lambda: build_model(cfg.model, 0))
    if not hidden_matrix_names(nnx.state(abstract, nnx.Param)):
        raise ConfigError(f"optim.name=muon needs hidden 2-D weight matrices, and model kind "
                          f"{cfg.model.kind!r} has none (embeddings and the output head stay on "
                          f"AdamW); use adamw or a transformer")


def device_data(plan: Plan, objective_inputs=None):
    """The ``Data`` pytree the program reads (see engine.program); ``objective_inputs``: the
    objective's per-seed inputs (leading seed axis), e.g. a distillation teacher's
    parameters."""
    from groklab.engine.prefix import no_prefix, shared_prefix
    from groklab.engine.program import Data, SeedData, SharedData, seed_keys

    task, splits = plan.task, plan.splits
    N = len(task.labels)
    labels = np.tile(np.asarray(task.labels, np.int32), (len(splits), 1))
    is_train = np.zeros((len(splits), N), bool)
    for i, sp in enumerate(splits):
        labels[i, sp.train_idx] = sp.train_labels
        is_train[i, sp.train_idx] = True
    keys = [seed_keys(s) for s in plan.rng_seeds]
    tr = plan.config.train
    order0 = np.stack([initial_order(tr.curriculum, task.tokens, task.operand_positions,
                                     sp.train_idx, s) for sp, s in zip(splits, plan.rng_seeds)])
    model = plan.config.model
    share = tr.eval_shared_prefix and model.kind == "transformer" and model.causal
    prefix = shared_prefix(task.tokens) if share else no_prefix(task.tokens)
    shared = SharedData(
        tokens=jnp.asarray(task.tokens, jnp.int32),
        true_labels=jnp.asarray(task.labels, jnp.int32),
        prefix_tokens=jnp.asarray(prefix.prefixes),
        prefix_index=jnp.asarray(prefix.index),
        suffix_tokens=jnp.asarray(prefix.suffix),
    )
    seeds = SeedData(
        labels=jnp.asarray(labels),
        train_idx=jnp.asarray(np.stack([sp.train_idx for sp in splits]), jnp.int32),
        is_train=jnp.asarray(is_train),
        shuffle_key=jnp.stack([k.shuffle for k in keys]),
        dropout_key=jnp.stack([k.dropout for k in keys]),
        order0=jnp.asarray(order0, jnp.int32),
        objective_inputs=objective_inputs,
    )
    return Data(shared, seeds)


def make_recipe(plan: Plan, trainable=None):
    """The Recipe (optimizer factory, schedules, adaptive rules) of a planned run."""
    from groklab.engine.phases import curriculum_share
    from groklab.engine.program import Recipe
    from groklab.optim import adapt_wd_scale, build_optimizer, lr_multiplier, wd_multiplier

    optim, tr = plan.config.optim, plan.config.train
    lr_mult = lr_multiplier(optim, plan.total_steps)
    wd_mult = wd_multiplier(optim, plan.total_steps)

    def schedule(hparams, step, wd_scale):
        a, b = lr_mult(step), wd_mult(step) * wd_scale
        return {k: v * (b if "weight_decay" in k else a) for k, v in hparams.items()}

    def make_tx(learning_rate, weight_decay, muon_learning_rate, muon_weight_decay):
        hp = {"learning_rate": learning_rate, "weight_decay": weight_decay,
              "muon_learning_rate": muon_learning_rate, "muon_weight_decay": muon_weight_decay}
        return build_optimizer(optim, hp, trainable, plan.steps_per_epoch)

    # the hyperparameters live in the optimizer state; each step sets this step's values
    tx = optax.inject_hyperparams(make_tx)(**resolved_hparams(optim))

    def adapt_wd(scale, train_acc, val_acc):
        return adapt_wd_scale(scale, train_acc, val_acc, optim)

    def share(epoch):
        return curriculum_share(tr, epoch)

    return Recipe(tx=tx, schedule=schedule,
                  adapt_wd=adapt_wd if optim.wd_schedule == "adaptive" else None,
                  share=share, curriculum=tr.curriculum, sam=optim.sam_rho > 0)


def hyperparams(plan: Plan) -> dict:
    """Per-seed vmapped hyperparameters ([S] arrays), from ``per_seed`` or the config."""
    cfg = plan.config
    base = resolved_hparams(cfg.optim)
    out = {}
    for key in PER_SEED_KEYS:
        values = cfg.per_seed.get(key, [base[key]] * plan.n_seeds)
        out[key] = jnp.asarray(values, jnp.float32)
    return out


@functools.lru_cache(maxsize=32)
def _compiled_init(model: ModelConfig):
    """One model's parameter initialization from a key, jitted once per model config."""
    return jax.jit(lambda key: nnx.state(build_model(model, key), nnx.Param))


def init_params(plan: Plan):
    """(graphdef, params with a leading seed axis): each seed's parameters drawn from its own key
    (``seed_keys(seed).init``), so seed k of a multi-seed run starts where a one-seed run with
    seed k does.

    One jitted initialization serves every seed in turn, and every later run of the same model
    in this process (a second engine of the reference workload: 2.5 s → 0.1 s, BENCHMARKS.md).
    It gives the very bits ``jax.jit(jax.vmap(init))`` over the keys gives (tests/test_engine.py
    checks this); op-by-op execution would round the normal initializers differently in the
    last bit."""
    from groklab.engine.program import seed_keys

    cfg = plan.config.model
    graphdef, _ = nnx.split(build_model(cfg, 0))
    init = _compiled_init(cfg)
    params = jax.tree.map(lambda *xs: jnp.stack(xs),
                          *[init(seed_keys(s).init) for s in plan.rng_seeds])
    alpha = plan.config.optim.init_scale
    if alpha != 1.0:  # Omnigrok's initialization scale α (Liu et al. 2022)
        params = jax.tree.map(lambda p: p * alpha, params)
    return graphdef, params
