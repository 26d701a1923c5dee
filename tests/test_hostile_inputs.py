"""Every input checked before work starts (docs/reliability.md §4): a battery of hostile inputs
across every subcommand, each run in process through ``groklab.cli.main.main``.

Each case must end with exit code 2 and exactly one stderr line ``groklab: error: ...`` naming
the value or file at fault, never a traceback or a warning, and must leave its directory exactly
as it found it (no --out created, a tampered run directory unchanged). Cases that need a run
directory copy one tiny run (made once for the module) and damage the copy. Every case fails
before anything is compiled, so the whole file takes seconds."""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from groklab.cli.main import MAX_ERROR_CHARS, main

TINY = ["--quiet", "--p", "7", "--set", "model.d_model=16", "--set", "model.n_layers=1",
        "--batch_size", "8", "--epochs", "1"]
TINY_SETS = ["task.p=7", "model.d_model=16", "model.n_layers=1", "model.dropout=0.0",
             "train.batch_size=8", "train.epochs=2"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    """One tiny trained run (x/y mod 7, d_model 16, one layer, 2 epochs); cases copy it."""
    from groklab.config import RunConfig, apply_overrides
    from groklab.experiments import train_run

    out = tmp_path_factory.mktemp("hostile") / "run"
    train_run(apply_overrides(RunConfig(), TINY_SETS), out, figures=False)
    return out


def alias_bomb(levels: int = 9, top: str = "seeds") -> str:
    """The billion-laughs YAML: each level lists the previous one nine times (9^9 values)."""
    lines = ["a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    lines.append(f"{top}: *a{levels - 1}")
    return "\n".join(lines) + "\n"


def merge_bomb(levels: int = 9) -> str:
    """Merge keys that double at each level without aliases of lists."""
    lines = ["m0: &m0 {k: 1}"]
    for i in range(1, levels):
        lines.append(f"m{i}: &m{i} {{<<: [" + ", ".join([f"*m{i - 1}"] * 9) + "]}")
    return "\n".join(lines) + "\n"


@dataclass
class Case:
    """A case's sandbox: ``tmp`` (snapshotted before and after), ``out`` (must not appear),
    a folder of input files and, on request, a copy of the tiny run."""

    tmp: Path
    source: Path

    @property
    def out(self) -> Path:
        return self.tmp / "out"

    def file(self, name: str, data: str | bytes) -> str:
        path = self.tmp / "in" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data if isinstance(data, bytes) else data.encode())
        return str(path)

    def run(self, damage=None, name: str = "run") -> str:
        path = self.tmp / name
        if not path.exists():
            shutil.copytree(self.source, path)
        if damage is not None:
            damage(path)
        return str(path)

    def sweep_dir(self, files: dict) -> str:
        d = self.tmp / "sweep"
        d.mkdir(exist_ok=True)
        for name, data in files.items():
            (d / name).write_bytes(data if isinstance(data, bytes) else data.encode())
        return str(d)


def snapshot(root: Path) -> dict[str, str]:
    """Every path under ``root`` with a digest of its contents (directories: 'dir')."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            out[os.path.relpath(os.path.join(dirpath, d), root)] = "dir"
        for f in filenames:
            p = os.path.join(dirpath, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, root)] = hashlib.sha256(fh.read()).hexdigest()
    return out


# ----- ways to damage a copy of the run -----

def write(rel: str, data):
    def damage(run: Path):
        p = run / rel
        if data is None:
            shutil.rmtree(p) if p.is_dir() else p.unlink()
        else:
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data if isinstance(data, bytes) else data.encode())
    return damage


def edit_config(old: str, new: str):
    def damage(run: Path):
        text = (run / "config.yaml").read_text()
        assert old in text
        (run / "config.yaml").write_text(text.replace(old, new))
    return damage


def savez(**arrays):
    def damage(run: Path):
        split = dict(np.load(run / "split.npz"))
        split.update(arrays)
        split = {k: v for k, v in split.items() if v is not None}
        with open(run / "split.npz", "wb") as f:
            np.savez(f, **split)
    return damage


def edit_summary(**changes):
    def damage(run: Path):
        s = json.loads((run / "summary.json").read_text())
        s.update(changes)
        (run / "summary.json").write_text(json.dumps(s))
    return damage


def params_files(run: Path) -> list[str]:
    return [p for p in glob.glob(f"{run}/checkpoints/params/*/params/**/*", recursive=True)
            if os.path.isfile(p)]


def truncate_checkpoints(run: Path):
    for p in params_files(run):
        with open(p, "r+b") as fh:
            fh.truncate(os.path.getsize(p) // 2)


def empty_orbax_metadata(run: Path):
    for p in glob.glob(f"{run}/checkpoints/params/*/params/_METADATA"):
        open(p, "w").close()


def empty_json_metadata(run: Path):
    for p in glob.glob(f"{run}/checkpoints/params/*/metadata/metadata"):
        open(p, "w").close()


def no_array_store(run: Path):
    for p in glob.glob(f"{run}/checkpoints/params/*/params/ocdbt.process_0"):
        shutil.rmtree(p)


def analysis_about(text: str):
    return write("analysis/about.json", text)


# ----- the battery: (id, build(case) -> (argv, fragments the error line must hold)) -----

def train(*argv, needles=()):
    return lambda c: (["train", *TINY, "--out", str(c.out), *argv], list(needles))


def train_file(name, data, *needles):
    return lambda c: (["train", *TINY, "--out", str(c.out), "--config", c.file(name, data)],
                      [*needles])


def distill(*argv, needles=(), teacher=True, damage=None):
    def build(c):
        t = ["--teacher", c.run(damage)] if teacher else []
        return ["distill", *TINY, "--out", str(c.out), *t, *argv], list(needles)
    return build


def transfer(*argv, needles=(), source=True, damage=None):
    def build(c):
        s = ["--from", c.run(damage)] if source else []
        return ["transfer", *TINY, "--out", str(c.out), *s, *argv], list(needles)
    return build


def sweep(text, *needles, extra=(), out=None):
    def build(c):
        spec = c.file("spec.yaml", text) if text is not None else str(c.tmp / "in/none.yaml")
        return ["sweep", spec, "--out", out(c) if out else str(c.out), *extra], list(needles)
    return build


def report_run(damage, *needles):
    return lambda c: (["report", c.run(damage)], list(needles))


def analyze_run(damage, *needles, extra=()):
    return lambda c: (["analyze", c.run(damage), "--ig_steps", "0", *extra], list(needles))


def teacher_of(damage, *needles):
    return lambda c: (["distill", *TINY, "--out", str(c.out), "--teacher", c.run(damage)],
                      list(needles))


def source_of(damage, *needles):
    return lambda c: (["transfer", *TINY, "--out", str(c.out), "--from", c.run(damage)],
                      list(needles))


def resume_of(damage, *needles):
    return lambda c: (["train", "--quiet", "--out", c.run(damage), "--resume"], list(needles))


GOOD_MANIFEST = json.dumps({
    "name": "s", "spec": {}, "axes": ["optim.weight_decay"], "seeds": [0],
    "results": "results.csv", "cells": [{"index": 0, "name": "000_x", "values": {
        "optim.weight_decay": 1.0}, "dir": "cells/000_x", "status": "completed"}],
    "groups": []})
GOOD_RESULTS_HEAD = ("cell,cell_name,optim.weight_decay,seed,budget_steps,steps_per_epoch,"
                     "final_val_acc,steps_to_0.9,steps_to_0.99\n")


def report_sweep(files, *needles):
    return lambda c: (["report", c.sweep_dir(files)], list(needles))


BIG_GRID = ("grid:\n  optim.learning_rate: [" + ", ".join(f"{i + 1}e-5" for i in range(1000))
            + "]\n  optim.weight_decay: [" + ", ".join(f"{i / 100}" for i in range(100)) + "]\n")
SPEC_BASE = "base: {set: {task.p: 7, model.d_model: 16, model.n_layers: 1, train.epochs: 1}}\n"
DEEP = 5000

CASES = [
    # --- argparse: one line with a --help hint, for every subcommand ---
    ("argparse/train p not an int", lambda c: (["train", "--p", "abc"],
                                               ["argument --p: invalid int value: 'abc'",
                                                "groklab train --help"])),
    ("argparse/train epochs 1e400", lambda c: (["train", "--epochs", "1e400"],
                                               ["--epochs", "'1e400'"])),
    ("argparse/train epochs 1.5", lambda c: (["train", "--epochs", "1.5"], ["'1.5'"])),
    ("argparse/train unknown flag", lambda c: (["train", "--bogus"],
                                               ["unrecognized arguments: --bogus",
                                                "groklab train --help"])),
    ("argparse/train flag without value", lambda c: (["train", "--p"],
                                                     ["--p", "expected one argument"])),
    ("argparse/train lr not a number", lambda c: (["train", "--learning_rate", "fast"],
                                                  ["invalid float value: 'fast'"])),
    ("argparse/train huge value is cut", lambda c: (["train", "--p", "9" * 100_000],
                                                    ["argument --p"])),
    ("argparse/distill temperature", lambda c: (["distill", "--temperature", "hot"],
                                                ["'hot'", "groklab distill --help"])),
    ("argparse/distill student_scale", lambda c: (["distill", "--student_scale", "x"],
                                                  ["--student_scale"])),
    ("argparse/transfer vocab_map", lambda c: (["transfer", "--vocab_map", "bogus"],
                                               ["invalid choice: 'bogus'",
                                                "groklab transfer --help"])),
    ("argparse/transfer baseline_epochs", lambda c: (["transfer", "--baseline_epochs", "x"],
                                                     ["--baseline_epochs"])),
    ("argparse/tasks p", lambda c: (["tasks", "--p", "abc"], ["groklab tasks --help"])),
    ("argparse/tasks action", lambda c: (["tasks", "bogus"], ["invalid choice: 'bogus'"])),
    ("argparse/presets p", lambda c: (["presets", "--p", "abc"], ["groklab presets --help"])),
    ("argparse/presets unknown flag", lambda c: (["presets", "--bogus"],
                                                 ["unrecognized arguments: --bogus"])),
    ("argparse/sweep no arguments", lambda c: (["sweep"], ["required", "groklab sweep --help"])),
    ("argparse/sweep backend", lambda c: (["sweep", "s.yaml", "--out", str(c.out),
                                           "--backend", "bogus"], ["--backend"])),
    ("argparse/report no dir", lambda c: (["report"], ["required: dir"])),
    ("argparse/analyze position", lambda c: (["analyze", "x", "--position", "z"],
                                             ["--position", "groklab analyze --help"])),
    ("argparse/analyze ig_steps", lambda c: (["analyze", "x", "--ig_steps", "a"],
                                             ["--ig_steps"])),
    ("argparse/unknown command", lambda c: (["bogus"], ["invalid choice", "groklab --help"])),

    # --- numbers on the command line: ranges, overflow, NaN/inf ---
    ("train/epochs -1", train("--epochs", "-1", needles=["train.epochs=-1"])),
    ("train/steps -5", train("--steps", "-5", needles=["train.steps=-5"])),
    ("train/steps 1e30", train("--steps", str(10**30), needles=["train.steps", "at most"])),
    ("train/epochs 1e30", train("--epochs", str(10**30), needles=["train.epochs", "at most"])),
    ("train/budget over int32", train("--epochs", "2147483647",
                                      needles=["steps", "at most 2,147,483,647"])),
    ("train/batch 0", train("--batch_size", "0", needles=["train.batch_size=0"])),
    ("train/batch -1", train("--batch_size", "-1", needles=["train.batch_size=-1"])),
    ("train/batch 1e30", train("--batch_size", str(10**30), needles=["train.batch_size"])),
    ("train/num_seeds 1e8", train("--num_seeds", "100000000",
                                  needles=["--num_seeds 100000000", "10,000"])),
    ("train/num_seeds 0", train("--num_seeds", "0", needles=["--num_seeds 0"])),
    ("train/num_seeds -5", train("--num_seeds", "-5", needles=["--num_seeds -5"])),
    ("train/seeds negative", train("--seeds", "-1", needles=["seed -1"])),
    ("train/seeds 2^70", train("--seeds", str(2**70), needles=["--seeds", "outside"])),
    ("train/seed 2^70", train("--seed", str(2**70), needles=["--seed", "outside"])),
    ("train/seed -1", train("--seed", "-1", needles=["--seed", "seed -1"])),
    ("train/seeds not ints", train("--seeds", "0,x", needles=["--seeds '0,x'"])),
    ("train/seeds 20000", train("--seeds", ",".join(map(str, range(20000))),
                                needles=["20,000 seeds", "at most 10,000"])),
    ("train/seeds and num_seeds", train("--seeds", "0", "--num_seeds", "2",
                                        needles=["only one of"])),
    ("train/lr -1", train("--learning_rate", "-1", needles=["optim.learning_rate=-1"])),
    ("train/lr 0", train("--learning_rate", "0", needles=["optim.learning_rate=0"])),
    ("train/lr nan", train("--learning_rate", "nan", needles=["optim.learning_rate=nan"])),
    ("train/lr inf", train("--learning_rate", "inf", needles=["optim.learning_rate=inf"])),
    ("train/lr 1e300", train("--learning_rate", "1e300", needles=["optim.learning_rate",
                                                                  "float32"])),
    ("train/wd -1", train("--weight_decay", "-1", needles=["optim.weight_decay=-1"])),
    ("train/wd nan", train("--weight_decay", "nan", needles=["optim.weight_decay=nan"])),
    ("train/fraction nan", train("--train_fraction", "nan", needles=["train_fraction=nan"])),
    ("train/fraction 0", train("--train_fraction", "0", needles=["train_fraction=0"])),
    ("train/fraction 1", train("--train_fraction", "1", needles=["train_fraction=1"])),
    ("train/fraction tiny", train("--train_fraction", "1e-9", needles=["train_fraction",
                                                                       "0 training rows"])),
    ("train/noise 1.5", train("--label_noise", "1.5", needles=["label_noise=1.5"])),
    ("train/noise -0.1", train("--label_noise", "-0.1", needles=["label_noise=-0.1"])),
    ("train/stop_at 2", train("--stop_at", "2", needles=["train.stop_at=2"])),
    ("train/stop_at 0", train("--stop_at", "0", needles=["train.stop_at=0"])),
    ("train/stop_at nan", train("--stop_at", "nan", needles=["train.stop_at=nan"])),
    ("train/eval_every 0", train("--eval_every", "0", needles=["train.eval_every=0"])),
    ("train/eval_every -3", train("--eval_every", "-3", needles=["train.eval_every=-3"])),
    ("train/warmup -1", train("--warmup_steps", "-1", needles=["optim.warmup_steps=-1"])),
    ("train/warmup 1e30", train("--warmup_steps", str(10**30), needles=["optim.warmup_steps"])),
    ("train/clip -1", train("--clip_norm", "-1", needles=["optim.clip_norm=-1"])),
    ("train/clip 0", train("--clip_norm", "0", needles=["optim.clip_norm=0"])),
    ("train/sam -1", train("--sam_rho", "-1", needles=["optim.sam_rho=-1"])),
    ("train/p 0", train("--p", "0", needles=["p=0"])),
    ("train/p -7", train("--p", "-7", needles=["p=-7"])),
    ("train/p 1e20", train("--p", str(10**20), needles=["task.p", "at most"])),
    ("train/p not prime", train("--p", "96", needles=["p=96 is not prime"])),
    ("train/per_seed abc", train("--per_seed", "learning_rate=abc",
                                 needles=["--per_seed 'learning_rate=abc'"])),
    ("train/per_seed nan", train("--per_seed", "learning_rate=nan",
                                 needles=["per_seed.learning_rate[0]=nan"])),
    ("train/per_seed key", train("--per_seed", "foo=1", needles=["per_seed key 'foo'"])),
    ("train/per_seed negative", train("--per_seed", "learning_rate=-1",
                                      needles=["per_seed.learning_rate[0]=-1"])),
    ("train/per_seed count", train("--seeds", "0,1", "--per_seed", "learning_rate=1e-3",
                                   needles=["one value per seed"])),

    # --- choices ---
    ("train/recipe", train("--recipe", "bogus", needles=["unknown recipe 'bogus'"])),
    ("train/preset", train("--preset", "bogus", needles=["unknown preset 'bogus'"])),
    ("train/optimizer", train("--optimizer", "lion", needles=["unknown optimizer 'lion'"])),
    ("train/optax name", train("--optimizer", "optax:nonexistent", needles=["nonexistent"])),
    ("train/optax kwargs", train("--optimizer", "optax:sgd", "--set",
                                 "optim.kwargs={bogus: 1}", needles=["optim.kwargs",
                                                                     "optax.sgd"])),
    ("train/lr_schedule", train("--lr_schedule", "bogus", needles=["optim.lr_schedule"])),
    ("train/wd_schedule", train("--wd_schedule", "bogus", needles=["optim.wd_schedule"])),
    ("train/grokfast", train("--grokfast", "bogus", needles=["optim.grokfast"])),
    ("train/loss", train("--loss", "bogus", needles=["train.loss 'bogus'"])),
    ("train/loss_dtype", train("--loss_dtype", "float16", needles=["'float16'"])),
    ("train/batch_schedule", train("--batch_schedule", "bogus",
                                   needles=["train.batch_schedule 'bogus'"])),
    ("train/curriculum", train("--curriculum", "bogus", needles=["train.curriculum 'bogus'"])),
    ("train/operation", train("--operation", "frobnicate", needles=["unknown task"])),
    ("train/checkpoint_dir", train("--checkpoint_dir", "/elsewhere",
                                   needles=["--checkpoint_dir '/elsewhere'"])),
    ("train/resume without a run", train("--resume", needles=["nothing to resume"])),

    # --- --set: types, ranges, limits, memory ---
    ("set/d_model 1e6 (memory)", train("--set", "model.d_model=1000000",
                                       needles=["of memory", "parameters"])),
    ("set/d_mlp 1e9 (memory)", train("--set", "model.d_mlp=1000000000", needles=["of memory"])),
    ("set/n_layers 1e5", train("--set", "model.n_layers=100000",
                               needles=["model.n_layers=100000", "limit of 256"])),
    ("set/grokfast window (memory)", train("--grokfast", "ma", "--set",
                                           "optim.grokfast_window=100000000",
                                           needles=["of memory"])),
    ("set/n_heads 0", train("--set", "model.n_heads=0", needles=["model.n_heads=0"])),
    ("set/d_model -16", train("--set", "model.d_model=-16", needles=["model.d_model=-16"])),
    ("set/d_model str", train("--set", "model.d_model=abc", needles=["model.d_model='abc'"])),
    ("set/d_model 16.5", train("--set", "model.d_model=16.5", needles=["model.d_model=16.5"])),
    ("set/d_model 1e30", train("--set", f"model.d_model={10**30}",
                               needles=["model.d_model", "at most"])),
    ("set/dropout 1", train("--set", "model.dropout=1", needles=["model.dropout=1"])),
    ("set/dropout -0.1", train("--set", "model.dropout=-0.1", needles=["model.dropout=-0.1"])),
    ("set/norm_eps -1", train("--set", "model.norm_eps=-1", needles=["model.norm_eps=-1"])),
    ("set/rope_base 0", train("--set", "model.rope_base=0", needles=["model.rope_base=0"])),
    ("set/mlp_width 0", train("--set", "model.kind=mlp", "--set", "model.mlp_width=0",
                              needles=["model.mlp_width=0"])),
    ("set/kind", train("--set", "model.kind=rnn", needles=["model.kind='rnn'"])),
    ("set/positions", train("--set", "model.positions=bogus", needles=["model.positions"])),
    ("set/eval_batch 0", train("--set", "train.eval_batch_size=0",
                               needles=["train.eval_batch_size=0"])),
    ("set/checkpoint_every 0", train("--set", "train.checkpoint_every=0",
                                     needles=["train.checkpoint_every=0"])),
    ("set/checkpoint_every -5", train("--set", "train.checkpoint_every=-5",
                                      needles=["train.checkpoint_every=-5"])),
    ("set/grokked_threshold 2", train("--set", "train.grokked_threshold=2",
                                      needles=["train.grokked_threshold=2"])),
    ("set/memorized_threshold -1", train("--set", "train.memorized_threshold=-1",
                                         needles=["train.memorized_threshold=-1"])),
    ("set/batch_stages 1e5", train("--batch_schedule", "increasing", "--set",
                                   "train.batch_start=2", "--set", "train.batch_stages=100000",
                                   needles=["train.batch_stages=100000", "limit of 64"])),
    ("set/detect_gap 1", train("--set", "train.detect_gap=1", needles=["train.detect_gap=1"])),
    ("set/detect_patience 0", train("--set", "train.detect_patience=0",
                                    needles=["train.detect_patience=0"])),
    ("set/curriculum_start 0", train("--set", "train.curriculum_start=0",
                                     needles=["train.curriculum_start=0"])),
    ("set/epochs bool", train("--set", "train.epochs=true", needles=["train.epochs=True"])),
    ("set/epochs list", train("--set", "train.epochs=[1]", needles=["train.epochs=[1]"])),
    ("set/epochs mapping", train("--set", "train.epochs={a: 1}", needles=["train.epochs="])),
    ("set/epochs '1e400'", train("--set", "train.epochs=1e400", needles=["'1e400'"])),
    ("set/epochs inf", train("--set", "train.epochs=1.0e+400", needles=["train.epochs=inf"])),
    ("set/p 1e20", train("--set", f"task.p={10**20}", needles=["task.p", "at most"])),
    ("set/layout", train("--set", "task.layout=bogus", needles=["layout 'bogus'"])),
    ("set/split_seed -1", train("--set", "task.split_seed=-1", needles=["seed=-1"])),
    ("set/split_seed 2^40", train("--set", f"task.split_seed={2**40}",
                                  needles=["task.split_seed", "at most"])),
    ("set/task name list", train("--set", "task.name=[1, 2]", needles=["task.name="])),
    ("set/seeds duplicate", train("--set", "seeds=[0, 0]", needles=["duplicates"])),
    ("set/seeds float", train("--set", "seeds=[1.5]", needles=["seeds=1.5"])),
    ("set/seeds str", train("--set", "seeds=abc", needles=["seeds='abc'"])),
    ("set/seeds empty", train("--set", "seeds=[]", needles=["seeds=() is empty"])),
    ("set/rng_seeds count", train("--set", "rng_seeds=[0, 1]", needles=["rng_seeds"])),
    ("set/per_seed mapping value", train("--set", "per_seed.learning_rate=[{a: 1}]",
                                         needles=["per_seed.learning_rate[0]"])),
    ("set/preset list", train("--set", "preset=[1]", needles=["preset=[1]"])),
    ("set/optim b1", train("--set", "optim.b1=1.5", needles=["optim.b1=1.5"])),
    ("set/init_scale 0", train("--set", "optim.init_scale=0", needles=["optim.init_scale=0"])),
    ("set/unknown key", train("--set", "model.colour=blue",
                              needles=["unknown config key 'model.colour'"])),
    ("set/not key=value", train("--set", "nonsense", needles=["--set 'nonsense'"])),
    ("set/section replaced", train("--set", "task=5", needles=["task must be a mapping"])),
    ("set/huge key", train("--set", "k" * 100_000 + "=1", needles=["unknown config key"])),
    ("set/huge value", train("--set", "optim.name=" + "x" * 1_000_000,
                             needles=["optimizer"])),
    ("set/alias bomb", train("--set", "per_seed.learning_rate=[&a [1,1,1,1,1,1,1,1,1], "
                             "&b [*a,*a,*a,*a,*a,*a,*a,*a,*a], &c [*b,*b,*b,*b,*b,*b,*b,*b,*b],"
                             " &d [*c,*c,*c,*c,*c,*c,*c,*c,*c], &e [*d,*d,*d,*d,*d,*d,*d,*d,*d],"
                             " [*e,*e,*e,*e,*e,*e,*e,*e,*e]]",
                             needles=["more than 100,000 values"])),
    ("set/deep value", train("--set", "per_seed.learning_rate=" + "[" * DEEP + "]" * DEEP,
                             needles=["per_seed.learning_rate"])),
    ("set/recursive alias", train("--set", "per_seed.learning_rate=&a [*a]",
                                  needles=["refers to itself"])),
    ("set/bad yaml", train("--set", "seeds=[unclosed", needles=["--set 'seeds'",
                                                                "not a YAML value"])),

    # --- config files: formats, encodings, size and alias bounds ---
    ("file/binary yaml", train_file("c.yaml", b"\x80\x81\x00\xff", "c.yaml", "not UTF-8")),
    ("file/binary toml", train_file("c.toml", b"\x80\x81\x00\xff", "c.toml", "not UTF-8")),
    ("file/binary json", train_file("c.json", b"\x80\x81\x00\xff", "c.json", "not UTF-8")),
    ("file/NUL in yaml", train_file("c.yaml", b"task:\x00 x\n", "c.yaml", "NUL")),
    ("file/NUL in toml", train_file("c.toml", b"[task]\x00\n", "c.toml", "NUL")),
    ("file/NUL in json", train_file("c.json", b'{"task": \x00}', "c.json", "NUL")),
    ("file/utf-16 json", train_file("c.json", '{"task": {}}'.encode("utf-16"), "c.json")),
    ("file/latin-1 yaml", train_file("c.yaml", "task:\n  name: d\xe9v\n".encode("latin-1"),
                                     "c.yaml", "not UTF-8")),
    ("file/latin-1 toml", train_file("c.toml", "[task]\nname = 'd\xe9v'\n".encode("latin-1"),
                                     "c.toml", "not UTF-8")),
    ("file/empty yaml", train_file("c.yaml", "", "c.yaml", "mapping")),
    ("file/empty json", train_file("c.json", "", "c.json", "malformed")),
    ("file/list yaml", train_file("c.yaml", "- 1\n- 2\n", "c.yaml", "got list")),
    ("file/list json", train_file("c.json", "[1, 2]", "c.json", "got list")),
    ("file/string yaml", train_file("c.yaml", "just words\n", "c.yaml", "got str")),
    ("file/alias bomb", train_file("c.yaml", alias_bomb(), "c.yaml",
                                   "more than 100,000 values")),
    ("file/alias bomb under a section", train_file("c.yaml", alias_bomb(top="per_seed"),
                                                   "more than 100,000 values")),
    ("file/merge-key bomb", train_file("c.yaml", merge_bomb(), "c.yaml",
                                       "more than 100,000 values")),
    ("file/recursive alias", train_file("c.yaml", "seeds: &a [*a]\n", "refers to itself")),
    ("file/deep json 900", train_file("c.json", '{"per_seed": {"lr": ' + "[" * 900
                                      + "]" * 900 + "}}", "c.json", "levels deep")),
    ("file/deep json 1e5", train_file("c.json", "[" * 100_000 + "]" * 100_000, "c.json")),
    ("file/deep yaml", train_file("c.yaml", "x: " + "[" * DEEP + "]" * DEEP + "\n", "c.yaml")),
    ("file/deep toml", train_file("c.toml", "x = " + "[" * DEEP + "]" * DEEP + "\n", "c.toml")),
    ("file/2 MB", train_file("c.yaml", "# " + "x" * 2_000_000 + "\n", "c.yaml",
                             "larger than 1,048,576 bytes")),
    ("file/110k seeds", train_file("c.yaml", "seeds: [" + ",".join(["0"] * 110_000) + "]\n",
                                   "more than 100,000 values")),
    ("file/a directory", lambda c: (["train", *TINY, "--out", str(c.out), "--config",
                                     str(c.tmp)], ["not a regular file"])),
    ("file//dev/zero", train("--config", "/dev/zero", needles=["/dev/zero",
                                                                "not a regular file"])),
    ("file/missing", lambda c: (["train", *TINY, "--out", str(c.out), "--config",
                                 str(c.tmp / "none.yaml")], ["none.yaml", "does not exist"])),
    ("file/python tag", train_file("c.yaml", "task: !!python/object/apply:os.system ['true']\n",
                                   "c.yaml", "malformed")),
    ("file/two documents", train_file("c.yaml", "task: {}\n---\ntask: {}\n", "c.yaml",
                                      "malformed")),
    ("file/tab indentation", train_file("c.yaml", "task:\n\tname: div\n", "c.yaml",
                                        "malformed")),
    ("file/toml duplicate key", train_file("c.toml", "[task]\np = 7\np = 11\n", "c.toml",
                                           "malformed")),
    ("file/json NaN", train_file("c.json", '{"optim": {"learning_rate": NaN}}',
                                 "optim.learning_rate=nan")),
    ("file/json 1e400", train_file("c.json", '{"optim": {"learning_rate": 1e400}}',
                                   "optim.learning_rate=inf")),
    ("file/toml inf", train_file("c.toml", "[optim]\nlearning_rate = inf\n",
                                 "optim.learning_rate=inf")),
    ("file/json 5000-digit int", train_file("c.json", '{"train": {"epochs": ' + "9" * 5000
                                            + "}}", "c.json", "malformed")),
    ("file/unknown section", train_file("c.yaml", "bogus: {a: 1}\n", "c.yaml",
                                        "unknown config key 'bogus'")),
    ("file/model list", train_file("c.yaml", "model: [1, 2]\n", "model must be a mapping")),
    ("file/per_seed list", train_file("c.yaml", "per_seed: [1, 2]\n", "per_seed")),
    ("file/task null", train_file("c.yaml", "task: null\n", "task must be a mapping")),
    ("file/integer key", train_file("c.yaml", "1: 2\n", "unknown config key '1'")),
    ("file/recipes int", train_file("c.yaml", "recipes: 5\n", "recipes=5")),
    ("file/rng_seeds negative", train_file("c.yaml", "seeds: [0]\nrng_seeds: [-5]\n",
                                           "seed=-5")),
    ("file/teacher missing", train_file("c.yaml", "distill: {teacher: /nonexistent}\n",
                                        "teacher '/nonexistent'")),
    ("file/source missing", train_file("c.yaml", "transfer: {source: /nonexistent}\n",
                                       "source '/nonexistent'")),

    # --- output paths, before anything compiles ---
    ("out/name too long", train("--out", "/tmp/" + "x" * 300, needles=["over the file system"])),
    ("out/path too long", lambda c: (["train", *TINY, "--out", str(c.tmp / "/".join(
        ["y" * 200] * 30))], ["bytes long"])),
    ("out/under a file", lambda c: (["train", *TINY, "--out", c.file("f", "") + "/run"],
                                    ["Not a directory"])),
    ("out//proc", train("--out", "/proc/groklab_run", needles=["/proc/groklab_run",
                                                               "cannot be written"])),
    ("out//sys", train("--out", "/sys/groklab_run", needles=["cannot be written"])),
    ("out//dev/null", train("--out", "/dev/null", needles=["/dev/null", "not a directory"])),
    ("out/an existing file", lambda c: (["train", *TINY, "--out", c.file("f", "x")],
                                        ["not a directory"])),
    ("out/distill under /proc", distill("--out", "/proc/x", needles=["cannot be written"])),
    ("out/transfer under a file", lambda c: (["transfer", *TINY, "--from", c.run(), "--out",
                                              c.file("f", "") + "/t"], ["Not a directory"])),
    ("out/sweep under /proc", sweep(SPEC_BASE, "cannot be written", out=lambda c: "/proc/s")),
    ("out/sweep name too long", sweep(SPEC_BASE, "over the file system",
                                      out=lambda c: str(c.tmp / ("s" * 300)))),
    ("out/analyze under a file", lambda c: (["analyze", c.run(), "--out",
                                             c.file("f", "") + "/a"], ["Not a directory"])),
    ("out/analyze under /proc", lambda c: (["analyze", c.run(), "--out", "/proc/a"],
                                           ["cannot be written"])),
    ("out/export under /proc", lambda c: (["tasks", "export", "add", "--p", "5", "--out",
                                           "/proc/x.csv"], ["cannot be written"])),
    ("out/export name too long", lambda c: (["tasks", "export", "add", "--p", "5", "--out",
                                             str(c.tmp / ("e" * 300 + ".csv"))],
                                            ["over the file system"])),
    ("out/export onto a directory", lambda c: (["tasks", "export", "add", "--p", "5", "--out",
                                                str(c.tmp)], ["is a directory"])),

    # --- distill ---
    ("distill/strategy logit:nan", distill("--strategies", "logit:nan",
                                           needles=["'logit:nan'", "finite"])),
    ("distill/strategy logit:inf", distill("--strategies", "logit:inf",
                                           needles=["'logit:inf'", "finite"])),
    ("distill/strategy logit:1e400", distill("--strategies", "logit:1e400",
                                             needles=["'logit:1e400'"])),
    ("distill/strategy weight abc", distill("--strategies", "logit:abc",
                                            needles=["'abc' is not a number"])),
    ("distill/strategy unknown", distill("--strategies", "bogus",
                                         needles=["unknown distillation strategy 'bogus'"])),
    ("distill/strategy weight -1", distill("--strategies", "logit:-1", needles=["must be > 0"])),
    ("distill/no teacher", distill(teacher=False, needles=["--teacher RUN_DIR is required"])),
    ("distill/teacher missing", lambda c: (["distill", *TINY, "--teacher", "/nonexistent",
                                            "--out", str(c.out)], ["'/nonexistent'"])),
    ("distill/teacher a file", lambda c: (["distill", *TINY, "--teacher", c.file("f", "x"),
                                           "--out", str(c.out)], ["not a groklab run"])),
    ("distill/selector unknown", lambda c: (["distill", *TINY, "--teacher", c.run() + "@bogus=1",
                                             "--out", str(c.out)], ["unknown selector"])),
    ("distill/selector step=abc", lambda c: (["distill", *TINY, "--teacher",
                                              c.run() + "@step=abc", "--out", str(c.out)],
                                             ["step='abc'"])),
    ("distill/selector step=nan", lambda c: (["distill", *TINY, "--teacher",
                                              c.run() + "@step=nan", "--out", str(c.out)],
                                             ["step='nan'", "finite"])),
    ("distill/selector val_acc=2", lambda c: (["distill", *TINY, "--teacher",
                                               c.run() + "@val_acc=2", "--out", str(c.out)],
                                              ["val_acc=2"])),
    ("distill/selector missing step", lambda c: (["distill", *TINY, "--teacher",
                                                  c.run() + "@999", "--out", str(c.out)],
                                                 ["no checkpoint at step 999"])),
    ("distill/temperature 0", distill("--temperature", "0", needles=["distill.temperature=0"])),
    ("distill/temperature nan", distill("--temperature", "nan",
                                        needles=["distill.temperature=nan"])),
    ("distill/alpha 2", distill("--alpha", "2", needles=["distill.alpha=2"])),
    ("distill/student_scale 0", distill("--student_scale", "0", needles=["--student_scale 0"])),
    ("distill/student_scale nan", distill("--student_scale", "nan",
                                          needles=["--student_scale nan"])),
    ("distill/student_scale 1e9", distill("--student_scale", "1e9",
                                          needles=["--student_scale 1e+09"])),
    ("distill/depth_scale 1e9", distill("--depth_scale", "1e9", needles=["--depth_scale"])),
    ("distill/depth_scale -1", distill("--depth_scale", "-1", needles=["--depth_scale -1"])),
    ("distill/chain abc", distill("--chain", "abc", needles=["--chain 'abc'"])),
    ("distill/chain nan", distill("--chain", "nan", needles=["--chain 'nan'"])),
    ("distill/chain 1e9", distill("--chain", "1e9", needles=["--chain '1e9'"])),
    ("distill/chain 100 generations", distill("--chain", ",".join(["0.5"] * 100),
                                              needles=["100 generations", "at most 16"])),
    ("distill/seeds not the teacher's", distill("--seeds", "5", needles=["seeds [5]"])),
    ("distill/resume without a run", distill("--resume", teacher=False,
                                             needles=["--resume needs --out"])),

    # --- transfer ---
    ("transfer/no source", transfer(source=False, needles=["--from RUN_DIR is required"])),
    ("transfer/source missing", lambda c: (["transfer", *TINY, "--from", "/nonexistent",
                                            "--out", str(c.out)], ["'/nonexistent'"])),
    ("transfer/task", transfer("--task", "bogus", needles=["unknown task 'bogus'"])),
    ("transfer/selector val_acc=5", lambda c: (["transfer", *TINY, "--from",
                                                c.run() + "@val_acc=5", "--out", str(c.out)],
                                               ["val_acc=5"])),
    ("transfer/baseline_epochs -1", transfer("--baseline", "--baseline_epochs", "-1",
                                             needles=["train.epochs=-1"])),
    ("transfer/baseline_epochs alone", transfer("--baseline_epochs", "3",
                                                needles=["need --baseline"])),
    ("transfer/list_params missing", lambda c: (["transfer", "--list_params", "/nonexistent"],
                                                ["'/nonexistent'"])),

    # --- tasks and presets ---
    ("tasks/layout", lambda c: (["tasks", "--layout", "bogus"], ["--layout 'bogus'"])),
    ("tasks/p -1", lambda c: (["tasks", "--p", "-1"], ["--p -1"])),
    ("tasks/p 0", lambda c: (["tasks", "--p", "0"], ["--p 0"])),
    ("tasks/p 1e10", lambda c: (["tasks", "--p", str(10**10)], ["--p 10000000000"])),
    ("tasks/export without name", lambda c: (["tasks", "export", "--out", str(c.out)],
                                             ["needs a task NAME"])),
    ("tasks/export unknown task", lambda c: (["tasks", "export", "bogus", "--out",
                                              str(c.tmp / "x.csv")], ["unknown task 'bogus'"])),
    ("tasks/export layout", lambda c: (["tasks", "export", "add", "--layout", "bogus", "--out",
                                        str(c.tmp / "x.csv")], ["--layout 'bogus'"])),
    ("tasks/export p 1e9", lambda c: (["tasks", "export", "add", "--p", str(10**9), "--out",
                                       str(c.tmp / "x.csv")], ["over the limit"])),
    ("tasks/list with a name", lambda c: (["tasks", "list", "add"], ["only with export"])),
    ("presets/task", lambda c: (["presets", "--task", "bogus"], ["unknown task 'bogus'"])),
    ("presets/p 0", lambda c: (["presets", "--p", "0"], ["--p 0"])),
    ("presets/p 96", lambda c: (["presets", "--p", "96"], ["p=96 is not prime"])),
    ("presets/p 1e9", lambda c: (["presets", "--p", str(10**9)], ["over the limit"])),

    # --- sweep specs ---
    ("sweep/missing spec", sweep(None, "none.yaml", "does not exist")),
    ("sweep/binary spec", sweep("\x80\x00", "spec.yaml")),
    ("sweep/alias bomb", sweep(alias_bomb(top="grid"), "more than 100,000 values")),
    ("sweep/100,000 cells", sweep(BIG_GRID, "100,000 cells", "at most 1,000")),
    ("sweep/100,000 zipped cells", sweep("zip: {optim.learning_rate: ["
                                         + ", ".join(["0.001"] * 2000) + "]}\n",
                                         "2,000 cells")),
    ("sweep/grid not a list", sweep("grid: {optim.learning_rate: 1}\n", "non-empty list")),
    ("sweep/zip lengths", sweep("zip: {optim.learning_rate: [1, 2], optim.weight_decay: [1]}\n",
                                "one length")),
    ("sweep/unknown key", sweep("bogus: 1\n", "unknown key(s) bogus")),
    ("sweep/base config missing", sweep("base: {config: nope.yaml}\n", "nope.yaml")),
    ("sweep/max_members 0", sweep("max_members: 0\n", "max_members=0")),
    ("sweep/num_seeds 1e8", sweep("num_seeds: 100000000\n", "num_seeds=100000000")),
    ("sweep/seeds floats", sweep("seeds: [1.5]\n", "seeds=[1.5]")),
    ("sweep/seeds negative", sweep("seeds: [-1]\n", "seeds=[-1]")),
    ("sweep/grid bad key", sweep("grid: {optim.bogus: [1]}\n", "optim.bogus")),
    ("sweep/grid nan", sweep("grid: {optim.learning_rate: [.nan]}\n",
                             "optim.learning_rate=nan")),
    ("sweep/base.set a list", sweep("base: {set: [1]}\n", "base.set")),
    ("sweep/base.recipe a number", sweep("base: {recipe: 5}\n", "base.recipe=5")),
    ("sweep/stop_at 5", sweep("stop_at: 5\n", "train.stop_at=5")),
    ("sweep/stop_at text", sweep("stop_at: soon\n", "stop_at='soon'")),
    ("sweep/grid huge string", sweep("grid: {task.name: ['" + "x" * 100_000 + "']}\n",
                                     "unknown task")),
    ("sweep/grid d_model 1e6 (memory)", sweep(SPEC_BASE + "grid: {model.d_model: [1000000]}\n",
                                              "of memory")),
    ("sweep/spec a list", sweep("- 1\n", "got list")),
    ("sweep/spec deep", sweep("grid: " + "[" * DEEP + "]" * DEEP + "\n", "spec.yaml")),
    ("sweep/name a mapping", sweep("name: {a: 1}\n", "name={'a': 1}")),
    ("sweep/address without ray", sweep(SPEC_BASE, "--address", extra=("--address", "auto"))),
    ("sweep/damaged manifest in --out", lambda c: (
        ["sweep", c.file("spec.yaml", SPEC_BASE), "--out",
         c.sweep_dir({"manifest.json": "{not json"})], ["manifest.json", "not valid JSON"])),

    # --- report of a damaged run directory ---
    ("report/config garbage", report_run(write("config.yaml", "task: [unclosed\n"),
                                         "config.yaml", "malformed")),
    ("report/config binary", report_run(write("config.yaml", b"\x80\x00\xff"), "config.yaml")),
    ("report/config empty", report_run(write("config.yaml", ""), "config.yaml")),
    ("report/config unknown key", report_run(write("config.yaml", "bogus: 1\n"), "config.yaml",
                                             "unknown config key 'bogus'")),
    ("report/config alias bomb", report_run(write("config.yaml", alias_bomb()), "config.yaml",
                                            "more than 100,000 values")),
    ("report/config p changed", report_run(edit_config("p: 7", "p: 11"), "config.yaml",
                                           "d_vocab")),
    ("report/split garbage", report_run(write("split.npz", b"garbage"), "split.npz")),
    ("report/split empty", report_run(write("split.npz", b""), "split.npz")),
    ("report/split without arrays", report_run(savez(train_idx=None, val_idx=None),
                                               "split.npz", "train_idx")),
    ("report/split index out of range", report_run(savez(train_idx=np.full((1, 21), 10**6)),
                                                   "split.npz", "outside")),
    ("report/split object array", report_run(savez(seeds=np.array([None, 1], dtype=object)),
                                             "split.npz")),
    ("report/split other seeds", report_run(savez(seeds=np.array([5])), "split.npz",
                                            "seeds")),
    ("report/summary garbage", report_run(write("summary.json", "{not json"), "summary.json",
                                          "not valid JSON")),
    ("report/summary empty", report_run(write("summary.json", ""), "summary.json")),
    ("report/summary a list", report_run(write("summary.json", "[1, 2]"), "summary.json",
                                         "list")),
    ("report/summary no keys", report_run(write("summary.json", "{}"), "summary.json",
                                          "status")),
    ("report/summary seeds a number", report_run(edit_summary(seeds=5), "summary.json",
                                                 "seeds")),
    ("report/summary seeds of ints", report_run(edit_summary(seeds=[5]), "summary.json",
                                                "seeds[0]")),
    ("report/summary step negative", report_run(edit_summary(step=-1), "summary.json",
                                                "step")),
    ("report/summary binary", report_run(write("summary.json", b"\x80\xff"), "summary.json",
                                         "not UTF-8")),
    ("report/summary deep", report_run(write("summary.json", "[" * 100_000 + "]" * 100_000),
                                       "summary.json")),
    ("report/comparison garbage", report_run(write("comparison.json", "{bad"),
                                             "comparison.json")),
    ("report/comparison no keys", report_run(write("comparison.json", "{}"),
                                             "comparison.json")),
    ("report/analysis about garbage", report_run(analysis_about("{bad"), "about.json")),
    ("report/analysis about no keys", report_run(analysis_about("{}"), "about.json")),
    ("report/not a directory", lambda c: (["report", c.file("f", "x")], ["not a sweep"])),
    ("report/missing", lambda c: (["report", str(c.tmp / "none")], ["not a sweep"])),

    # --- report of a damaged sweep directory ---
    ("report/manifest garbage", report_sweep({"manifest.json": "{bad", "results.csv": "a\n1\n"},
                                             "manifest.json", "not valid JSON")),
    ("report/manifest a list", report_sweep({"manifest.json": "[]"}, "manifest.json")),
    ("report/manifest empty", report_sweep({"manifest.json": ""}, "manifest.json")),
    ("report/manifest binary", report_sweep({"manifest.json": b"\x80\xff"}, "manifest.json")),
    ("report/manifest no keys", report_sweep({"manifest.json": "{}"}, "manifest.json")),
    ("report/manifest cell outside", report_sweep(
        {"manifest.json": GOOD_MANIFEST.replace('"cells/000_x"', '"../../../etc"'),
         "results.csv": GOOD_RESULTS_HEAD + "0,000_x,1.0,0,10,1,0.5,,\n"}, "manifest.json",
        "outside")),
    ("report/no results", report_sweep({"manifest.json": GOOD_MANIFEST}, "no results.csv")),
    ("report/results NUL", report_sweep({"manifest.json": GOOD_MANIFEST,
                                         "results.csv": "a,b\n1\n\x00\x00"}, "results.csv")),
    ("report/results empty", report_sweep({"manifest.json": GOOD_MANIFEST, "results.csv": ""},
                                          "results.csv", "no rows")),
    ("report/results columns", report_sweep({"manifest.json": GOOD_MANIFEST,
                                             "results.csv": "a,b\n1,2\n"}, "results.csv",
                                            "no column")),
    ("report/results binary", report_sweep({"manifest.json": GOOD_MANIFEST,
                                            "results.csv": b"\x80\xff\x00"}, "results.csv")),
    ("report/results not numbers", report_sweep(
        {"manifest.json": GOOD_MANIFEST,
         "results.csv": GOOD_RESULTS_HEAD + "0,000_x,1.0,0,abc,1,0.5,,\n"},
        "results.csv", "budget_steps='abc'")),
    ("report/results nan", report_sweep(
        {"manifest.json": GOOD_MANIFEST,
         "results.csv": GOOD_RESULTS_HEAD + "0,000_x,1.0,0,10,1,nan,,\n"},
        "results.csv", "final_val_acc='nan'")),
    ("report/results huge field", report_sweep(
        {"manifest.json": GOOD_MANIFEST, "results.csv": "a\n" + "x" * 200_000 + "\n"},
        "results.csv")),

    # --- analyze ---
    ("analyze/config garbage", analyze_run(write("config.yaml", "task: [unclosed\n"),
                                           "config.yaml")),
    ("analyze/config binary", analyze_run(write("config.yaml", b"\x80\x00"), "config.yaml")),
    ("analyze/config d_model changed", analyze_run(edit_config("d_model: 16", "d_model: 32"),
                                                   "checkpoints/params")),
    ("analyze/config p changed", analyze_run(edit_config("p: 7", "p: 11"), "config.yaml",
                                             "d_vocab")),
    ("analyze/split garbage", analyze_run(write("split.npz", b"garbage"), "split.npz")),
    ("analyze/split missing", analyze_run(write("split.npz", None), "split.npz")),
    ("analyze/split index out of range", analyze_run(savez(val_idx=np.full((1, 21), 10**6)),
                                                     "split.npz", "outside")),
    ("analyze/checkpoint truncated", analyze_run(truncate_checkpoints, "checkpoint")),
    ("analyze/empty Orbax metadata", analyze_run(empty_orbax_metadata, "checkpoint")),
    ("analyze/empty JSON metadata", analyze_run(empty_json_metadata, "checkpoint")),
    ("analyze/no array store", analyze_run(no_array_store, "checkpoint")),
    ("analyze/no checkpoints", analyze_run(write("checkpoints", None), "no checkpoints")),
    ("analyze/missing run", lambda c: (["analyze", "/nonexistent"], ["'/nonexistent'"])),
    ("analyze/checkpoint selector", analyze_run(None, "unknown selector",
                                                extra=("--checkpoint", "bogus=1"))),
    ("analyze/checkpoint step", analyze_run(None, "no checkpoint at step 999",
                                            extra=("--checkpoint", "step=999"))),
    ("analyze/compare missing", analyze_run(None, "'/nonexistent'",
                                            extra=("--compare", "/nonexistent"))),
    ("analyze/inputs not pairs", analyze_run(None, "--inputs 'a:b'",
                                             extra=("--inputs", "a:b"))),
    ("analyze/inputs not rows", analyze_run(None, "--inputs 100:100",
                                            extra=("--inputs", "100:100"))),
    ("analyze/hooks", analyze_run(None, "bogus", extra=("--hooks", "bogus"))),
    ("analyze/ig_steps -1", lambda c: (["analyze", c.run(), "--ig_steps", "-1"],
                                       ["--ig_steps -1"])),
    ("analyze/ig_steps 1e9", lambda c: (["analyze", c.run(), "--ig_steps", str(10**9)],
                                        ["--ig_steps 1000000000"])),
    ("analyze/key_threshold nan", analyze_run(None, "--key_threshold nan",
                                              extra=("--key_threshold", "nan"))),
    ("analyze/key_threshold 0", analyze_run(None, "--key_threshold 0",
                                            extra=("--key_threshold", "0"))),
    ("analyze/val_acc nan", lambda c: (["analyze", c.run() + "@val_acc=nan"], ["val_acc=nan"])),

    # --- a damaged run as a teacher, a source or resumed ---
    ("teacher/config garbage", teacher_of(write("config.yaml", "task: [\n"), "config.yaml")),
    ("teacher/config binary", teacher_of(write("config.yaml", b"\x80\x00"), "config.yaml")),
    ("teacher/split garbage", teacher_of(write("split.npz", b"garbage"), "split.npz")),
    ("teacher/split other seeds", teacher_of(savez(seeds=np.array([5])), "split.npz")),
    ("teacher/checkpoint truncated", teacher_of(truncate_checkpoints, "checkpoint")),
    ("teacher/empty Orbax metadata", teacher_of(empty_orbax_metadata, "checkpoint")),
    ("source/config garbage", source_of(write("config.yaml", "task: [\n"), "config.yaml")),
    ("source/split garbage", source_of(write("split.npz", b"garbage"), "split.npz")),
    ("source/split missing arrays", source_of(savez(val_idx=None), "split.npz", "val_idx")),
    ("source/summary garbage", source_of(write("summary.json", "{bad"), "summary.json")),
    ("source/checkpoint truncated", source_of(truncate_checkpoints, "checkpoint")),
    ("resume/config garbage", resume_of(write("config.yaml", "task: [\n"), "config.yaml")),
    ("resume/config binary", resume_of(write("config.yaml", b"\x80\x00"), "config.yaml")),
    ("resume/config unknown key", resume_of(write("config.yaml", "bogus: 1\n"), "config.yaml",
                                            "unknown config key 'bogus'")),
    ("resume/split garbage", resume_of(write("split.npz", b"garbage"), "split.npz")),
    ("resume/split other seeds", resume_of(savez(seeds=np.array([3])), "split.npz")),
    ("resume/summary garbage", resume_of(write("summary.json", "{bad"), "summary.json")),
    ("resume/summary missing keys", resume_of(write("summary.json", "{}"), "summary.json")),
]


# Orbax, refusing a checkpoint whose shapes differ from the config, leaves an asyncio callback
# that fails after its event loop closed; Python ignores it (pytest reports it as a warning)
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize("build", [b for _, b in CASES], ids=[i for i, _ in CASES])
def test_a_hostile_input_is_one_line_exit_2_and_changes_nothing(build, tiny_run, tmp_path,
                                                                capsys):
    case = Case(tmp_path, tiny_run)
    argv, needles = build(case)
    before = snapshot(tmp_path)
    capsys.readouterr()
    code = main(argv)
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert "Traceback" not in out + err, err[-3000:]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("groklab: error: "), \
        (code, err[-3000:])
    assert len(lines[0]) <= len("groklab: error: ") + MAX_ERROR_CHARS + 10, lines[0][:300]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert snapshot(tmp_path) == before  # nothing created, nothing changed
    assert not case.out.exists()


def test_the_battery_is_large():
    assert len(CASES) >= 150
    assert len({i for i, _ in CASES}) == len(CASES)  # unique ids


def test_help_still_exits_0(capsys):
    assert main(["train", "--help"]) == 0
    assert "usage: groklab train" in capsys.readouterr().out


def test_the_parameter_formula_matches_every_preset():
    """The memory estimate counts parameters from the config alone; it must agree with the
    built model (every preset, and each norm, position, activation and bias option)."""
    from flax import nnx

    from groklab.engine.setup import param_count
    from groklab.models import MODEL_PRESETS, ModelConfig, build_model, count_params
    from groklab.tasks import make_task

    task, no_op = make_task("div", 97), make_task("div", 97, "no_op")
    configs = [make().resolve_for_task(t.d_vocab, t.n_ctx, t.operand_positions)
               for name, make in MODEL_PRESETS.items()
               for t in [no_op if name == "nanda2023" else task]]
    for positions, norm, where, act, bias in [
            ("learned", "layernorm", "post", "relu", True), ("rope", "rmsnorm", "post", "gelu",
                                                             False),
            ("none", "none", "pre", "swiglu", True), ("alibi", "layernorm", "pre", "silu", True)]:
        configs.append(ModelConfig(n_layers=2, d_model=8, n_heads=2, d_mlp=12,
                                   positions=positions, norm=norm, norm_position=where,
                                   activation=act, use_bias=bias).resolve_for_task(
            task.d_vocab, task.n_ctx, task.operand_positions))
    for cfg in configs:  # counted on the abstract model: shapes only, nothing computed
        assert param_count(cfg) == count_params(nnx.eval_shape(lambda c=cfg: build_model(c))), cfg


def test_the_memory_limit_can_be_set(tiny_run, tmp_path, capsys, monkeypatch):
    """GROKLAB_MEMORY_LIMIT replaces the available RAM: a run that fits the machine is refused
    under a small limit, naming the estimate and the limit; a malformed limit is one line."""
    argv = ["train", *TINY, "--num_seeds", "64", "--out", str(tmp_path / "r")]
    monkeypatch.setenv("GROKLAB_MEMORY_LIMIT", "1M")
    monkeypatch.setattr("groklab.engine.setup.CHECKED_ABOVE", 0)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "of memory" in err and "1.0 MiB of GROKLAB_MEMORY_LIMIT" in err, err
    monkeypatch.setenv("GROKLAB_MEMORY_LIMIT", "lots")
    assert main(argv) == 2
    assert "GROKLAB_MEMORY_LIMIT='lots'" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
