"""The one training engine: a compiled multi-seed program and its host loop."""

from groklab.engine.loop import Engine, Hooks, Progress, Result
from groklab.engine.milestones import Milestones
from groklab.engine.program import Program, TrainState, supervised_objective
from groklab.engine.setup import Plan, plan_run

__all__ = ["Engine", "Hooks", "Milestones", "Plan", "Program", "Progress", "Result",
           "TrainState", "plan_run", "supervised_objective"]
