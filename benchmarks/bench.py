"""The benchmark suite (``make bench``): groklab's engine next to the plain reference
implementation (groklab.testing.plain_trainer.PlainTrainer), measured in the same session.

Parts, each in its own process (so peak RSS and compile caches are its own):
- ``core``: matmul peak; compile time, ms per step, ms per evaluation, s per epoch, useful FLOPs
  and fraction of peak, for the engine and the plain reference on the reference workload
  (x/y mod 97, 50 % split, seed-teacher, AdamW, batch 512, 1 seed);
- ``throughput``: seed-steps/s for S = 1, 2, 4, 8, 16 vmapped seeds;
- ``to99``: wall seconds until val ≥ 99 % for seeds 0, 1, 2: the engine through the real CLI
  (``groklab train --stop_at 0.99``, run directory, checkpoints and all) and the plain reference;
  peak RSS and checkpoint size of the engine's runs;
- ``scaling``: ms per step and per evaluation against p, d_model, seeds and batch size;
- ``distill``: ms per step of a 0.5×-width student with each distillation strategy, next to the
  same student trained without a teacher (the reference workload's teacher, 1 epoch trained);
- ``sweep``: wall time of a 16-cell × 5-seed sweep (``groklab sweep``, 4 learning rates × 4
  weight decays on x+y mod 23) with the cells batched into one program vs one compile per cell,
  alternating, and whether both give the same results table;
- ``analysis``: ``groklab analyze --all_checkpoints`` over ~100 checkpoints of a 3-seed
  ``nanda2023`` run on x+y mod 59 (full batch, 1,000 steps) against the wall time of training
  that run, and a single-checkpoint analysis, all whole processes;
- ``seeds``: the seeds' own implementation (``train_nnx.py``, in its own environment) next to
  ``groklab train --preset seed-teacher``: seconds per epoch of each from whole processes of 4
  and 12 epochs (long minus short), interleaved, with the matmul peak measured before and after
  (benchmarks/seeds.py; skipped with a message when ../shared/reference/ is absent);
- ``seeds99`` (not in the default set: ~8 min): seconds to 99 % val of both codes as whole
  processes, seed 42 in both (groklab's is ``--seeds99-seed``).

    .venv/bin/python benchmarks/bench.py            # the default parts, ~17 min on 2 cores
    .venv/bin/python benchmarks/bench.py --quick    # small repeats, no to99 (a smoke test)
    .venv/bin/python benchmarks/bench.py --parts to99   # re-measure one part, keep the rest
    .venv/bin/python benchmarks/bench.py --parts seeds,seeds99  # the side-by-side figures

Writes benchmarks/results.json, docs/figures/scaling.png and the generated tables of
BENCHMARKS.md (between the ``bench:begin``/``bench:end`` markers).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
USER_ENV = dict(os.environ)  # before anything imports groklab (which adds an XLA flag)
THROUGHPUT_SEEDS = (1, 2, 4, 8, 16)


def part_core(quick: bool) -> dict:
    from measure import engine_timing, matmul_peak_gflops, plain_timing

    peak = matmul_peak_gflops()
    repeats = 2 if quick else 5
    engine = engine_timing([], repeats=repeats)
    plain = plain_timing([], epochs=2 if quick else 4)
    flops = engine["useful_gflop_per_step"]
    for r in (engine, plain):
        r["useful_gflops_per_s"] = round(flops / (r["ms_per_step"] / 1000), 1)
        r["fraction_of_peak"] = round(r["useful_gflops_per_s"] / peak, 3)
    return {"matmul_peak_gflops": round(peak, 1), "useful_gflop_per_step": flops,
            "engine": engine, "plain": plain}


def part_throughput(quick: bool) -> dict:
    from measure import engine_timing

    out = {}
    for S in THROUGHPUT_SEEDS:
        out[str(S)] = engine_timing([f"seeds={list(range(S))}"], short=2, long=10,
                                    repeats=1 if quick else 2)
    return out


def part_scaling(quick: bool) -> dict:
    from measure import engine_timing

    axes = {
        "p": [[f"task.p={p}"] for p in (59, 97, 113, 211)],
        "d_model": [[f"model.d_model={d}"] for d in (64, 128, 256, 512)],
        "seeds": [[f"seeds={list(range(S))}"] for S in (1, 8, 64)],
        "batch_size": [[f"train.batch_size={b}"] for b in (128, 512, 2048)],
    }
    if quick:
        axes = {k: v[:2] for k, v in axes.items()}
    reference = {"task.p": "97", "model.d_model": "128", "seeds": "[0]",
                 "train.batch_size": "512"}
    ref = engine_timing([], short=2, long=6, repeats=1)  # measured once, shared by every axis
    out = {}
    for axis, settings in axes.items():
        rows = []
        for overrides in settings:
            key, value = overrides[0].split("=", 1)
            r = ref if reference[key] == value else engine_timing(overrides, short=2, long=6,
                                                                  repeats=1)
            rows.append({"value": value, **r})
        out[axis] = rows
    return out


DISTILL_CASES = {
    "no teacher (scratch)": ["distill.strategies=[]"],
    "logit": ["distill.strategies=[logit]"],
    "attention": ["distill.strategies=[attention]"],
    "feature": ["distill.strategies=[feature]"],
    "logit + attention + feature": ["distill.strategies=[logit, attention, feature]"],
    "logit + attention + feature, learned weights": [
        "distill.strategies=[logit, attention, feature]", "distill.learned_weighting=true"],
}


def part_distill(quick: bool) -> dict:
    from measure import distill_timing

    from groklab.config import RunConfig, apply_overrides
    from groklab.experiments import train_run

    with tempfile.TemporaryDirectory() as tmp:
        teacher = str(Path(tmp) / "teacher")
        train_run(apply_overrides(RunConfig(), ["train.epochs=1"]), teacher, figures=False)
        out = {}
        for name, sets in DISTILL_CASES.items():
            out[name] = distill_timing(teacher, ["distill.student_scale=0.5", *sets],
                                       short=2, long=10, repeats=1 if quick else 3)
    base = out["no teacher (scratch)"]["ms_per_step"]
    for r in out.values():
        r["vs_scratch"] = round(r["ms_per_step"] / base, 2)
    return out


def part_plain99(seed: int) -> dict:
    from measure import plan_for

    from groklab.testing.plain_trainer import PlainTrainer

    t = time.perf_counter()
    plain = PlainTrainer(plan_for([f"seeds=[{seed}]"]))
    r = plain.run_until(0.99, max_epochs=200)
    return {"seed": seed, "epochs": r["epochs"], "s_incl_compile": round(
        time.perf_counter() - t, 1), "val_acc": r["val_acc"]}


def engine99(seed: int, out: Path) -> dict:
    """One `groklab train` process to 99 % val (the full CLI: run directory, checkpoints)."""
    cmd = [str(ROOT / ".venv/bin/groklab"), "train", "--seed", str(seed), "--stop_at", "0.99",
           "--epochs", "200", "--quiet", "--out", str(out)]
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT)
    _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak RSS
    wall = time.perf_counter() - t
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed")
    summary = json.loads((out / "summary.json").read_text())
    ckpt = sum(f.stat().st_size for f in (out / "checkpoints").rglob("*") if f.is_file())
    return {"seed": seed, "epochs": summary["epoch"], "status": summary["status"],
            "s_process": round(wall, 1), "s_summary": summary["wall_time_s"],
            "compile_s": summary["compile_time_s"], "checkpoint_mb": round(ckpt / 2**20, 1),
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}


def part_to99() -> dict:
    engine, plain = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in (0, 1, 2):
            engine.append(engine99(seed, Path(tmp) / f"seed{seed}"))
            shutil.rmtree(Path(tmp) / f"seed{seed}")
    rss = max(r["peak_rss_mb"] for r in engine)
    for seed in (0, 1, 2):
        plain.append(run_part("plain99", seed=seed))
    # like for like with the plain reference: the run's own wall time from its start (compile
    # included) to the evaluation that reached 99 %, checkpoints and metrics files included;
    # the whole process (interpreter, imports, figures) is reported too
    med_e = statistics.median(r["s_summary"] for r in engine)
    med_proc = statistics.median(r["s_process"] for r in engine)
    med_p = statistics.median(r["s_incl_compile"] for r in plain)
    return {"engine": engine, "plain": plain, "engine_peak_rss_mb": round(rss, 1),
            "median_s_engine": med_e, "median_s_engine_process": med_proc,
            "median_s_plain": med_p, "speedup_vs_plain": round(med_p / med_e, 2)}


SWEEP_SPEC = """name: sweep16
base:
  set: {{task.name: add, task.p: 23, task.train_fraction: 0.7, model.d_model: 64,
        model.dropout: 0.0, train.batch_size: 64, train.epochs: {epochs}}}
