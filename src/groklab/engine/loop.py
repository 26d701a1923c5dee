"""The host loop: dispatch compiled chunks, log, checkpoint, stop early. Nothing else.

Between two evaluations the device runs ``eval_every`` steps of every seed in one call; the host
then writes one metrics line per seed, updates milestones, and decides whether to checkpoint or
stop.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from groklab.engine.devices import SeedPlacement
from groklab.engine.milestones import Milestones, observe
from groklab.engine.phases import phase_at
from groklab.engine.program import Objective, Program, TrainState, seed_keys
from groklab.engine.setup import (
    EngineSetup,
    Plan,
    device_data,
    hyperparams,
    init_params,
    make_recipe,
)
from groklab.engine.stopping import stop_status
from groklab.objectives import Supervised


@dataclass
class Progress:
    """What a progress display is told after every evaluation."""

    step: int
    total_steps: int
    epoch: float
    records: list[dict]
    steps_per_s: float
    eta_s: float


@dataclass
class Hooks:
    """Callbacks of the host loop (all optional)."""

    on_eval: Callable[[list[dict]], None] | None = None  # one record per seed
    on_progress: Callable[[Progress], None] | None = None
    on_checkpoint: Callable[[int, TrainState, bool], None] | None = None  # step, state, final
    should_stop: Callable[[], bool] | None = None  # external interrupt
    # asked after on_eval with the same records: also checkpoint at this step? (e.g. a batched
    # sweep cell just ended)
    checkpoint_now: Callable[[list[dict]], bool] | None = None


@dataclass
class Result:
    status: str
    step: int
    state: TrainState
    milestones: list[Milestones]
    wall_time_s: float
    compile_time_s: float
    steps_per_s: float
    graphdef: object = None
    records: list[dict] = field(default_factory=list)


def log_spaced(eval_index: int) -> bool:
    """Evaluation 1, 2, 4, 8, ... (log-spaced checkpoints catch the early dynamics)."""
    return eval_index & (eval_index - 1) == 0


def checkpoint_due(plan: Plan, step: int, previous_step: int) -> bool:
    """Is the evaluation at ``step`` (the one before was at ``previous_step``) a scheduled
    checkpoint: log-spaced (evaluation 1, 2, 4, …) or crossing a ``checkpoint_every`` boundary?
    Final checkpoints come on top."""
    every = plan.eval_every
    eval_index = math.ceil(step / every) if every is not None else math.ceil(plan.epoch_at(step))
    periodic = step // plan.checkpoint_every != previous_step // plan.checkpoint_every
    return periodic or log_spaced(eval_index)


class Engine:
    """One compiled multi-seed training program and its host loop."""

    def __init__(self, plan: Plan, objective: Objective | None = None,
                 params=None, trainable=None, objective_inputs=None):
        """``objective_inputs``: per-seed data the objective reads (leading seed axis), e.g. a
        distillation teacher's parameters; ``params``: initial parameters instead of the
        seeds' fresh initialization (transfer); ``trainable``: a bool pytree of the parameters
        that train (frozen layers)."""
        self.plan = plan
        tr = plan.config.train
        self.x64 = tr.loss_dtype == "float64"
        self.placement = SeedPlacement(plan.n_seeds)
        self.data = self.placement.data(device_data(plan, objective_inputs))
        self.hparams = self.placement.seeds(hyperparams(plan))
        graphdef, default_params = init_params(plan)
        self.graphdef = graphdef
        self.init_params = self.placement.seeds(default_params if params is None else params)
        if objective is None:
            objective = Supervised(tr.loss, tr.loss_dtype)
        recipe = make_recipe(plan, trainable)
        cpu = jax.default_backend() == "cpu" and self.placement.n_devices == 1
        eval_seeds = "map" if cpu else "vmap"
        self.programs = [
            Program(graphdef=graphdef, recipe=recipe, objective=objective, phase=phase,
                    n_train=plan.n_train, eval_batch_size=tr.eval_batch_size,
                    eval_loss=tr.loss, loss_dtype=tr.loss_dtype, eval_seeds=eval_seeds)
            for phase in plan.phases
        ]
        self.program = self.programs[0]
        self.objective = objective
        self.extra_keys = self.placement.seeds(
            jnp.stack([seed_keys(s).objective for s in plan.rng_seeds]))
        self._compiled: dict[tuple[int, int], object] = {}
        self.compile_time_s = 0.0

    @classmethod
    def from_setup(cls, setup: EngineSetup) -> Engine:
        return cls(setup.plan, setup.objective, setup.params, setup.trainable,
                   setup.objective_inputs)

    def initial_state(self) -> TrainState:
        return self.placement.seeds(
            self.program.init_all(self.init_params, self.hparams, self.data.seeds.order0,
                                  self.extra_keys))

    def _chunk(self, n_steps: int, state: TrainState, start: int):
        """Run ``n_steps`` from global step ``start`` (within one phase), then evaluate."""
        k = phase_at(self.plan.phases, start)
        if (k, n_steps) not in self._compiled:
            t0 = time.perf_counter()
            with jax.enable_x64(self.x64):
                lowered = Program.run_chunk.lower(self.programs[k], self.data, self.hparams,
                                                  state, n_steps, np.int32(start))
                self._compiled[k, n_steps] = lowered.compile()
            self.compile_time_s += time.perf_counter() - t0
        return self._compiled[k, n_steps](self.data, self.hparams, state, np.int32(start))

    def run(self, state: TrainState | None = None, start_step: int = 0,
            milestones: list[Milestones] | None = None, hooks: Hooks | None = None) -> Result:
        plan, cfg = self.plan, self.plan.config
        hooks = hooks or Hooks()
        state = self.initial_state() if state is None else self.placement.seeds(state)
        milestones = milestones or [Milestones.for_run(s, cfg.train) for s in cfg.seeds]
        step, total = start_step, plan.total_steps
        t_start, status, last = time.perf_counter(), "completed", []
        steps_run = 0
        while step < total:
            n = plan.next_stop(step) - step
            state, metrics = self._chunk(n, state, step)
            metrics = jax.device_get(metrics)
            step += n
            steps_run += n
            last = observe(milestones, self._records(step, metrics))
            if hooks.on_eval:
                hooks.on_eval(last)
            elapsed = time.perf_counter() - t_start - self.compile_time_s
            rate = steps_run / elapsed if elapsed > 0 else float("nan")
            if hooks.on_progress:
                eta = (total - step) / rate if rate and rate == rate else float("nan")
                hooks.on_progress(Progress(step, total, plan.epoch_at(step), last,
                                           rate, eta))
            ended = stop_status(milestones, step, total, cfg.train.stop_at)
            interrupted = hooks.should_stop() if hooks.should_stop else False
            final = ended is not None or interrupted
            asked = hooks.checkpoint_now(last) if hooks.checkpoint_now else False
            if hooks.on_checkpoint and (final or asked or checkpoint_due(plan, step, step - n)):
                hooks.on_checkpoint(step, state, final)
            if final:
                status = ended or "interrupted"
                break
        wall = time.perf_counter() - t_start
        train_time = wall - self.compile_time_s
        return Result(status, step, state, milestones, wall, self.compile_time_s,
                      steps_run / train_time if train_time > 0 else float("nan"),
                      self.graphdef, last)

    def _records(self, step: int, m: dict) -> list[dict]:
        cfg = self.plan.config
        out = []
        for i, seed in enumerate(cfg.seeds):
            diverged = int(m["diverged_step"][i])
            out.append({
                "step": step,
                "epoch": round(self.plan.epoch_at(step), 6),
                "seed": seed,
                "train_loss": _f(m["train_loss"][i]),
                "train_acc": _f(m["train_acc"][i]),
                "val_loss": _f(m["val_loss"][i]),
                "val_acc": _f(m["val_acc"][i]),
                "lr": _f(m["lr"][i]),
                "wd": _f(m["wd"][i]),
                "weight_norm": _f(m["weight_norm"][i]),
                "grad_norm": _f(m["grad_norm"][i]),
                "sc_fraction": _f(m["sc_fraction"][i]),
                "diverged_step": diverged if diverged >= 0 else None,
                **{k: _f(m[k][i]) for k in self.objective.aux_keys},
            })
        return out


def _f(x) -> float | None:
    """A JSON-safe float: NaN/Inf become None (strict JSON has no NaN)."""
    x = float(x)
    return x if math.isfinite(x) else None

