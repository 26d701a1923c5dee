"""The host loop: dispatch compiled chunks, log, checkpoint, stop early. Nothing else.

Between two evaluations the device runs ``eval_every`` steps of every seed in one call; the host
then writes one metrics line per seed, updates milestones, and decides whether to checkpoint or
stop (STYLE.md 4).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import jax
import numpy as np

from groklab.engine.milestones import Milestones
from groklab.engine.program import Objective, Program, TrainState, supervised_objective
from groklab.engine.setup import Plan, device_data, hyperparams, init_params
from groklab.optim import build_optimizer, learning_rate_at


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


class Engine:
    """One compiled multi-seed training program and its host loop."""

    def __init__(self, plan: Plan, objective: Objective = supervised_objective,
                 params=None, trainable=None):
        self.plan = plan
        self.data = device_data(plan)
        self.hparams = hyperparams(plan)
        graphdef, default_params = init_params(plan)
        self.graphdef = graphdef
        self.init_params = default_params if params is None else params
        optim = plan.config.optim

        def make_tx(hp):
            return build_optimizer(optim, hp["learning_rate"], hp["weight_decay"], trainable)

        self.program = Program(
            graphdef=graphdef, make_tx=make_tx, objective=objective,
            batch_size=plan.batch_size, steps_per_epoch=plan.steps_per_epoch,
            n_train=plan.n_train, eval_batch_size=plan.config.train.eval_batch_size,
        )
        self._compiled: dict[int, object] = {}
        self.compile_time_s = 0.0

    def initial_state(self) -> TrainState:
        return self.program.init_all(self.init_params, self.hparams)

    def _chunk(self, n_steps: int, state: TrainState, start: int):
        if n_steps not in self._compiled:
            t0 = time.perf_counter()
            lowered = Program.run_chunk.lower(self.program, self.data, self.hparams, state,
                                              n_steps, np.int32(start))
            self._compiled[n_steps] = lowered.compile()
            self.compile_time_s += time.perf_counter() - t0
        return self._compiled[n_steps](self.data, self.hparams, state, np.int32(start))

    def run(self, state: TrainState | None = None, start_step: int = 0,
            milestones: list[Milestones] | None = None, hooks: Hooks | None = None) -> Result:
        plan, cfg = self.plan, self.plan.config
        hooks = hooks or Hooks()
        state = self.initial_state() if state is None else state
        milestones = milestones or [
            Milestones(s, cfg.train.memorized_threshold, cfg.train.grokked_threshold)
            for s in cfg.seeds
        ]
        step, total, every = start_step, plan.total_steps, plan.eval_every
        t_start, status, last = time.perf_counter(), "completed", []
        steps_run = 0
        while step < total:
            n = min(every, total - step)
            state, metrics = self._chunk(n, state, step)
            metrics = jax.device_get(metrics)
            step += n
            steps_run += n
            last = self._records(step, metrics)
            for ms, rec in zip(milestones, last):
                ms.update(rec)
            if hooks.on_eval:
                hooks.on_eval(last)
            elapsed = time.perf_counter() - t_start - self.compile_time_s
            rate = steps_run / elapsed if elapsed > 0 else float("nan")
            if hooks.on_progress:
                eta = (total - step) / rate if rate and rate == rate else float("nan")
                hooks.on_progress(Progress(step, total, step / plan.steps_per_epoch, last,
                                           rate, eta))
            alive = [m.diverged_step is None for m in milestones]
            stop_at = cfg.train.stop_at
            done = stop_at is not None and all(
                m.reached(stop_at) for m, a in zip(milestones, alive) if a)
            interrupted = hooks.should_stop() if hooks.should_stop else False
            final = step >= total or done or not any(alive) or interrupted
            eval_index = math.ceil(step / every)
            periodic = step // plan.checkpoint_every != (step - n) // plan.checkpoint_every
            if hooks.on_checkpoint and (final or periodic or log_spaced(eval_index)):
                hooks.on_checkpoint(step, state, final)
            if not any(alive):
                status = "diverged"
                break
            if done:
                status = "stopped_early" if step < total else "completed"
                break
            if interrupted:
                status = "interrupted"
                break
        wall = time.perf_counter() - t_start
        train_time = wall - self.compile_time_s
        return Result(status, step, state, milestones, wall, self.compile_time_s,
                      steps_run / train_time if train_time > 0 else float("nan"),
                      self.graphdef, last)

    def _records(self, step: int, m: dict) -> list[dict]:
        cfg = self.plan.config
        lrs = np.asarray(learning_rate_at(cfg.optim, step, np.asarray(self.hparams[
            "learning_rate"])))
        out = []
        for i, seed in enumerate(cfg.seeds):
            diverged = int(m["diverged_step"][i])
            out.append({
                "step": step,
                "epoch": round(step / self.plan.steps_per_epoch, 6),
                "seed": seed,
                "train_loss": _f(m["train_loss"][i]),
                "train_acc": _f(m["train_acc"][i]),
                "val_loss": _f(m["val_loss"][i]),
                "val_acc": _f(m["val_acc"][i]),
                "lr": _f(lrs[i]),
                "weight_norm": _f(m["weight_norm"][i]),
                "grad_norm": _f(m["grad_norm"][i]),
                "diverged_step": diverged if diverged >= 0 else None,
            })
        return out


def _f(x) -> float | None:
    """A JSON-safe float: NaN/Inf become None (strict JSON has no NaN)."""
    x = float(x)
    return x if math.isfinite(x) else None

