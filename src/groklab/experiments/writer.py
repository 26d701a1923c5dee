"""``RunWriter``: one run's lifecycle in its run directory.

It creates the directory (config and split, once everything is validated) or reopens it for
``--resume`` (metrics cut back to the checkpoint, milestones replayed from them); it owns the
seeds' milestones that the engine's stop rule reads, sends every evaluation's records to the
metric sinks (``metrics.jsonl`` always), saves checkpoints with a mid-run summary, and at the end
writes ``summary.json`` and the figures. Train, distill, transfer and every sweep cell are
written through it (docs/architecture.md §3 has the files it writes).
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import groklab
from groklab.engine.milestones import Milestones
from groklab.engine.setup import Plan
from groklab.errors import ConfigError, warn
from groklab.experiments.sinks import SinkContext, check_log_config, make_sinks
from groklab.figures import plot_training_curves
from groklab.runs.checkpoints import Checkpoints, DamagedCheckpoint
from groklab.runs.metrics import MetricsCheck
from groklab.runs.rundir import RunDir


class MetricSink(Protocol):
    """Where a run's evaluation records go. ``write`` gets the records of one evaluation (one
    per seed, exactly as in metrics.jsonl); ``close`` the final summary."""

    def write(self, records: list[dict]) -> None: ...

    def close(self, summary: dict) -> None: ...


class JsonlSink:
    """``metrics.jsonl``, append-only: the run's source of truth."""

    def __init__(self, run: RunDir):
        self.run = run

    def write(self, records: list[dict]) -> None:
        self.run.append_metrics(records)

    def close(self, summary: dict) -> None:
        pass


def peak_rss_mb() -> float | None:
    """The process's peak resident memory so far, in MB (``getrusage``; None where it is not
    available). A batched sweep trains several cells in one process: their summaries share it."""
    try:
        import resource
    except ImportError:  # not on POSIX
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux, bytes on macOS
    return round(peak / (2 ** 20 if sys.platform == "darwin" else 2 ** 10), 1)


def run_summary(plan: Plan, step: int, milestones: Sequence[Milestones], status: str,
                wall: float, compile_s: float, steps_per_s: float | None) -> dict:
    """summary.json of a run at ``step`` (docs/architecture.md §3)."""
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
        "peak_rss_mb": peak_rss_mb(),
        "step": step,
        "epoch": round(plan.epoch_at(step), 6),
        "steps_per_epoch": plan.steps_per_epoch,
        "phases": [dataclasses.asdict(ph) for ph in plan.phases],
        "total_steps": plan.total_steps,
        "n_train": plan.n_train,
        "n_val": len(plan.task.labels) - plan.n_train,
        "seeds": [m.to_dict() for m in milestones],
    }


def fresh_milestones(plan: Plan, seeds: Sequence[int] | None = None) -> list[Milestones]:
    seeds = plan.config.seeds if seeds is None else seeds
    return [Milestones.for_run(s, plan.config.train) for s in seeds]


def replayed_milestones(plan: Plan, records: list[dict],
                        seeds: Sequence[int] | None = None) -> list[Milestones]:
    """Milestones of ``seeds`` after folding in ``records`` (a resumed run, a sweep cell)."""
    ms = fresh_milestones(plan, seeds)
    by_seed = {m.seed: m for m in ms}
    for r in records:
        if r["seed"] in by_seed:
            by_seed[r["seed"]].update(r)
    return ms


@dataclass
class Restart:
    """Where a resumed run starts again, and what that takes (``choose_restart``)."""

    step: int
    state: object | None  # None: start from step 0
    records: list[dict]  # the metrics records kept (every one up to ``step``)
    rejected: list[tuple[int, str]]  # damaged metrics lines (line number, text)

    def apply(self, run: RunDir) -> None:
        """Remove the checkpoints after ``step``, set damaged lines aside, and rewrite
        metrics.jsonl with the kept records (atomically)."""
        if run.checkpoints_path.exists():
            ckpts = Checkpoints(run.checkpoints_path)
            try:
                ckpts.delete_after(self.step)
            finally:
                ckpts.close()
        if self.rejected:
            run.set_aside_metrics_lines(self.rejected)
        run.write_metrics(self.records)


