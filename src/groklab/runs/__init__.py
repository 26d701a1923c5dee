"""Run directories: their files, Orbax checkpoints, and the checkpoints of other runs that
distillation, transfer and analysis start from. Only persistence: what trains a run lives in
``groklab.experiments``.

``Checkpoints`` and ``RunDir`` are imported on first use (PEP 562): the JAX-free submodules
(``runs.paths``, ``runs.files``, ``runs.metrics``) check a command's paths without starting JAX
or Orbax (docs/performance.md "Start-up").
"""

from __future__ import annotations

# name -> the submodule that defines it, imported on first access
_LAZY = {"Checkpoints": "groklab.runs.checkpoints", "RunDir": "groklab.runs.rundir"}

__all__ = ["Checkpoints", "RunDir"]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'groklab.runs' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
