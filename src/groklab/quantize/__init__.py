"""Post-training weight quantization of a run's checkpoints and how much accuracy survives it
(``groklab quantize``; docs/quantization.md)."""

from groklab.quantize.schemes import Scheme, parse_bits, parse_schemes
from groklab.quantize.study import quantize_run

__all__ = ["Scheme", "parse_bits", "parse_schemes", "quantize_run"]
