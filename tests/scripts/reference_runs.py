"""The reference runs whose metrics.jsonl must stay byte-identical across refactors.

``python tests/scripts/reference_runs.py OUT`` trains them into OUT (a plain run, a distilled
student, a transfer run and a batched two-cell sweep, all tiny); ``--store`` also copies their
metrics into tests/data/reference/ with the machine they were made on. tests/test_reference.py
re-runs them and compares.
"""

from __future__ import annotations

import json
import platform
import shutil
import sys
from pathlib import Path

TEACHER = ["task.name=add", "task.p=11", "task.train_fraction=0.6", "model.d_model=32",
           "model.n_heads=2", "model.d_mlp=64", "model.n_layers=1", "model.dropout=0.1",
           "train.batch_size=32", "train.epochs=6", "seeds=[0, 1]"]
SWEEP = """
name: reference
seeds: [0, 1]
base:
  set: {task.p: 7, model.d_model: 16, model.n_layers: 1, model.dropout: 0.1,
        train.batch_size: 8, train.epochs: 3}
grid:
  optim.learning_rate: [0.001, 0.003]
"""
STORED = Path(__file__).resolve().parents[1] / "data" / "reference"
RUNS = {"train": "train", "distill": "distill", "transfer": "transfer",
        "sweep_cell0": "sweep/cells/{cell0}", "sweep_cell1": "sweep/cells/{cell1}"}


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def isa() -> list[str]:
    """The vector instruction sets XLA's CPU backend generates code for: hosts that share a model
    name ("AMD EPYC" under virtualization) but differ here round differently."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = line.split(":", 1)[1].split()
                return sorted(f for f in flags if f in ("avx", "avx2", "fma", "f16c")
                              or f.startswith(("avx512", "amx", "avx_vnni")))
    except OSError:
        pass
    return []


def machine() -> dict:
    import jaxlib

    return {"cpu": cpu_model(), "isa": isa(), "jaxlib": jaxlib.__version__}


def make(out: Path) -> dict[str, Path]:
    """Train every reference run into ``out``; returns name -> metrics.jsonl path."""
    from groklab.cli.main import main

    out = Path(out)
    quiet = ["--quiet"]
    assert main(["train", *quiet, *[f"--set={s}" for s in TEACHER], "--out",
                 str(out / "train")]) == 0
    assert main(["distill", "--teacher", str(out / "train"), "--student_scale", "0.5",
                 "--strategies", "logit", "--epochs", "3", *quiet,
                 "--out", str(out / "distill")]) == 0
    assert main(["transfer", "--from", str(out / "train"), "--task", "sub", "--epochs", "3",
                 *quiet, "--out", str(out / "transfer")]) == 0
    spec = out / "sweep.yaml"
    spec.write_text(SWEEP)
    assert main(["sweep", str(spec), "--out", str(out / "sweep")]) == 0
    return paths(out)


def paths(out: Path) -> dict[str, Path]:
    """name -> metrics.jsonl of the reference runs trained into ``out``."""
    cells = sorted(p.name for p in (Path(out) / "sweep" / "cells").iterdir())
    names = {"cell0": cells[0], "cell1": cells[1]}
    return {k: Path(out) / v.format(**names) / "metrics.jsonl" for k, v in RUNS.items()}


if __name__ == "__main__":
    out = Path(sys.argv[1])
    paths = make(out)
    if "--store" in sys.argv:
        STORED.mkdir(parents=True, exist_ok=True)
        for name, p in paths.items():
            shutil.copyfile(p, STORED / f"{name}.jsonl")
        (STORED / "machine.json").write_text(json.dumps(machine(), indent=2) + "\n")
    for name, p in paths.items():
        print(name, p, len(p.read_text().splitlines()), "lines")
