"""The one training engine: a compiled multi-seed program and its host loop.

The names below are imported on first use (PEP 562), so importing a JAX-free module of the
engine (``engine.setup``'s ``plan_run``, ``engine.milestones``, ``engine.stopping``) does not
import the compiled program's modules and JAX (docs/performance.md "Start-up").
"""

from __future__ import annotations

from groklab.lazy import lazy_names

# name -> the submodule that defines it, imported on first access
_LAZY = {"Engine": "groklab.engine.loop", "Hooks": "groklab.engine.loop",
         "Progress": "groklab.engine.loop", "Result": "groklab.engine.loop",
         "Milestones": "groklab.engine.milestones", "Program": "groklab.engine.program",
         "TrainState": "groklab.engine.program", "EngineSetup": "groklab.engine.setup",
         "Plan": "groklab.engine.setup", "plan_run": "groklab.engine.setup"}

__all__ = ["Engine", "EngineSetup", "Hooks", "Milestones", "Plan", "Program", "Progress",
           "Result", "TrainState", "plan_run"]


__getattr__, __dir__ = lazy_names(__name__, _LAZY)
