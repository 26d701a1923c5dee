"""Reports of sweeps: the main results table with statistics between conditions (issue 6)."""

from groklab.report.tables import condition_table, pairwise_tests

__all__ = ["condition_table", "pairwise_tests"]