def choose_restart(run: RunDir, plan: Plan, abstract_state: Callable[[], object],
                   warn: Callable[[str], None] = warn) -> Restart:
    """The newest state checkpoint a resume can trust, newest first: its records up to its step
    must all be in metrics.jsonl (each seed, each evaluation, before any damaged line), and it
    must restore and match its checksum. Without one, the run starts again from step 0, which
    recomputes exactly what it had. Reads only; ``Restart.apply`` changes the directory."""
    check = MetricsCheck.read(run.metrics_path, plan.config.seeds)
    for number, _ in check.bad_lines[:3]:
        warn(f"{str(run.metrics_path)!r} line {number} is not a metrics record; it is kept in "
             f"{RunDir.REJECTED_NAME} and the records from there on are recomputed")
    if not run.checkpoints_path.exists():
        return Restart(0, None, [], check.bad_lines)
    ckpts = Checkpoints(run.checkpoints_path)
    try:
        steps, saved = ckpts.state_steps(), ckpts.param_steps()
        passed_over = []
        for step in reversed(steps):
            why = check.why_not_resumable_at(step)
            if why is None:
                try:
                    state, _ = ckpts.restore_state(step, abstract_state())
                    return Restart(step, state, check.kept(step), check.bad_lines)
                except Exception as e:  # noqa: BLE001 - any failure to restore: fall back
                    why = _restore_failure(ckpts, step, e, run)
            passed_over.append(step)
            warn(f"not resuming from the checkpoint at step {step} of {str(run.path)!r}: "
                 f"{why}; trying an older one")
        if passed_over or saved:
            warn(f"{str(run.path)!r} has no usable training state; starting again from step 0 "
                 "(the run is recomputed exactly)")
        return Restart(0, None, [], check.bad_lines)
    finally:
        ckpts.close()


def _restore_failure(ckpts: Checkpoints, step: int, error: Exception, run: RunDir) -> str:
    """Why ``state/<step>`` did not restore, in a few words; a checkpoint written by another
    version of groklab is an error (starting over would discard that run's checkpoints)."""
    if isinstance(error, DamagedCheckpoint):
        return str(error)
    version = ckpts.state_metadata(step).get("groklab_version")
    if version is not None and version != groklab.__version__:
        raise ConfigError(
            f"cannot resume {str(run.path)!r}: its training state at step {step} was written by "
            f"groklab {version} and does not restore in groklab {groklab.__version__}; start a "
            f"new run from its config instead ({type(error).__name__})") from None
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    first = text.split(". ")[0][:160]  # the first sentence: Orbax appends pages of detail
    return f"state/{step} cannot be read ({type(error).__name__}: {first})"


