"""A teacher: a checkpoint of a groklab run directory, chosen per seed (``runs.source``:
``RUN_DIR[@STEP|@step=N|@epoch=E|@val_acc=X]``), and the teacher's recorded split, which its
students reuse (never regenerated; seeds/README.md lists the split bug this avoids)."""

from __future__ import annotations

from dataclasses import dataclass

from groklab.config import RunConfig
from groklab.runs.rundir import RunDir
from groklab.runs.source import Loaded, RunRef, load_checkpoints, read_run
from groklab.tasks import Split


class TeacherRef:
    """``RunRef`` of a teacher (errors say "teacher")."""

    @staticmethod
    def parse(text: str) -> RunRef:
        return RunRef.parse(text, "teacher")


def read_teacher_run(ref: RunRef) -> tuple[RunDir, RunConfig, list[int]]:
    return read_run(ref)


@dataclass(frozen=True)
class Teacher:
    """A loaded teacher: the chosen checkpoints' parameters per student seed (stacked on a
    leading seed axis in student-seed order) and the teacher's split of every student seed."""

    loaded: Loaded
    splits: tuple[Split, ...]

    @property
    def params(self):
        return self.loaded.params

    @property
    def graphdef(self):
        return self.loaded.graphdef

    @property
    def plan(self):
        return self.loaded.plan

    @property
    def steps(self) -> tuple[int, ...]:
        return self.loaded.steps

    @property
    def val_acc(self) -> tuple[float | None, ...]:
        return self.loaded.val_acc

    def describe(self) -> dict:
        d = self.loaded.describe()
        del d["source_seeds"]  # always the student's own seeds
        return d


def load_teacher(ref: RunRef, seeds: tuple[int, ...]) -> Teacher:
    loaded = load_checkpoints(ref, seeds)
    return Teacher(loaded, recorded_splits(loaded.run, seeds))


def recorded_splits(run: RunDir, seeds) -> tuple[Split, ...]:
    """A run's recorded splits of ``seeds`` (from its split.npz)."""
    z = run.load_split()
    index = {int(s): i for i, s in enumerate(z["seeds"])}
    out = []
    for seed in seeds:
        i = index[seed]
        out.append(Split(train_idx=z["train_idx"][i], val_idx=z["val_idx"][i],
                         train_labels=z["train_labels"][i],
                         noisy_positions=z["noisy_positions"][i], seed=seed,
                         train_fraction=float(z["train_fraction"]),
                         label_noise=float(z["label_noise"])))
    return tuple(out)
