"""The seeds' mechanistic table (the seeds' distillation study: CKA, effective rank, attention
entropy, weight
statistics) for the analysed run and every ``--compare`` run: one row per model, per layer
the linear CKA with the analysed run's matching layer, the entropy rank and participation
ratio of the residual stream after the block (at the answer position), and the attention
entropy in bits (mean over heads and counted queries); then L1/L2 of all weights and the
validation accuracy on the same rows. Cells are mean ± std over seeds.
Written as table.md, table.csv and table.tex (booktabs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from groklab.report.tables import csv_text, latex_grid, markdown_grid
from groklab.runs.files import write_atomic


def _cell(values) -> str:
    v = np.asarray([x for x in values if x is not None], float)
    if not len(v):
        return "—"
    return f"{v.mean():.3f}" if len(v) == 1 else f"{v.mean():.3f} ± {v.std(ddof=1):.3f}"


def layer_hooks(hooks: list[str]) -> list[str]:
    """The hooks that stand for layers: residual stream after each block (or, for a model
    without blocks, every representation)."""
    post = [h for h in hooks if h.endswith("hook_resid_post")]
    return post or list(hooks)


def _attn_mean(entropy: dict, hook_prefix: str):
    for h, e in entropy.items():
        if h.startswith(hook_prefix):
            heads = [x for x in e["per_head"] if x is not None]
            return float(np.mean(heads)) if heads else None
    return None


def _row(label, seeds, reps, attention, weights, acc, cka=None, hooks=()) -> dict:
    row = {"model": label, "seeds": len(seeds), "val acc": _cell(acc)}
    for h in hooks:
        layer = h.rsplit(".", 1)[0] if h.startswith("blocks.") else h
        if cka is not None:
            row[f"CKA {layer}"] = _cell(cka.get(h, []))
        row[f"entropy rank {layer}"] = _cell([r["ranks"][h]["entropy_rank"] for r in reps
                                              if h in r["ranks"]])
        row[f"participation ratio {layer}"] = _cell(
            [r["ranks"][h]["participation_ratio"] for r in reps if h in r["ranks"]])
        if h.startswith("blocks."):
            row[f"attention entropy {layer} (bits)"] = _cell(
                [_attn_mean(a, layer + ".") for a in attention])
    row["L1/L2 (all weights)"] = _cell([w["stats"]["total"]["l1_over_l2"] for w in weights])
    return row


def table_rows(files: dict, label: str) -> list[dict]:
    rep = files["representations"]
    seeds = list(rep["seeds"])
    hooks = layer_hooks(rep["hooks"])
    reps = [rep["seeds"][s] for s in seeds]
    attn = [files["attention"]["seeds"][s]["entropy"] for s in seeds]
    wts = [files["weights"]["seeds"][s] for s in seeds]
    has_cka = bool(files.get("compare"))
    rows = [_row(label, seeds, reps, attn, wts, [r["acc"] for r in reps],
                 {} if has_cka else None, hooks)]  # its CKA with itself: "—"
    for c in (files.get("compare") or {}).get("runs", []):
        cs = [str(s) for s in c["seeds"]]
        res = [c["seeds_results"][s] for s in cs]
        # CKA per analysed-run layer hook, through the matched pairs
        cka = {a: [r["matched"][f"{a}|{b}"] for r in res] for a, b in c["pairs"]}
        to_b = dict(map(tuple, c["pairs"]))
        rows.append(_row(
            c["label"], cs, [{"ranks": {h: r["ranks"][to_b[h]] for h in hooks if h in to_b}}
                             for r in res],
            [_map_attention(r["attention"], to_b) for r in res],
            [c["weights"][s] for s in cs], [r["acc"] for r in res], cka, hooks))
    return rows


def _map_attention(attention: dict, to_b: dict) -> dict:
    """The compared model's attention entropies keyed by the analysed run's layer names."""
    layer_of_b = {b.rsplit(".", 1)[0]: a.rsplit(".", 1)[0] for a, b in to_b.items()}
    out = {}
    for h, e in attention.items():
        layer_b = ".".join(h.split(".")[:2])
        if layer_b in layer_of_b:
            out[h.replace(layer_b, layer_of_b[layer_b], 1)] = e
    return out


def write_table(out: Path, subject, files: dict) -> list[dict]:
    rows = table_rows(files, subject.label)
    header = list(rows[0])
    grid = [[str(r.get(k, "—")) for k in header] for r in rows]
    write_atomic(out / "table.md", markdown_grid(header, grid) + "\n")
    write_atomic(out / "table.tex", latex_grid(header, grid))
    write_atomic(out / "table.csv", csv_text(rows))
    return rows
