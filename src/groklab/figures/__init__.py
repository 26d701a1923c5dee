"""Figures (Matplotlib, headless), each written atomically as PNG (+ PDF on request): one run's
training curves (``training``), conditions side by side (``conditions``: curves with confidence
bands, steps to a threshold, Kaplan–Meier curves, phase diagrams) and an analysis's figures
(``analysis``)."""

from groklab.figures.save import save_figure
from groklab.figures.training import plot_student_vs_teacher, plot_training_curves

__all__ = ["plot_student_vs_teacher", "plot_training_curves", "save_figure"]
