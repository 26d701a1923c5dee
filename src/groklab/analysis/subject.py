"""What an analysis looks at: a run's models at a chosen checkpoint (per seed), and the rows of
its recorded split.

Any run directory groklab writes (train, distill, transfer, a sweep's cell) has the same
contract: ``config.yaml``, ``split.npz`` and Orbax parameter checkpoints. Rows are those of the
recorded split (``split.npz``), never regenerated: validation rows for every measure of
representations and attention (docs/architecture.md §4 — the seeds' script used training rows by
mistake), training rows (with their recorded, possibly noisy, labels) for gradients.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from groklab.errors import ConfigError
from groklab.runs.source import (
    Loaded,
    RunRef,
    load_checkpoints,
    read_run,
    recorded_split,
    split_rows,
)


@dataclass(frozen=True)
class Subject:
    """A run's parameters at one checkpoint per seed (``loaded.params`` has a leading seed axis)
    with its task and recorded split."""

    loaded: Loaded
    split: dict  # split.npz arrays, rows in the order of ``loaded.seeds``

    @property
    def plan(self):
        return self.loaded.plan

    @property
    def task(self):
        return self.loaded.plan.task

    @property
    def seeds(self) -> tuple[int, ...]:
        return self.loaded.seeds

    @property
    def label(self) -> str:
        return self.loaded.run.path.resolve().name

    def rows(self, which: str) -> tuple[np.ndarray, np.ndarray]:
        """(tokens [S, N, T], labels [S, N]) of each seed's ``val`` or ``train`` rows; training
        labels are the recorded ones (after label noise), validation labels the true ones."""
        return split_rows(self.loaded, self.split, which)


def parse_ref(run_dir: str, checkpoint: str | None = None, role: str = "run") -> RunRef:
    """``RUN_DIR[@SEL]`` with an optional separate selector (``latest``, ``STEP``, ``step=N``,
    ``epoch=E``, ``val_acc=X``)."""
    if checkpoint in (None, "", "latest"):
        return RunRef.parse(run_dir, role)
    if "@" in run_dir:
        raise ConfigError(f"give the checkpoint once: {run_dir!r} already names one, and "
                          f"--checkpoint {checkpoint!r} another")
    return RunRef.parse(f"{run_dir}@{checkpoint}", role)


def load_subject(ref: RunRef, seeds: tuple[int, ...] | None = None) -> Subject:
    """The run's chosen checkpoint for ``seeds`` (default: all of its seeds) and its split."""
    run, cfg, _ = read_run(ref)
    seeds = tuple(cfg.seeds) if seeds is None else tuple(seeds)
    if not run.split_path.exists():  # refused before any checkpoint is read
        raise ConfigError(f"{ref.role} {str(ref.path)!r} has no split.npz; it is not a complete "
                          "groklab run directory")
    loaded = load_checkpoints(ref, seeds)
    return Subject(loaded, recorded_split(loaded))
