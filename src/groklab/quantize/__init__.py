"""Post-training weight quantization of a run's checkpoints and how much accuracy survives it
(``groklab quantize``; docs/quantization.md).

Names are imported on first use (PEP 562): ``groklab.quantize.schemes`` parses and checks the
command's flags without starting JAX (docs/performance.md "Start-up")."""

from __future__ import annotations

from groklab.lazy import lazy_names

# name -> the submodule that defines it, imported on first access
_LAZY = {"Scheme": "groklab.quantize.schemes", "parse_bits": "groklab.quantize.schemes",
         "parse_schemes": "groklab.quantize.schemes",
         "quantize_run": "groklab.quantize.study"}

__all__ = sorted(_LAZY)


__getattr__, __dir__ = lazy_names(__name__, _LAZY)
