"""Run a sweep in this process: every cell a run directory under ``OUT/cells/``, its seeds
vmapped in one compiled program; after every cell the results table and the manifest are
rewritten atomically from the cells' summaries, so a killed sweep loses at most the unfinished
cell's work since its last checkpoint. Running the same command again skips finished cells and
resumes an interrupted one from its checkpoint.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from collections.abc import Callable
from pathlib import Path

from groklab.errors import ConfigError
from groklab.runs.files import write_atomic, write_json_atomic
from groklab.runs.train import train_run
from groklab.sweeps.spec import Cell, SweepSpec

FINISHED = ("completed", "stopped_early", "diverged")
THRESHOLDS = ("0.5", "0.9", "0.95", "0.99")


def run_sweep(spec: SweepSpec, out: str | Path, log: Callable[[str], None] = print) -> list[dict]:
    """Run (or continue) every cell of ``spec`` into ``out``; return the results rows."""
    out = Path(out)
    manifest_path = out / "manifest.json"
    if manifest_path.exists():
        saved = json.loads(manifest_path.read_text()).get("spec")
        if saved != spec.raw:
            raise ConfigError(f"{str(out)!r} holds another sweep (its spec differs); choose "
                              "another --out")
    elif out.exists() and any(out.iterdir()):
        raise ConfigError(f"{str(out)!r} exists and is not an empty sweep directory; choose "
                          "another --out")
    cells = spec.cells()
    out.mkdir(parents=True, exist_ok=True)
    log(f"sweep {spec.name}: {len(cells)} cells × {len(spec.base.seeds)} seeds "
        f"(axes: {', '.join(spec.axes) or 'none'}); seeds are vmapped in each cell's program, "
        "batched axes across cells: none (each cell compiles once)")
    _write(out, spec, cells)
    for cell in cells:
        cell_dir = out / "cells" / cell.name
        status = _status(cell_dir)
        if status in FINISHED:
            log(f"[{cell.index + 1}/{len(cells)}] {cell.name}: done ({status}), skipped")
            continue
        resume = (cell_dir / "checkpoints" / "state").exists() and any(
            (cell_dir / "checkpoints" / "state").iterdir())
        if cell_dir.exists() and not resume:
            shutil.rmtree(cell_dir)  # killed before its first checkpoint: nothing to keep
        log(f"[{cell.index + 1}/{len(cells)}] {cell.name}: "
            + ("resuming" if resume else "training"))
        summary = train_run(cell.config, cell_dir, resume=resume)
        log(f"    {summary['status']} at epoch {summary['epoch']:g}; grokked "
            f"{sum(s['grokked'] for s in summary['seeds'])}/{len(summary['seeds'])}")
        _write(out, spec, cells)
    return results_rows(out, spec, cells)


def _status(cell_dir: Path) -> str | None:
    path = cell_dir / "summary.json"
    return json.loads(path.read_text()).get("status") if path.exists() else None


def results_rows(out: Path, spec: SweepSpec, cells: list[Cell]) -> list[dict]:
    """One row per (finished cell, seed): the cell's axis values, milestones, final metrics and
    the budget (the censoring time of seeds that never reached a threshold)."""
    rows = []
    for cell in cells:
        path = out / "cells" / cell.name / "summary.json"
        if not path.exists():
            continue
        s = json.loads(path.read_text())
        if s.get("status") not in FINISHED:
            continue
        for seed in s["seeds"]:
            row = {"cell": cell.index, "cell_name": cell.name, **cell.values,
                   "seed": seed["seed"], "status": s["status"], "grokked": seed["grokked"],
                   "memorized_epoch": seed["memorized_epoch"], "diverged": seed["diverged"],
                   "budget_steps": s["step"],  # how far the run trained: the censoring time
                   "steps_per_epoch": s["steps_per_epoch"]}
            for t in THRESHOLDS:
                row[f"steps_to_{t}"] = seed["steps_to_val_acc"].get(t)
                row[f"epochs_to_{t}"] = seed["epochs_to_val_acc"].get(t)
            row.update({f"final_{k}": v for k, v in seed["final"].items()})
            rows.append(row)
    return rows


def _write(out: Path, spec: SweepSpec, cells: list[Cell]) -> None:
    rows = results_rows(out, spec, cells)
    if rows:
        buf = io.StringIO()
        fields = list(dict.fromkeys(k for r in rows for k in r))
        w = csv.DictWriter(buf, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
        write_atomic(out / "results.csv", buf.getvalue())
    write_json_atomic(out / "manifest.json", {
        "name": spec.name, "spec": spec.raw, "axes": spec.axes,
        "seeds": list(spec.base.seeds), "results": "results.csv",
        "cells": [{"index": c.index, "name": c.name, "values": c.values,
                   "dir": f"cells/{c.name}", "status": _status(out / "cells" / c.name)}
                  for c in cells],
    })
