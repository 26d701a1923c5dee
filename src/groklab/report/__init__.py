"""Reports of sweeps and runs (docs/sweeps.md): the results tables with statistics between
conditions, figures (curves with a band over seeds, strip + box plots, Kaplan–Meier curves, phase
diagrams), report.md and a self-contained report.html.

The names are imported on first use (PEP 562): ``groklab report`` checks its directory before
SciPy and Matplotlib are imported (docs/performance.md "Start-up")."""

from __future__ import annotations

from groklab.lazy import lazy_names

# name -> the submodule that defines it, imported on first access
_LAZY = {"condition_table": "groklab.report.tables", "pairwise_tests": "groklab.report.tables",
         "write_report": "groklab.report.write"}

__all__ = ["condition_table", "pairwise_tests", "write_report"]


__getattr__, __dir__ = lazy_names(__name__, _LAZY)
