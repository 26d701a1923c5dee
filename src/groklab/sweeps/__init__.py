"""Sweeps: a spec file of axes over config keys, expanded into cells, each cell one multi-seed
run directory; a results table gathered from the cells (docs/sweeps.md)."""

from groklab.sweeps.spec import Cell, SweepSpec, load_spec

__all__ = ["Cell", "SweepSpec", "load_spec"]
