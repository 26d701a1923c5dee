"""Figures (Matplotlib, headless)."""

from groklab.viz.curves import plot_training_curves

__all__ = ["plot_training_curves"]
