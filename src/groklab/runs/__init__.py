"""Run directories: their files, Orbax checkpoints, and the checkpoints of other runs that
distillation, transfer and analysis start from. Only persistence: what trains a run lives in
``groklab.experiments``."""

from groklab.runs.checkpoints import Checkpoints
from groklab.runs.rundir import RunDir

__all__ = ["Checkpoints", "RunDir"]
