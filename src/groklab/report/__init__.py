"""Reports of sweeps and runs (docs/sweeps.md): the results tables with statistics between
conditions, figures (curves with a band over seeds, strip + box plots, Kaplan–Meier curves, phase
diagrams), report.md and a self-contained report.html."""

from groklab.report.tables import condition_table, pairwise_tests
from groklab.report.write import write_report

__all__ = ["condition_table", "pairwise_tests", "write_report"]