class RunWriter:
    """The run directory of one run, from creation (or resume) to its final summary."""

    def __init__(self, run: RunDir, plan: Plan, about: dict | None = None,
                 milestones: list[Milestones] | None = None, prior_wall: float = 0.0,
                 sinks: Sequence[MetricSink] = (), lock: int | None = None):
        """``lock``: the run directory's writer lock (``RunDir.lock``), released by ``close``."""
        self.run, self.plan, self.about = run, plan, dict(about or {})
        self.milestones = milestones if milestones is not None else fresh_milestones(plan)
        self.sinks: list[MetricSink] = [JsonlSink(run), *sinks]
        self.prior_wall = prior_wall
        self._t0 = time.perf_counter()
        # the engine's compile time so far (set by whoever runs the engine)
        self.compile_clock: Callable[[], float] = lambda: 0.0
        self._checkpoints: Checkpoints | None = None
        self._lock = lock
        self.writing = "the run directory"  # what is being written (for a disk-full error)
        self._sinks_closed = False
        self._last_step = 0

    def attach_configured_sinks(self, start_step: int, name: str | None = None) -> None:
        """The sinks the config's ``log`` section asks for (groklab.experiments.sinks), for the
        run ``name`` resumed at ``start_step`` (0: a new run)."""
        log, cfg = self.plan.config.log, self.plan.config
        if not log.sinks:
            return
        name = name or self.run.path.resolve().name
        ctx = SinkContext(self.run.path, cfg.to_dict(), tuple(cfg.seeds), name,
                          log.group or name, start_step, log.wandb_mode, log.wandb_project)
        self.sinks += make_sinks(log.sinks, ctx)

    # ----- opening -----

    @classmethod
    def create(cls, path: str | Path, plan: Plan, about: dict | None = None,
               sinks: Sequence[MetricSink] = (), name: str | None = None) -> RunWriter:
        """A new run directory with its config and split (refuses one that holds anything).
        The config's ``log.sinks`` are attached too, as the run ``name`` (default: the
        directory's name)."""
        run = RunDir(path)
        run.check_new()
        check_log_config(plan.config.log)  # a missing extra: one line, nothing written
        run.path.mkdir(parents=True, exist_ok=True)
        lock = run.lock()
        try:
            run.check_new()  # another process may have made its run here in the meantime
        except ConfigError:
            run.unlock(lock)
            raise
        run.write_config(plan.config)
        run.write_split(plan.config.seeds, plan.splits)
        writer = cls(run, plan, about, sinks=sinks, lock=lock)
        writer.attach_configured_sinks(0, name)
        return writer

    @classmethod
    def reopen(cls, path: str | Path, plan: Plan, abstract_state: Callable[[], object],
               about: dict | None = None, sinks: Sequence[MetricSink] = ()
               ) -> tuple[RunWriter, int, object | None]:
        """An existing run to continue: (writer, restart step, training state at that step, or
        None to start from step 0). ``abstract_state()`` gives the shape of the state.

        The restart step is the newest checkpoint that restores, matches its checksum and has
        every record up to it in metrics.jsonl (``choose_restart``); each one passed over is a
        one-line warning. Checkpoints and records after it are removed: the resumed run writes
        them again, exactly. Damaged metrics lines are kept aside in metrics.rejected.txt."""
        run = RunDir(path)
        run.check_resume(plan.config)
        check_log_config(plan.config.log)
        lock = run.lock()  # before anything is read for resuming: the run may still be going
        try:
            restart = choose_restart(run, plan, abstract_state)
        except BaseException:
            run.unlock(lock)
            raise
        if not run.split_path.exists():  # killed between config.yaml and split.npz
            run.write_split(plan.config.seeds, plan.splits)
        restart.apply(run)
        milestones = replayed_milestones(plan, restart.records)
        prior = float(run.read_summary().get("wall_time_s") or 0.0) \
            if run.summary_path.exists() else 0.0
        run.write_config(plan.config)  # a resumed run may have a new budget
        writer = cls(run, plan, about, milestones, prior, sinks, lock=lock)
        writer.attach_configured_sinks(restart.step)
        return writer, restart.step, restart.state

    @property
    def checkpoints(self) -> Checkpoints:
        if self._checkpoints is None:
            self._checkpoints = Checkpoints(self.run.checkpoints_path)
        return self._checkpoints

    # ----- during the run -----

    def wall(self) -> float:
        """Wall time of the run so far, across resumes."""
        return self.prior_wall + time.perf_counter() - self._t0

    def on_eval(self, records: list[dict]) -> None:
        self.writing = f"the metrics of step {records[0]['step']}" if records else "metrics"
        self._last_step = records[0]["step"] if records else self._last_step
        for sink in self.sinks:
            sink.write(records)

    def checkpoint_metadata(self, step: int) -> dict:
        plan = self.plan
        return {"config": plan.config.to_dict(), "step": step, "epoch": plan.epoch_at(step),
                "seeds": list(plan.config.seeds), "groklab_version": groklab.__version__}

    def checkpoint(self, step: int, state, final: bool) -> None:
        """Save the state (and parameters) at ``step``; mid-run, also a summary that says
        ``interrupted``, so a kill from here on leaves a readable, resumable run."""
        self.writing = f"checkpoint {step}"
        self.checkpoints.save(step, state.params, state, self.checkpoint_metadata(step))
        self.writing = f"the summary at step {step}"
        if not final:
            self.write_summary(step, "interrupted")

    def summary(self, step: int, status: str, steps_per_s: float | None = None) -> dict:
        return run_summary(self.plan, step, self.milestones, status, self.wall(),
                           self.compile_clock(), steps_per_s) | self.about

    def write_summary(self, step: int, status: str, steps_per_s: float | None = None) -> dict:
        summary = self.summary(step, status, steps_per_s)
        self.run.write_summary(summary)
        return summary

    # ----- the end -----

    def finish(self, step: int, status: str, steps_per_s: float | None = None,
               figures: bool = True, pdf: bool = False, extra_figures=None) -> dict:
        """The final summary.json and the training-curve figures (and ``extra_figures(run,
        records, summary, pdf)``, a run kind's own); returns the summary. Closes the writer."""
        self.writing = "the final summary and figures"
        summary = self.write_summary(step, status, steps_per_s)
        self._close_sinks(summary)
        if figures:
            records = self.run.read_metrics()
            self.plot_curves(summary, records, pdf)
            if extra_figures is not None:
                extra_figures(self.run, records, summary, pdf)
        self.close()
        return summary

    def plot_curves(self, summary: dict, records: list[dict], pdf: bool = False) -> None:
        plan = self.plan
        title = f"{plan.task.name} mod {plan.task.p} — {len(plan.config.seeds)} seed(s)"
        for name, log_x in (("curves.png", False), ("curves_logx.png", True)):
            plot_training_curves(records, summary["seeds"], self.run.figures_path / name,
                                 log_x=log_x, pdf=pdf, title=title)

    def _close_sinks(self, summary: dict) -> None:
        if not self._sinks_closed:
            self._sinks_closed = True
            for sink in self.sinks:
                sink.close(summary)

    def close(self) -> None:
        """Close the sinks (if the run ended without ``finish``, with a summary that says
        ``interrupted`` at the last step logged), the checkpoints, and let another writer in."""
        if not self._sinks_closed:
            try:
                self._close_sinks(self.summary(self._last_step, "interrupted"))
            except Exception:  # noqa: BLE001 - already failing: the first error is the one to see
                pass
        if self._checkpoints is not None:
            self._checkpoints.close()
            self._checkpoints = None
        self.run.unlock(self._lock)
        self._lock = None
