"""A teacher: a checkpoint of a groklab run directory, chosen per seed (``runs.source``:
``RUN_DIR[@STEP|@step=N|@epoch=E|@val_acc=X]``), and the teacher's recorded split, which its
students reuse, never regenerate (a regenerated split can put the teacher's training rows in the
student's validation set)."""

from __future__ import annotations

from dataclasses import dataclass

from groklab.runs.rundir import RunDir
from groklab.runs.source import Loaded, RunRef, load_checkpoints
from groklab.tasks import Split


def teacher_ref(text: str) -> RunRef:
    """``RUN_DIR[@selector]`` of a teacher (errors say "teacher")."""
    return RunRef.parse(text, "teacher")


@dataclass(frozen=True)
class Teacher:
    """A loaded teacher: ``loaded``, the chosen checkpoints' parameters per student seed
    (stacked on a leading seed axis in student-seed order), and the teacher's split of every
    student seed."""

    loaded: Loaded
    splits: tuple[Split, ...]

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
