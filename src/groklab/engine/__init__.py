"""The one training engine: a compiled multi-seed program and its host loop."""

from groklab.engine.loop import Engine, Hooks, Progress, Result
from groklab.engine.milestones import Milestones
from groklab.engine.program import Program, TrainState
from groklab.engine.setup import EngineSetup, Plan, plan_run

__all__ = ["Engine", "EngineSetup", "Hooks", "Milestones", "Plan", "Program", "Progress",
           "Result", "TrainState", "plan_run"]
