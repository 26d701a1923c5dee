"""Run directories: files, Orbax checkpoints and ``train_run``."""

from groklab.runs.checkpoints import Checkpoints
from groklab.runs.rundir import RunDir
from groklab.runs.train import train_run

__all__ = ["Checkpoints", "RunDir", "train_run"]
