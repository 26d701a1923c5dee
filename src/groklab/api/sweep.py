"""A sweep directory from Python: ``load_sweep(path)`` reads what ``groklab sweep`` wrote
(docs/architecture.md §3.5); ``sweep(spec, out)`` runs (or continues) one and returns it."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

from groklab.api.run import Run, _plain
from groklab.api.tables import pandas
from groklab.errors import ConfigError, short
from groklab.runs.paths import check_writable
from groklab.runs.rundir import blame, read_json_file
from groklab.sweeps.run import run_sweep
from groklab.sweeps.spec import SweepSpec, load_spec


def load_sweep(path: str | Path) -> Sweep:
    """The sweep in directory ``path`` (one that holds a ``manifest.json``); ConfigError
    otherwise."""
    return Sweep(path)


class Sweep:
    """A sweep directory: its manifest, its results table and its cells' runs (read at each
    access, so a sweep still running shows the cells finished so far)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not (self.path / "manifest.json").is_file():
            what = "does not exist" if not self.path.exists() else "holds no manifest.json"
            raise ConfigError(f"{short(str(self.path), 200)} is not a groklab sweep directory: "
                              f"it {what}")

    def __repr__(self) -> str:
        return f"Sweep({str(self.path)!r}, cells={len(self.manifest.get('cells', []))})"

    @property
    def manifest(self) -> dict:
        """``manifest.json``: the spec, axes, seeds, cells (name, values, status) and groups."""
        return read_json_file(self.path / "manifest.json")

    @property
    def results(self):
        """``results.csv`` as a pandas DataFrame: one row per finished cell and seed (cell,
        cell_name, one column per axis, seed, status, grokked, steps/epochs to each val
        accuracy — empty where never reached, censored at ``budget_steps`` — and final
        metrics). Empty (no columns) until a cell has finished."""
        pd = pandas()
        path = self.path / "results.csv"
        if not path.exists():
            return pd.DataFrame()
        with blame(path):
            return pd.read_csv(path)

    @property
    def runs(self) -> dict[str, Run]:
        """Cell name → ``Run``, in the manifest's order, for every cell whose run directory
        exists (``run.summary["status"]`` says whether it finished)."""
        path = self.path / "manifest.json"
        with blame(path):
            names = [c["name"] for c in self.manifest["cells"]]
            for name in names:
                if not isinstance(name, str) or Path(name).name != name:
                    raise ConfigError(f"cell name {short(name)} is not a directory name")
        cells = self.path / "cells"
        return {name: Run(cells / name) for name in names
                if (cells / name / "config.yaml").exists()}


def as_spec(spec: SweepSpec | Mapping | str | Path, out: str | Path) -> SweepSpec:
    """A ``SweepSpec`` from a spec file, a mapping with a spec file's keys (``base``, ``seeds``,
    ``grid``, ``zip``, ``stop_at``, …; groklab/sweeps/spec.py), or a SweepSpec. A mapping's
    ``base.config`` file is relative to the working directory; its ``name`` defaults to the
    name of ``out``."""
    if isinstance(spec, SweepSpec):
        return spec
    if isinstance(spec, (str, Path)):
        return load_spec(spec)
    if not isinstance(spec, Mapping):
        raise ConfigError(f"spec={short(spec)} must be a sweep spec file, a mapping of its keys "
                          "or a SweepSpec")
    data = json.loads(json.dumps(spec, default=_plain))
    data.setdefault("name", Path(out).resolve().name)
    base = data.get("base")
    if isinstance(base, dict) and isinstance(base.get("config"), str):
        base["config"] = str(Path(base["config"]).resolve())
    # load_spec reads a file (and validates every cell); the mapping is written as one, JSON
    with tempfile.TemporaryDirectory(prefix="groklab-spec-") as tmp:
        path = Path(tmp) / "spec.json"
        path.write_text(json.dumps(data))
        try:
            return load_spec(path)
        except ConfigError as e:  # name the spec as the caller gave it, not the temporary file
            named = f"sweep spec {short(str(path), 200)}"
            raise ConfigError(str(e).replace(named, "sweep spec")) from None


def sweep(spec: SweepSpec | Mapping | str | Path, out: str | Path, *,
          log: Callable[[str], None] | None = print, backend: str = "local",
          address: str | None = None) -> Sweep:
    """Run every cell of ``spec`` into the sweep directory ``out`` and return the ``Sweep``;
    with the same spec and ``out`` again, finished cells are skipped and an interrupted one
    resumes (``groklab sweep SPEC --out DIR``). ``log`` gets the progress lines (None: quiet);
    ``backend="ray"`` runs each group as a Ray task (at ``address``, or a local Ray)."""
    check_writable(out, "out")
    spec = as_spec(spec, out)
    manifest = Path(out) / "manifest.json"
    if manifest.exists():  # an earlier run of this sweep: it must be readable to continue it
        read_json_file(manifest)
    run_sweep(spec, out, log=log or (lambda line: None), backend=backend, address=address)
    return Sweep(out)
