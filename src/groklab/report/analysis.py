"""The ``groklab analyze`` results of a run as report blocks (``RUN/analysis/``): the table of
CKA / effective rank / attention entropy per layer, the Fourier summary and the figures."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from groklab.errors import short
from groklab.report.document import Block, Figure, Heading, Table, Text
from groklab.runs.rundir import blame, damaged, read_json_file, read_text

CAPTIONS = {
    "attention": "Mean attention pattern over validation rows per layer and head, with its "
                 "entropy in bits.",
    "inputs": "Attention patterns of the chosen inputs.",
    "cka_within": "Linear CKA between the run's hook points (mean over seeds).",
    "fourier": "Power share per Fourier frequency of the embedding, the MLP neurons and the "
               "logits; dashed: the key-frequency threshold.",
    "attribution": "Integrated gradients of the correct logit: share of |attribution| per "
                   "input position.",
    "evolution": "Weight and gradient norms per layer across checkpoints.",
    "progress": "Train and validation loss, restricted and excluded loss and the sum of "
                "squared weights across checkpoints; shaded: memorization, circuit formation, "
                "clean-up.",
}

COMPARE_CAPTION = ("Linear CKA between the analysed run (rows) and a compared run (columns), "
                   "mean over seeds.")


def analysis_blocks(d: Path) -> list[Block]:
    a = d / "analysis"
    if not (a / "about.json").exists():
        return []
    with blame(a / "about.json"):
        return _analysis_blocks(a, read_json_file(a / "about.json"))


def _analysis_blocks(a: Path, about: dict) -> list[Block]:
    ck = about["checkpoint"]
    epochs = ", ".join(f"{e:g}" for e in ck["epochs"])
    blocks: list[Block] = [Heading("Analysis"), Text(
        f"groklab analyze at checkpoint {ck.get('selector') or 'latest'} (epochs {epochs} per "
        f"seed), on the {about['rows']['n_val']} validation rows of each seed's recorded "
        "split. Cells: mean ± std over seeds; CKA is linear CKA with the analysed run's "
        "matching layer; entropy rank exp(H(σ/Σσ)) and participation ratio (Σσ)²/Σσ² of the "
        "residual stream after each block at the answer position; attention entropy in bits.")]
    with blame(a / "table.csv"):
        rows = list(csv.reader(io.StringIO(read_text(a / "table.csv"), newline="")))
        blocks.append(Table(rows[0], rows[1:]))
    fourier = a / "fourier.json"
    if fourier.exists():
        with blame(fourier):
            blocks.append(Text(_fourier_text(read_json_file(fourier))))
    for name, rel in about.get("figures", {}).items():
        if not (a / rel).resolve().is_relative_to(a.resolve()):
            raise damaged(a / "about.json", f"figure {short(rel)} lies outside {short(str(a))}")
        blocks.append(Figure(a / rel, CAPTIONS.get(name, COMPARE_CAPTION)))
    return blocks


def _fourier_text(f: dict) -> str:
    parts = []
    for seed, r in f["seeds"].items():
        text = f"seed {seed}: key frequencies {r.get('key_frequencies') or 'none'}"
        if "embedding" in r:
            text += f" ({100 * r['embedding']['key_share']:.0f} % of the embedding's power)"
        if "progress" in r:
            pr = r["progress"]
            text += (f", restricted loss {pr['restricted_loss']:.3g}, excluded loss "
                     f"{pr['excluded_loss']:.3g}")
        parts.append(text)
    return (f"Fourier analysis (p = {f['p']}, key frequency: ≥ {f['kappa']:g} × the uniform "
            "share of the power): " + "; ".join(parts) + ".")
