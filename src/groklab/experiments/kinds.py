"""The kinds of run the one engine trains, and how each prepares it.

A kind says when a config is of that kind and turns it into an ``EngineSetup`` (the plan, the
objective, the initial parameters, the trainable mask, the per-seed objective inputs and the
extra summary fields), plus any figures of its own. Plain training, distillation
(``distill.teacher`` set) and transfer (``transfer.source`` set) are registered here; a new
kind is one more entry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from groklab.config import RunConfig
from groklab.distill.setup import engine_setup as distill_setup
from groklab.engine.setup import EngineSetup, plan_run
from groklab.figures import plot_student_vs_teacher
from groklab.runs.rundir import RunDir
from groklab.transfer.setup import engine_setup as transfer_setup


@dataclass(frozen=True)
class RunKind:
    name: str
    applies: Callable[[RunConfig], bool]
    prepare: Callable[[RunConfig], EngineSetup]
    # extra figures: (run directory, its records, its summary, pdf) -> None
    figures: Callable[[RunDir, list[dict], dict, bool], None] | None = None


def _plain(cfg: RunConfig) -> EngineSetup:
    return EngineSetup(plan_run(cfg))


def _student_vs_teacher(run: RunDir, records: list[dict], summary: dict, pdf: bool) -> None:
    teacher = summary["teacher"]
    plot_student_vs_teacher(records, RunDir(teacher["run"]).read_metrics(), teacher,
                            Path(run.figures_path) / "student_vs_teacher.png", pdf=pdf)


RUN_KINDS = (
    RunKind("transfer", lambda cfg: cfg.transfer.source is not None, transfer_setup),
    RunKind("distill", lambda cfg: cfg.distill.teacher is not None, distill_setup,
            _student_vs_teacher),
    RunKind("train", lambda cfg: True, _plain),
)


def kind_of(cfg: RunConfig) -> RunKind:
    return next(k for k in RUN_KINDS if k.applies(cfg))
