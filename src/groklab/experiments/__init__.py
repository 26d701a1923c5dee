"""Experiments composed on the one engine: ``train_run`` trains any kind of run (plain,
distillation, transfer; ``kinds``) into a run directory through a ``RunWriter``, and
``baseline_comparison`` sets a run beside its from-scratch baseline. Sweeps build on this."""

from groklab.experiments.train import train_run
from groklab.experiments.writer import MetricSink, RunWriter

__all__ = ["MetricSink", "RunWriter", "train_run"]
