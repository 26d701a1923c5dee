"""``train_run``: a config in, a complete run directory out (or a resumed one continued).

Order matters for "nothing half-written" (DESIGN.md §5): everything is validated and the task,
splits and model are built before the directory is created; from then on every file is written
atomically (metrics.jsonl is append-only) and a checkpoint + summary land at log-spaced,
periodic and final steps, so a kill at any moment leaves a readable run that ``--resume`` continues
exactly.
"""

from __future__ import annotations

import dataclasses
import signal
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import jax

import groklab
from groklab.config import RunConfig
from groklab.engine.loop import Engine, Hooks, Progress
from groklab.engine.milestones import Milestones
from groklab.engine.setup import plan_run
from groklab.errors import ConfigError
from groklab.runs.checkpoints import Checkpoints
from groklab.runs.rundir import RunDir
from groklab.viz import plot_training_curves


def train_run(cfg: RunConfig, out: str | Path, resume: bool = False,
              on_progress: Callable[[Progress], None] | None = None,
              figures: bool = True, pdf: bool = False,
              checkpoint_now: Callable[[list[dict]], bool] | None = None,
              after_checkpoint: Callable[[int, object, bool], None] | None = None) -> dict:
    """Train every seed of ``cfg`` into run directory ``out``; returns the summary dict.

    ``checkpoint_now(records)`` (asked after every evaluation, once its metrics are written) adds
    checkpoints beyond the usual ones; ``after_checkpoint(step, state, final)`` runs once a
    checkpoint is on disk. Batched sweeps use both to split a group run into its cells."""
    run = RunDir(out)
    # validates everything (and loads a distillation teacher) before any file is written
    plan, engine_args, about = _prepare(cfg)
    if resume:
        run.check_resume(plan.config)
    else:
        run.check_new()
    engine = Engine(plan, **engine_args)
    ckpts_dir = run.checkpoints_path
    state, start, milestones, prior_wall = None, 0, None, 0.0
    if resume:
        ckpts = Checkpoints(ckpts_dir)
        step = ckpts.latest_state_step()
        if step is None:
            raise ConfigError(f"cannot resume {str(run.path)!r}: no checkpoint in "
                              f"{str(ckpts_dir)!r}; start a new run instead")
        abstract = jax.eval_shape(engine.initial_state)
        state, _ = ckpts.restore_state(step, abstract)
        start = step
        milestones = _replay(plan.config, run.truncate_metrics(step))
        if run.summary_path.exists():
            prior_wall = float(run.read_summary().get("wall_time_s") or 0.0)
    else:
        run.path.mkdir(parents=True, exist_ok=True)
        run.write_config(plan.config)
        run.write_split(plan.config.seeds, plan.splits)
        ckpts = Checkpoints(ckpts_dir)
    run.write_config(plan.config)  # a resumed run may have a new budget
    t0 = time.perf_counter()

    def summary(result_like, status: str) -> dict:
        return run_summary(plan, result_like.step, result_like.milestones, status,
                           prior_wall + time.perf_counter() - t0, engine.compile_time_s,
                           getattr(result_like, "steps_per_s", None)) | about

    def on_checkpoint(step, st, final):
        meta = {"config": plan.config.to_dict(), "step": step,
                "epoch": plan.epoch_at(step), "seeds": list(plan.config.seeds),
                "groklab_version": groklab.__version__}
        ckpts.save(step, st.params, st, meta)
        if not final:
            run.write_summary(summary(_Partial(step, milestones_ref), "interrupted"))
        if after_checkpoint:
            after_checkpoint(step, st, final)

    milestones_ref = milestones or [
        Milestones.for_run(s, cfg.train)
        for s in plan.config.seeds
    ]
    hooks = Hooks(on_eval=run.append_metrics, on_progress=on_progress,
                  on_checkpoint=on_checkpoint, checkpoint_now=checkpoint_now)
    with _graceful_interrupt() as stop:
        hooks.should_stop = stop
        result = engine.run(state, start, milestones_ref, hooks)
    ckpts.close()
    out_summary = summary(result, result.status)
    run.write_summary(out_summary)
    if figures:
        title = f"{plan.task.name} mod {plan.task.p} — {len(plan.config.seeds)} seed(s)"
        records = run.read_metrics()
        for name, log_x in (("curves.png", False), ("curves_logx.png", True)):
            plot_training_curves(records, out_summary["seeds"], run.figures_path / name,
                                 log_x=log_x, pdf=pdf, title=title)
        if "teacher" in about:
            from groklab.viz import plot_student_vs_teacher

            teacher_run = RunDir(about["teacher"]["run"])
            plot_student_vs_teacher(records, teacher_run.read_metrics(), about["teacher"],
                                    run.figures_path / "student_vs_teacher.png", pdf=pdf)
    return out_summary


def _prepare(cfg: RunConfig):
    """(plan, Engine keyword arguments, extra summary fields) of a run: plain training,
    distillation when ``cfg.distill.teacher`` is set, transfer when ``cfg.transfer.source`` is."""
    if cfg.transfer.source is not None:
        from groklab.transfer.setup import prepare as prepare_transfer

        t = prepare_transfer(cfg)
        return t.plan, {"params": t.params, "trainable": t.trainable}, t.about
    if cfg.distill.teacher is None:
        return plan_run(cfg), {}, {}
    from groklab.distill.setup import prepare

    d = prepare(cfg)
    # a from-scratch baseline (no strategy) never reads the teacher: don't ship its parameters
    inputs = d.teacher.params if d.objective.strategies else None
    return (d.plan, {"objective": d.objective, "objective_inputs": inputs},
            {"teacher": d.teacher.describe()})


class _Partial:
    """The fields of a Result that a mid-run summary needs."""

    def __init__(self, step, milestones):
        self.step, self.milestones = step, milestones


def run_summary(plan, step: int, milestones: list[Milestones], status: str, wall: float,
                compile_s: float, steps_per_s: float | None) -> dict:
    """summary.json of a run (DESIGN.md §5) at ``step``."""
    train_time = wall - compile_s
    if steps_per_s is None or steps_per_s != steps_per_s:
        steps_per_s = None
    return {
        "status": status,
        "groklab_version": groklab.__version__,
        "config": plan.config.to_dict(),
        "wall_time_s": round(wall, 3),
        "compile_time_s": round(compile_s, 3),
        "train_time_s": round(train_time, 3),
        "steps_per_s": None if steps_per_s is None else round(steps_per_s, 3),
        "step": step,
        "epoch": round(plan.epoch_at(step), 6),
        "steps_per_epoch": plan.steps_per_epoch,
        "phases": [dataclasses.asdict(ph) for ph in plan.phases],
        "total_steps": plan.total_steps,
        "n_train": plan.n_train,
        "n_val": len(plan.task.labels) - plan.n_train,
        "seeds": [m.to_dict() for m in milestones],
    }


def _replay(cfg: RunConfig, records: list[dict]) -> list[Milestones]:
    ms = {s: Milestones.for_run(s, cfg.train)
          for s in cfg.seeds}
    for r in records:
        ms[r["seed"]].update(r)
    return [ms[s] for s in cfg.seeds]


@contextmanager
def _graceful_interrupt():
    """Ctrl-C / SIGTERM finish the current chunk, checkpoint, and end as "interrupted"."""
    flag = {"stop": False}

    def handler(signum, frame):
        flag["stop"] = True

    previous = {}
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, handler)
    except ValueError:  # not the main thread: no signal handling
        pass
    try:
        yield lambda: flag["stop"]
    finally:
        for sig, h in previous.items():
            signal.signal(sig, h)
