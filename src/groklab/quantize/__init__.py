"""Post-training weight quantization of a run's checkpoints and how much accuracy survives it
(``groklab quantize``; docs/quantization.md).

Names are imported on first use (PEP 562): ``groklab.quantize.schemes`` parses and checks the
command's flags without starting JAX (docs/performance.md "Start-up")."""

from __future__ import annotations

# name -> the submodule that defines it, imported on first access
_LAZY = {"Scheme": "groklab.quantize.schemes", "parse_bits": "groklab.quantize.schemes",
         "parse_schemes": "groklab.quantize.schemes",
         "quantize_run": "groklab.quantize.study"}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'groklab.quantize' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