num_seeds: 5
grid:
  optim.learning_rate: [0.0003, 0.001, 0.003, 0.01]
  optim.weight_decay: [0.03, 0.1, 0.3, 1.0]
batch_cells: {batch}
"""


def _sweep_once(spec: Path, out: Path) -> float:
    cmd = [str(ROOT / ".venv/bin/groklab"), "sweep", str(spec), "--out", str(out)]
    t = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT, capture_output=True)
    return time.perf_counter() - t


def part_sweep(quick: bool) -> dict:
    """16 cells × 5 seeds, the same spec batched and one compile per cell, alternating."""
    epochs, repeats = (20, 1) if quick else (100, 3)
    walls = {"batched": [], "per_cell": []}
    same = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        specs = {}
        for mode, batch in (("batched", "true"), ("per_cell", "false")):
            specs[mode] = tmp / f"{mode}.yaml"
            specs[mode].write_text(SWEEP_SPEC.format(epochs=epochs, batch=batch))
        for i in range(repeats):
            for mode in ("batched", "per_cell") if i % 2 == 0 else ("per_cell", "batched"):
                out = tmp / f"{mode}{i}"
                walls[mode].append(round(_sweep_once(specs[mode], out), 1))
            tables = [(tmp / f"{m}{i}" / "results.csv").read_text() for m in walls]
            programs = {m: len(json.loads((tmp / f"{m}{i}" / "manifest.json").read_text())[
                "groups"]) for m in walls}
            same.append(tables[0] == tables[1])
            for m in walls:
                shutil.rmtree(tmp / f"{m}{i}")
    med = {m: statistics.median(v) for m, v in walls.items()}
    return {"cells": 16, "seeds": 5, "epochs": epochs, "steps_per_cell": epochs * 6,
            "walls_s": walls, "median_s": med,
            "speedup": round(med["per_cell"] / med["batched"], 2), "programs": programs,
            "same_results_table": all(same)}


ANALYSIS_TRAIN = [
    "train", "--preset", "nanda2023", "--task", "add", "--p", "59", "--set", "task.layout=no_op",
    "--train_fraction", "0.4", "--batch_size", "2000", "--num_seeds", "3", "--eval_every", "10",
    "--set", "train.checkpoint_every=10", "--quiet"]


def _timed(args: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run([str(ROOT / ".venv/bin/groklab"), *args], check=True, cwd=ROOT,
                   capture_output=True)
    return time.perf_counter() - t


def part_analysis(quick: bool) -> dict:
    """Training a run with ~100 checkpoints vs analysing all of them (and one)."""
    steps, repeats = (200, 1) if quick else (1000, 3)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(repeats):
            run = Path(tmp) / f"run{i}"
            train_s = _timed([*ANALYSIS_TRAIN, "--steps", str(steps), "--out", str(run)])
            ckpts = len(list((run / "checkpoints" / "params").iterdir()))
            one_s = _timed(["analyze", str(run), "--out", str(run / "one")])
            all_s = _timed(["analyze", str(run), "--all_checkpoints", "--out", str(run / "all")])
            rows.append({"train_s": round(train_s, 1), "checkpoints": ckpts,
                         "analyze_one_s": round(one_s, 1), "analyze_all_s": round(all_s, 1)})
    med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
    return {"steps": steps, "seeds": 3, "runs": rows, "median": med,
            "all_vs_train": round(med["analyze_all_s"] / med["train_s"], 2)}


def run_part(name: str, quick: bool = False, seed: int | None = None) -> dict:
    """Run one part in a fresh Python process; return its JSON (and its own peak RSS)."""
    cmd = [sys.executable, str(Path(__file__)), "--part", name]
    if quick:
        cmd.append("--quick")
    if seed is not None:
        cmd += ["--seed", str(seed)]
    t = time.perf_counter()
    proc = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(HERE)})
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["part_wall_s"] = round(time.perf_counter() - t, 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="few repeats, no to99 (smoke test)")
    ap.add_argument("--part", choices=["core", "throughput", "scaling", "distill", "plain99"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--parts", help="comma-separated subset of core,throughput,to99,scaling,"
                    "distill,sweep,analysis,seeds,seeds99 (re-measured and merged into the "
                    "existing results.json); seeds99 is measured only when named here")
    ap.add_argument("--seeds99-seed", type=int, default=42,
                    help="groklab's seed in the seeds99 part (the seeds' code runs its seed 42)")
    ap.add_argument("--out", help="results file (default benchmarks/results.json; with --quick "
                    "benchmarks/out/results_quick.json)")
    args = ap.parse_args()
    if args.part:
        fn = {"core": lambda: part_core(args.quick), "throughput": lambda:
              part_throughput(args.quick), "scaling": lambda: part_scaling(args.quick),
              "distill": lambda: part_distill(args.quick),
              "plain99": lambda: part_plain99(args.seed)}[args.part]
        out = fn()
        out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        print(json.dumps(out))
        return
    from importlib.metadata import version

    import seeds
    from report import print_summary, update_benchmarks_md, write_figure

    t0 = time.perf_counter()
    default_parts = ["core", "throughput", "to99", "scaling", "distill", "sweep", "analysis",
                     "seeds"]
    known = [*default_parts, "seeds99"]
    parts = args.parts.split(",") if args.parts else default_parts
    unknown = [p for p in parts if p not in known]
    if unknown:
        ap.error(f"--parts {','.join(unknown)}: not a part; choose among {','.join(known)}")
    if args.quick:
        parts = [p for p in parts if p != "to99"]
    default = HERE / "out" / "results_quick.json" if args.quick else HERE / "results.json"
    out_path = Path(args.out) if args.out else default
    out_path.parent.mkdir(parents=True, exist_ok=True)
    now = time.strftime("%Y-%m-%d %H:%M")
    if args.parts and out_path.exists():  # re-measure some parts, keep the others' figures
        results = json.loads(out_path.read_text())  # (and the machine they were measured on)
        reruns = results.pop("reruns", []) + ([results.pop("rerun")] if "rerun" in results
                                                else [])
        # the parts measured now replace their earlier re-measurements
        reruns = [x for x in reruns if set(x["parts"]) - set(parts)]
        results["reruns"] = [*reruns, {"parts": parts, "date": now, "machine": machine()}]
    else:
        results = {"date": now, "machine": machine()}
    previous = json.loads(out_path.read_text()) if out_path.exists() else {}
    if "seeds99" not in parts and "skipped" not in previous.get("seeds99", {"skipped": 1}):
        results["seeds99"] = previous["seeds99"]  # opt-in part: kept, with its own date and CPU
    results.update({"jax": version("jax"), "quick": args.quick})
    for name in parts:
        if name == "to99":
            results[name] = part_to99()
        elif name == "sweep":
            results[name] = part_sweep(args.quick)
        elif name == "analysis":
            results[name] = part_analysis(args.quick)
        elif name in ("seeds", "seeds99"):
            r = (seeds.part_seeds(args.quick, USER_ENV) if name == "seeds" else
                 seeds.part_seeds99(USER_ENV, args.seeds99_seed,
                                    per_epoch_part=results.get("seeds")))
            if "skipped" in r and "skipped" not in previous.get(name, {"skipped": 1}):
                # no seeds' code here (e.g. CI): keep the figures measured where it was, which
                # carry their own date, CPU and peak
                print(f"[bench] {name}: keeping the figures of {previous[name].get('date')}",
                      file=sys.stderr, flush=True)
                r = previous[name]
            else:
                r.update(machine=machine(), date=now)
            results[name] = r
        else:
            results[name] = run_part(name, args.quick)
        print(f"[bench] {name} done after {time.perf_counter() - t0:.0f} s", flush=True)
    if not args.parts:
        results["total_s"] = round(time.perf_counter() - t0, 1)
    out_path.write_text(json.dumps(results, indent=2) + "\n")
    if not args.quick:
        write_figure(results, ROOT / "docs" / "figures" / "scaling.png")
        update_benchmarks_md(results, ROOT / "BENCHMARKS.md")
    print_summary(results)


def machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "commit": _commit()}


def _commit() -> str | None:
    """The checked-out commit the benchmark ran (``+dirty`` when src/ had local changes)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                              capture_output=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src"], cwd=ROOT,
                               text=True, capture_output=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+dirty" if dirty else "")


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    main()
