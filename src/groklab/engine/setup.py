"""Turn a RunConfig into device data, initial parameters and the compiled program's inputs.

Everything here validates before anything is compiled or written (docs/architecture.md §1:
"validation happens before any compilation"). ``plan_run`` imports no JAX, Flax or Optax (the
functions that build arrays, models or optimizers import them), so the CLI plans a run, and
refuses a bad value in one line, before JAX starts (docs/performance.md "Start-up").
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from groklab.config import MAX_INT, MAX_SEEDS, PER_SEED_KEYS, RunConfig, check_numbers
from groklab.engine.curriculum import CURRICULA, initial_order
from groklab.engine.phases import Phase, cap_phases, epoch_at, make_phases, phase_at
from groklab.errors import ConfigError, short
from groklab.models import build_model
from groklab.models.config import ModelConfig, param_count
from groklab.objectives import LOSSES
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


def plan_run(cfg: RunConfig, check_memory_fits: bool = True) -> Plan:
    """Validate every part of ``cfg`` and compute the run's sizes. Raises ConfigError.

    Everything is checked from the config alone before anything per seed is built: values and
    their ranges, the structural limits (``MAX_SEEDS``, ``MAX_LAYERS``, ``MAX_BATCH_STAGES``,
    steps within ``MAX_INT``) and the memory training it needs (``check_memory``, unless
    ``check_memory_fits`` is False: a run only read), so a run that cannot work is refused at
    once, without allocating it."""
    check_numbers(cfg.to_dict())  # NaN, ±inf, beyond float32 or int32: refused by key
    t = cfg.task
    task = make_task(t.name, t.p, t.layout)
    model = cfg.model.resolve_for_task(task.d_vocab, task.n_ctx, task.operand_positions)
    _check_model(model)
    cfg.optim.validate()
    _check_optax_kwargs(cfg.optim)
    if not cfg.seeds:
        raise ConfigError("seeds=() is empty; give at least one seed (e.g. --seeds 0,1,2)")
    if len(cfg.seeds) > MAX_SEEDS:
        raise ConfigError(f"seeds lists {len(cfg.seeds):,} seeds; a run trains at most "
                          f"{MAX_SEEDS:,}")
    if len(set(cfg.seeds)) != len(cfg.seeds):
        raise ConfigError(f"seeds={short(list(cfg.seeds))} has duplicates; each seed must be "
                          "distinct")
    for key, values in cfg.per_seed.items():
        if key not in PER_SEED_KEYS:
            raise ConfigError(f"per_seed key {short(key)} is not allowed; allowed: "
                              f"{', '.join(PER_SEED_KEYS)}")
        if not isinstance(values, (list, tuple)) or len(values) != len(cfg.seeds):
            raise ConfigError(f"per_seed.{key}={short(values)} must list one value per seed "
                              f"({len(cfg.seeds)} seeds)")
        for i, v in enumerate(values):
            if v < 0 or (v == 0 and "learning_rate" in key):
                raise ConfigError(f"per_seed.{key}[{i}]={v} must be "
                                  f"{'> 0' if 'learning_rate' in key else '>= 0'}")
    if cfg.rng_seeds and len(cfg.rng_seeds) != len(cfg.seeds):
        raise ConfigError(f"rng_seeds={short(list(cfg.rng_seeds))} must list one seed per seed "
                          f"({len(cfg.seeds)} seeds) or be empty")
    _check_distill(cfg.distill)
    tr = cfg.train
    _check_train(tr)
    n_train = _n_train(len(task.labels), t.train_fraction)
    phases = cap_phases(make_phases(tr, n_train), tr.max_steps)
    total = phases[-1].end_step
    if total > MAX_INT:
        raise ConfigError(f"the budget is {total:,} steps (train.epochs={tr.epochs}, "
                          f"train.steps={tr.steps}); a run takes at most {MAX_INT:,} steps")
    if tr.eval_every is not None and tr.eval_every < 1:
        raise ConfigError(f"train.eval_every={tr.eval_every} must be >= 1")
    every = tr.eval_every or phases[-1].steps_per_epoch
    ckpt = tr.checkpoint_every or max(every, (total // 5) // every * every)
    if ckpt < 1:
        raise ConfigError(f"train.checkpoint_every={ckpt} must be >= 1")
    cfg = dataclasses.replace(cfg, model=model)
    if check_memory_fits:  # training it; a run only read (a teacher, a source) needs far less
        check_memory(cfg, len(task.labels), n_train)
    if cfg.optim.name == "muon":
        _check_muon(cfg)
    splits = tuple(
        make_split(task, t.train_fraction, t.split_seed if t.split_seed is not None else s,
                   t.label_noise)
        for s in (cfg.rng_seeds or cfg.seeds)
    )
    return Plan(cfg, task, splits, phases, total, tr.eval_every, ckpt)


def _n_train(n_rows: int, train_fraction: float) -> int:
    """The training rows of a split, as ``make_split`` counts them."""
    from groklab.tasks.split import split_sizes

    return split_sizes(n_rows, train_fraction)[0]


# ----- memory: estimated from the config, checked before anything is allocated -----

F32 = 4  # bytes per value: parameters, optimizer state and activations are float32
MEMORY_ENV = "GROKLAB_MEMORY_LIMIT"  # bytes (suffix K, M, G, T) that replace the available RAM
CHECKED_ABOVE = 64 << 20  # estimates below 64 MiB fit anywhere: not checked


def memory_estimate(cfg: RunConfig, n_rows: int, n_train: int) -> dict:
    """Bytes a run needs at least, from its config (``cfg.model`` resolved for the task):

    - ``state``: per seed, parameters, gradients and optimizer state: (4 + k) × P values, with
      k = the Grokfast window (MA) or 1 (EMA) or 0, +1 with SAM, +1 for the checkpoint copy;
    - ``activations``: per seed, the larger of a training step (what the backward pass
      keeps: B × T × L × (8·d_model + 2·d_mlp + 2·H·T) + 3·B·V) and an evaluation block of E
      rows (forward only, one layer at a time: E × T × (8·d_model + 2·d_mlp + 2·H·T) + 3·E·V);
    - ``data``: the task table and the per-seed labels, indices and masks.

    Every seed is trained at once (a vmapped axis), so state and activations count S times."""
    model, tr, optim = cfg.model, cfg.train, cfg.optim
    S, P, V = len(cfg.seeds), param_count(model), model.d_vocab
    slots = {"ema": 1, "ma": optim.grokfast_window}.get(optim.grokfast, 0)
    state = P * (4 + slots + (optim.sam_rho > 0) + 1)
    B, E = min(tr.batch_size, n_train), min(tr.eval_batch_size, n_rows)
    if model.kind == "mlp":
        width = len(model.operand_positions) * V + 3 * model.mlp_width + 3 * V
        train_act, eval_act = B * width, E * width // 2
    else:
        T, L = model.n_ctx, model.n_layers
        per_layer = T * (8 * model.d_model + 2 * model.mlp_dim + 2 * model.n_heads * T)
        train_act = B * (L * per_layer + 3 * V)
        eval_act = E * (per_layer + 3 * V)
    data = n_rows * (model.n_ctx or 1) + S * n_rows * 4
    parts = {"state": S * state * F32, "activations": S * max(train_act, eval_act) * F32,
             "data": data * F32}
    return {"params_per_seed": P, **parts, "total": sum(parts.values())}


def available_memory() -> tuple[int | None, str]:
    """(bytes, where that number comes from): ``GROKLAB_MEMORY_LIMIT`` when set, else the
    memory the operating system says is available (Linux MemAvailable, else the free pages);
    None when neither is known."""
    env = os.environ.get(MEMORY_ENV, "").strip()
    if env:
        units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
        try:
            scale = units.get(env[-1].upper(), 1)
            number = float(env[:-1] if env[-1].upper() in units else env)
            if not math.isfinite(number) or number <= 0:
                raise ValueError
            return int(number * scale), MEMORY_ENV
        except ValueError:
            raise ConfigError(f"{MEMORY_ENV}={short(env)} must be a number of bytes, e.g. 8G "
                              "or 512M") from None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024, "available RAM"
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"), "free RAM"
    except (OSError, ValueError, AttributeError):
        return None, "unknown"


def _size(n: int) -> str:
    for unit, scale in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{n / 1024:,.1f} KiB"


def check_memory(cfg: RunConfig, n_rows: int, n_train: int) -> dict:
    """Refuse a run whose estimated memory (``memory_estimate``) exceeds what is available
    (``available_memory``): one line with the estimate, its largest part and what there is.
    Returns the estimate."""
    est = memory_estimate(cfg, n_rows, n_train)
    if est["total"] < CHECKED_ABOVE:
        return est
    have, source = available_memory()
    if have is not None and est["total"] > have:
        part = max(("state", "activations", "data"), key=lambda k: est[k])
        seeds = f"{len(cfg.seeds):,} seed{'s' if len(cfg.seeds) > 1 else ''}"
        what = {"state": f"parameters and optimizer state: {est['params_per_seed']:,} "
                         f"parameters × {seeds}",
                "activations": f"activations of batch {cfg.train.batch_size} × {seeds}",
                "data": "the task table and splits"}[part]
        raise ConfigError(f"this run needs about {_size(est['total'])} of memory (mostly "
                          f"{what}: {_size(est[part])}), more than the {_size(have)} of "
                          f"{source}; make the model, batch or seed count smaller (set "
                          f"{MEMORY_ENV} to change the limit)")
    return est


# ----- limits (docs/reliability.md §4) -----

MAX_LAYERS = 256  # transformer blocks: each is traced and compiled into the program
MAX_BATCH_STAGES = 64  # distinct batch sizes of a batch schedule: each compiles a program


def _check_model(model: ModelConfig) -> None:
    if model.kind == "transformer" and model.n_layers > MAX_LAYERS:
        raise ConfigError(f"model.n_layers={model.n_layers} is over the limit of {MAX_LAYERS} "
                          "(each layer is traced and compiled into the program)")
    if model.norm_eps < 0:
        raise ConfigError(f"model.norm_eps={model.norm_eps} must be >= 0")
    if model.mlp_output_scale is not None and model.mlp_output_scale == 0:
        raise ConfigError("model.mlp_output_scale=0 would make every output 0; give a "
                          "non-zero scale or null (1 / mlp_width)")


def _check_optax_kwargs(optim) -> None:
    """``optim.kwargs`` of an ``optax:<name>`` optimizer must be arguments it takes: it is
    built once here (nothing is compiled), so a wrong name or value fails now, in one line."""
    if not (optim.name.startswith("optax:") and optim.kwargs):
        return
    import optax

    name = optim.name.split(":", 1)[1]
    factory = getattr(optax, name)
    try:
        inspect.signature(factory).bind(learning_rate=1e-3, **optim.kwargs)
        factory(learning_rate=1e-3, **optim.kwargs)
    except Exception as e:  # noqa: BLE001 - whatever optax says about its own arguments
        raise ConfigError(f"optim.kwargs={short(optim.kwargs)} do not fit optax.{name}: "
                          f"{short(str(e), 120)}") from None


def _check_distill(d) -> None:
    """A strategy weight (``logit:W``) must be a finite number; the rest of the strategy is
    checked by groklab.distill when the teacher is loaded."""
    for item in d.strategies:
        name, sep, weight = str(item).partition(":")
        if not sep:
            continue
        try:
            w = float(weight)
        except ValueError:
            continue  # groklab.distill names it: not a number
        if not math.isfinite(w) or abs(w) > 1e30:
            raise ConfigError(f"distill.strategies: {short(item)} has weight {w:g}; a weight "
                              "is a finite number > 0")


def _check_train(tr) -> None:
    if tr.eval_batch_size < 1:
        raise ConfigError(f"train.eval_batch_size={tr.eval_batch_size} must be >= 1")
    if tr.checkpoint_every is not None and tr.checkpoint_every < 1:
        raise ConfigError(f"train.checkpoint_every={tr.checkpoint_every} must be >= 1")
    if tr.max_steps is not None and tr.max_steps < 1:
        raise ConfigError(f"train.max_steps={tr.max_steps} must be >= 1")
    for key in ("grokked_threshold", "memorized_threshold"):
        if not 0 < getattr(tr, key) <= 1:
            raise ConfigError(f"train.{key}={getattr(tr, key)} is outside (0, 1]")
    if tr.batch_schedule != "constant" and tr.batch_stages > MAX_BATCH_STAGES:
        raise ConfigError(f"train.batch_stages={tr.batch_stages} is over the limit of "
                          f"{MAX_BATCH_STAGES} (each batch size compiles a program)")
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
    from flax import nnx

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
    import jax.numpy as jnp

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
    import optax

    from groklab.engine.phases import curriculum_share
    from groklab.engine.program import Recipe
    from groklab.optim import adapt_wd_scale, build_optimizer, lr_multiplier, wd_multiplier
    from groklab.optim.build import resolved_hparams

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
    import jax.numpy as jnp

    from groklab.optim.build import resolved_hparams

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
    import jax
    from flax import nnx

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
    import jax
    import jax.numpy as jnp
    from flax import nnx

    from groklab.engine.program import seed_keys

    cfg = plan.config.model
    # the structure only: an abstract model (no op runs; building it eagerly ran and compiled
    # ≈ 35 small programs, 1-3 s of every run's start-up, docs/performance.md "Start-up")
    graphdef, _ = nnx.split(nnx.eval_shape(lambda: build_model(cfg, 0)))
    init = _compiled_init(cfg)
    params = jax.tree.map(lambda *xs: jnp.stack(xs),
                          *[init(seed_keys(s).init) for s in plan.rng_seeds])
    alpha = plan.config.optim.init_scale
    if alpha != 1.0:  # Omnigrok's initialization scale α (Liu et al. 2022)
        params = jax.tree.map(lambda p: p * alpha, params)
    return graphdef, params
