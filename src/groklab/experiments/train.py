"""``train_run``: a config in, a complete run directory out (or a resumed one continued).

Order matters for "nothing half-written" (docs/architecture.md §5): the run's kind prepares
everything (task, splits, model, a teacher or source checkpoint) and validates it before the
directory is created; from then on the ``RunWriter`` writes every file atomically
(metrics.jsonl is append-only) and a checkpoint + summary land at log-spaced, periodic and final
steps, so a kill at any moment leaves a readable run that ``--resume`` continues exactly.
"""

from __future__ import annotations

import errno
import signal
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from pathlib import Path

import jax

from groklab.config import RunConfig
from groklab.engine.loop import Engine, Hooks, Progress
from groklab.errors import ConfigError
from groklab.experiments.kinds import kind_of
from groklab.experiments.writer import MetricSink, RunWriter
from groklab.runs.rundir import RunDir


def train_run(cfg: RunConfig, out: str | Path, resume: bool = False,
              on_progress: Callable[[Progress], None] | None = None,
              figures: bool = True, pdf: bool = False,
              checkpoint_now: Callable[[list[dict]], bool] | None = None,
              after_checkpoint: Callable[[int, object, bool], None] | None = None,
              sinks: Sequence[MetricSink] = ()) -> dict:
    """Train every seed of ``cfg`` into run directory ``out``; returns the summary dict.

    ``checkpoint_now(records)`` (asked after every evaluation, once its metrics are written) adds
    checkpoints beyond the usual ones; ``after_checkpoint(step, state, final)`` runs once a
    checkpoint is on disk. Batched sweeps use both to split a group run into its cells.
    ``sinks`` get every evaluation's records besides metrics.jsonl."""
    kind = kind_of(cfg)
    setup = kind.prepare(cfg)  # validates everything before any file is written
    run = RunDir(out)
    if resume:
        run.check_resume(setup.plan.config)
    else:
        run.check_new()
    engine = Engine.from_setup(setup)  # compiles the initialization: after the cheap checks
    if resume:
        writer, start, state = RunWriter.reopen(
            out, setup.plan, lambda: jax.eval_shape(engine.initial_state), setup.about, sinks)
    else:
        writer, start, state = RunWriter.create(out, setup.plan, setup.about, sinks), 0, None
    writer.compile_clock = lambda: engine.compile_time_s

    def on_checkpoint(step, st, final):
        writer.checkpoint(step, st, final)
        if after_checkpoint:
            after_checkpoint(step, st, final)

    hooks = Hooks(on_eval=writer.on_eval, on_progress=on_progress,
                  on_checkpoint=on_checkpoint, checkpoint_now=checkpoint_now)
    try:
        with no_space_is_an_error(out, lambda: writer.writing), graceful_interrupt() as stop:
            hooks.should_stop = stop
            result = engine.run(state, start, writer.milestones, hooks)
            if stop.signal is not None:
                writer.about["interrupted_by"] = signal.Signals(stop.signal).name
            return writer.finish(result.step, result.status, result.steps_per_s, figures, pdf,
                                 kind.figures)
    finally:
        writer.close()  # whatever happened, the directory is free for the next writer


def _no_space(error: BaseException) -> bool:
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
        return True
    # Orbax and TensorStore report a full disk in their own exception types
    return "No space left on device" in str(error)


@contextmanager
def no_space_is_an_error(out: str | Path, writing: Callable[[], str]):
    """A full disk while writing the run (metrics, a checkpoint, the summary) is one line, not
    a traceback: the run stays resumable from its last good checkpoint (a half-written one is a
    temporary directory Orbax discards, a cut-off metrics line is dropped on resume)."""
    try:
        yield
    except Exception as e:
        if _no_space(e):
            raise ConfigError(f"no space left on the device of {str(out)!r} while writing "
                              f"{writing()}; free space and run the same command with --resume"
                              ) from None
        raise


def exit_code(summary: dict) -> int:
    """0, or 128 + the signal's number for a run stopped by SIGINT (130) or SIGTERM (143), as
    shells and schedulers expect of an interrupted program (the run itself is resumable)."""
    name = summary.get("interrupted_by")
    return 128 + int(signal.Signals[name]) if name in signal.Signals.__members__ else 0


class _Stop:
    """Asked by the engine after each chunk: has SIGINT or SIGTERM come (``signal`` says which)?"""

    def __init__(self):
        self.signal: int | None = None

    def __call__(self) -> bool:
        return self.signal is not None


@contextmanager
def graceful_interrupt():
    """Ctrl-C / SIGTERM finish the current chunk, checkpoint, and end as "interrupted" (the
    summary's ``interrupted_by`` names the signal; the CLI exits with 128 + its number)."""
    stop = _Stop()

    def handler(signum, frame):
        stop.signal = signum

    previous = {}
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, handler)
    except ValueError:  # not the main thread: no signal handling
        pass
    try:
        yield stop
    finally:
        for sig, h in previous.items():
            signal.signal(sig, h)
