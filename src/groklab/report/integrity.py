"""The "Data integrity" section of a report: what is wrong with the metrics.jsonl of the runs
it covers (damaged lines skipped, a cut-off last line, duplicated records, steps out of order,
steps missing a seed), from ``groklab.runs.metrics.MetricsCheck``. Absent when all is sound."""

from __future__ import annotations

from pathlib import Path

from groklab.report.document import Block, Heading, Text
from groklab.runs.metrics import MetricsCheck


def integrity_blocks(runs: dict[str, Path], seeds: dict[str, list[int]]) -> list[Block]:
    """``runs``: label → run directory; ``seeds``: label → the seeds that run trained."""
    found = []
    for label, d in runs.items():
        problems = MetricsCheck.read(Path(d) / "metrics.jsonl", seeds[label]).problems()
        found += [f"{label}: {p}." for p in problems]
    if not found:
        return []
    return [Heading("Data integrity"),
            Text("metrics.jsonl is not as groklab writes it; the tables and figures use the "
                 "records that parse, each as found. `groklab train --resume` on the run "
                 "recomputes what is missing. " + " ".join(found))]
