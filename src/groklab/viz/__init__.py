"""Figures (Matplotlib, headless)."""

from groklab.viz.curves import plot_training_curves
from groklab.viz.distill import plot_student_vs_teacher

__all__ = ["plot_student_vs_teacher", "plot_training_curves"]
