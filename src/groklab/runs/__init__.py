"""Run directories: their files, Orbax checkpoints, and the checkpoints of other runs that
distillation, transfer and analysis start from. Only persistence: what trains a run lives in
``groklab.experiments``.

``Checkpoints`` and ``RunDir`` are imported on first use (PEP 562): the JAX-free submodules
(``runs.paths``, ``runs.files``, ``runs.metrics``) check a command's paths without starting JAX
or Orbax (docs/performance.md "Start-up").
"""

from __future__ import annotations

from groklab.lazy import lazy_names

# name -> the submodule that defines it, imported on first access
_LAZY = {"Checkpoints": "groklab.runs.checkpoints", "RunDir": "groklab.runs.rundir"}

__all__ = ["Checkpoints", "RunDir"]


__getattr__, __dir__ = lazy_names(__name__, _LAZY)
