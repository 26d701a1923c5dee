"""Run a sweep: every cell a run directory under ``OUT/cells/``. Cells that can share a compiled
program are trained together (sweeps.batch, sweeps.group), every cell's seeds vmapped; after every
group the results table and the manifest are rewritten atomically from the cells' summaries, so
a killed sweep loses at most the unfinished group's work since its last checkpoint. Running the
same command again skips finished cells and resumes an interrupted group from its checkpoint.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path

from groklab.errors import ConfigError
from groklab.runs.files import write_atomic, write_json_atomic
from groklab.runs.results import seed_rows
from groklab.sweeps.batch import Group, plan_groups
from groklab.sweeps.group import FINISHED, cell_status, run_group
from groklab.sweeps.spec import Cell, SweepSpec

BACKENDS = ("local", "ray")


def run_sweep(spec: SweepSpec, out: str | Path, log: Callable[[str], None] = print,
              backend: str = "local", address: str | None = None) -> list[dict]:
    """Run (or continue) every cell of ``spec`` into ``out``; return the results rows.

    ``backend``: ``local`` trains the groups one after another in this process; ``ray`` makes
    each group a Ray task (sweeps.ray_backend) on the cluster at ``address`` (a local one when
    None). Either way the cells land in ``out/cells/`` and the same table is written here."""
    if backend not in BACKENDS:
        raise ConfigError(f"--backend {backend!r} is not a backend; choose one of "
                          f"{', '.join(BACKENDS)}")
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
    groups = plan_groups(cells, spec.axes, spec.batch_cells, spec.max_members)
    if backend == "ray":  # fail before anything is written when Ray is missing
        from groklab.sweeps.ray_backend import require_ray
        require_ray()
    out.mkdir(parents=True, exist_ok=True)
    batched = sorted({a for g in groups for a in g.batched_axes})
    log(f"sweep {spec.name}: {len(cells)} cells × {len(spec.base.seeds)} seeds in "
        f"{len(groups)} compiled program(s) (axes: {', '.join(spec.axes) or 'none'}; batched "
        f"into shared programs: {', '.join(batched) or 'none'}); backend {backend}")
    _write(out, spec, cells, groups)
    if backend == "local":
        for g in groups:
            for line in run_group(g, out, log=lambda line, g=g: log(f"[{g.name}] {line}")):
                log(f"[{g.name}] {line}")
            _write(out, spec, cells, groups)
    else:
        from groklab.sweeps.ray_backend import run_groups

        run_groups(groups, out, address, log, on_group_done=lambda: _write(out, spec, cells,
                                                                           groups))
    return results_rows(out, spec, cells)


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
        rows += [{"cell": cell.index, "cell_name": cell.name, **cell.values, **row}
                 for row in seed_rows(s)]
    return rows


def _write(out: Path, spec: SweepSpec, cells: list[Cell], groups: list[Group]) -> None:
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
                   "dir": f"cells/{c.name}", "status": cell_status(out / "cells" / c.name)}
                  for c in cells],
        "groups": [{"name": g.name, "cells": [c.name for c in g.cells],
                    "batched_axes": list(g.batched_axes)} for g in groups],
    })
