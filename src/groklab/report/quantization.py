"""The ``groklab quantize`` results of a run as report blocks (``RUN/quantization/``): how much
accuracy survives post-training weight quantization, over seeds, and over training."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from groklab.errors import short
from groklab.report.document import Block, Figure, Heading, Table, Text
from groklab.runs.rundir import blame, damaged, read_json_file, read_text

CAPTION = ("Train (top) and validation (bottom) accuracy against the step, before (dashed) and "
           "after (solid) weight quantization; thin lines are seeds, thick their mean.")


def quantization_blocks(d: Path) -> list[Block]:
    q = d / "quantization"
    if not (q / "quantization.json").exists():
        return []
    with blame(q / "quantization.json"):
        result = read_json_file(q / "quantization.json")
        about, last = result["about"], result["checkpoints"][-1]
        where = (f"checkpoint {about['selector']}" if about.get("selector") else
                 "every saved checkpoint (the table: the last)" if about["all_checkpoints"]
                 else "the latest checkpoint")
        blocks: list[Block] = [Heading("Weight quantization"), Text(
            f"groklab quantize ({about['method']}: symmetric round-to-nearest, qwix "
            f"{about['qwix_version']}) at {where} (steps "
            f"{', '.join(map(str, last['steps']))}): {about['n_quantized']:,} of "
            f"{about['n_params']:,} parameters quantized "
            f"({'with' if about['embeddings'] else 'without'} the embeddings), evaluated on "
            f"each seed's {about['rows']['train']:,} train and {about['rows']['val']:,} "
            "validation rows. Cells: mean ± std over seeds; Δ is the change from float32; "
            f"grokked: val accuracy ≥ {about['grokked_threshold']:g}.")]
    with blame(q / "summary.csv"):
        rows = list(csv.reader(io.StringIO(read_text(q / "summary.csv"), newline="")))
        blocks.append(Table(rows[0], rows[1:]))
    for rel in about.get("figures", {}).values():
        if not (q / rel).resolve().is_relative_to(q.resolve()):
            raise damaged(q / "quantization.json", f"figure {short(rel)} lies outside "
                          f"{short(str(q))}")
        blocks.append(Figure(q / rel, CAPTION))
    return blocks
