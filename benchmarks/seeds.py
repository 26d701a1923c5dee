"""The seeds' own implementation, timed side by side with groklab (the ``seeds`` and ``seeds99``
parts of ``make bench``).

The seeds' scripts live outside this repository, unmodified with their licence, in
``../shared/reference/seed-implementation/`` (override with ``GROKLAB_SEEDS_IMPL=DIR``). They
need their own environment (jax 0.7.1, flax 0.11.2: they do not run on flax 0.12), which is
built once from the package registry into the git-ignored ``benchmarks/.seeds-venv``. When the
folder is absent, both parts are skipped with a message and the rest of ``make bench`` runs.

Both codes run as whole processes, as a user would run them:

- the seeds': ``python train_nnx.py --p 97 --epochs N --save_dir D --checkpoint_dir D/ckpt``
  (x/y mod 97, 50 % split, their teacher recipe, batch 512, seed 42, a checkpoint every epoch),
  run in place with a scratch directory as its working directory;
- groklab's: ``groklab train --preset seed-teacher --epochs N --quiet --out D`` (the same task,
  model and recipe; its default checkpoint schedule).

Seconds per epoch are ``(T(long) - T(short)) / (long - short)`` of whole processes, so start-up,
imports and compilation cancel (4 and 12 epochs for the seeds' code, 4 and 44 for groklab's,
after one untimed warm-up process of each; the two codes' runs alternate). Seconds to 99 % val
are whole-process wall times: groklab with ``--stop_at 0.99``; the seeds' script has no stop
rule, so its ``training_history.json`` (written after every epoch) is polled and the process is
ended as soon as an epoch reaches 99 %.

The pure helpers (``per_epoch``, ``epoch_reaching``, ``stdout_history``, ``ratios``) are tested in
tests/test_bench_seeds.py; nothing there times, builds or downloads anything.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_IMPL = ROOT.parent / "shared" / "reference" / "seed-implementation"
VENV = HERE / ".seeds-venv"
PACKAGES = ["jax==0.7.1", "jaxlib==0.7.1", "flax==0.11.2", "optax==0.2.8",
            "orbax-checkpoint==0.12.8", "numpy", "pyyaml"]
SEEDS_SEED = 42  # train_nnx.py's default seed


# ---------------------------------------------------------------------------------------------
# pure helpers (tested)

def per_epoch(t_short: float, t_long: float, e_short: int, e_long: int) -> float:
    """Seconds per epoch from two whole runs of ``e_short`` and ``e_long`` epochs: the fixed
    costs (start-up, imports, compilation, the first epoch's extra) cancel in the difference."""
    if e_long <= e_short:
        raise ValueError(f"the long run ({e_long} epochs) must be longer than the short one "
                         f"({e_short})")
    if min(t_short, t_long) < 0:
        raise ValueError("times must be non-negative")
    return (t_long - t_short) / (e_long - e_short)


def per_epoch_summary(shorts: list[float], longs: list[float], e_short: int,
                      e_long: int) -> dict:
    """Per-epoch seconds from repeats: the difference of the minima (least disturbed by other
    load) and of the medians, and each repeat's own pair."""
    if not shorts or len(shorts) != len(longs):
        raise ValueError("need as many long runs as short runs, at least one")
    return {
        "s_per_epoch_min": round(per_epoch(min(shorts), min(longs), e_short, e_long), 4),
        "s_per_epoch_median": round(per_epoch(statistics.median(shorts),
                                              statistics.median(longs), e_short, e_long), 4),
        "s_per_epoch_each": [round(per_epoch(s, lo, e_short, e_long), 4)
                             for s, lo in zip(shorts, longs)],
        "fixed_s_min": round(min(shorts) - e_short * per_epoch(min(shorts), min(longs),
                                                               e_short, e_long), 2),
    }


def epoch_reaching(history: dict, threshold: float = 0.99, key: str = "val_acc") -> int | None:
    """The first epoch whose ``key`` is ≥ ``threshold`` in a training_history.json of the seeds'
    script (parallel lists ``epoch``, ``val_acc``, …; accuracies as fractions), or None."""
    epochs, values = history.get("epoch", []), history.get(key, [])
    if len(epochs) != len(values):
        raise ValueError(f"training history: {len(epochs)} epochs but {len(values)} {key} values")
    for epoch, value in zip(epochs, values):
        if value is not None and value >= threshold:
            return int(epoch)
    return None


_EPOCH_LINE = re.compile(r"Epoch\s+(\d+)/(\d+)\s+\(\s*(\d+) steps, ([\d.]+)s\):.*?"
                         r"train_acc=([\d.]+)%.*?val_acc=([\d.]+)%")


def stdout_history(text: str) -> dict:
    """The epochs the seeds' script printed (epoch 1 and every 10th): ``{"epoch": [...],
    "val_acc": [...], "train_acc": [...], "epoch_s": [...]}`` with accuracies as fractions."""
    out = {"epoch": [], "train_acc": [], "val_acc": [], "epoch_s": []}
    for m in _EPOCH_LINE.finditer(text):
        out["epoch"].append(int(m.group(1)))
        out["epoch_s"].append(float(m.group(4)))
        out["train_acc"].append(float(m.group(5)) / 100)
        out["val_acc"].append(float(m.group(6)) / 100)
    return out


def ratios(seeds: dict, groklab: dict) -> dict:
    """seeds / groklab for every figure both have (per-epoch and to-99 % seconds)."""
    out = {}
    for k in ("s_per_epoch_min", "s_per_epoch_median", "s_to_99", "s_per_epoch_to_99"):
        a, b = seeds.get(k), groklab.get(k)
        if a is not None and b:
            out[k] = round(a / b, 2)
    return out


# ---------------------------------------------------------------------------------------------
# the environment and the runs

def impl_dir() -> Path:
    return Path(os.environ.get("GROKLAB_SEEDS_IMPL", DEFAULT_IMPL)).resolve()


def missing_reason(impl: Path) -> str | None:
    """Why the seeds' part cannot run here (None when it can)."""
    if not (impl / "src" / "train_nnx.py").is_file():
        return (f"the seeds' implementation is not at {impl} (expected src/train_nnx.py; set "
                "GROKLAB_SEEDS_IMPL to its folder): the seeds parts are skipped")
    return None


def ensure_venv(venv: Path = VENV) -> Path:
    """Build the seeds' environment once (from the package registry); return its python."""
    py = venv / "bin" / "python"
    stamp = venv / ".installed"
    wanted = "\n".join(PACKAGES) + "\n"
    if py.exists() and stamp.exists() and stamp.read_text() == wanted:
        return py
    print(f"[bench] building the seeds' environment in {venv} ({' '.join(PACKAGES)})",
          file=sys.stderr, flush=True)
    base = shutil.which("python3") or sys.executable
    subprocess.run([base, "-m", "venv", "--clear", str(venv)], check=True)
    subprocess.run([str(py), "-m", "pip", "install", "--quiet", "--upgrade", "pip"], check=True)
    subprocess.run([str(py), "-m", "pip", "install", "--quiet", *PACKAGES], check=True)
    stamp.write_text(wanted)
    return py


def clean_env(base: dict) -> dict:
    """The environment ``make bench`` was started with (bench.py snapshots it before anything
    imports groklab, which adds its own XLA flag), so the seeds' code runs under its defaults."""
    env = {k: v for k, v in base.items() if k not in ("PYTHONPATH",)}
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # the scripts' folder is read-only, and not ours
    return env


def _history(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):  # not written yet, or caught mid-write
        return None


def run_seeds(py: Path, impl: Path, epochs: int, scratch: Path, env: dict,
              stop_at: float | None = None, poll_s: float = 0.2) -> dict:
    """One whole ``train_nnx.py`` process in ``scratch``: wall seconds, and with ``stop_at`` the
    seconds and epoch at which training_history.json first shows val ≥ stop_at (the process is
    then ended: the script has no stop rule of its own)."""
    scratch.mkdir(parents=True, exist_ok=True)
    save = scratch / "run"
    cmd = [str(py), str(impl / "src" / "train_nnx.py"), "--p", "97", "--epochs", str(epochs),
           "--seed", str(SEEDS_SEED), "--save_dir", str(save), "--checkpoint_dir",
           str(save / "ckpt")]
    log = (scratch / "stdout.txt").open("w")
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=scratch, env=env, stdout=log, stderr=subprocess.STDOUT)
    reached_s = reached_epoch = None
    history_file, seen = save / "training_history.json", 0.0
    while proc.poll() is None:
        time.sleep(poll_s)
        if stop_at is None:
            continue
        try:
            mtime = history_file.stat().st_mtime
        except OSError:
            continue
        if mtime == seen:
            continue
        history = _history(history_file)
        if history is None:
            continue
        seen = mtime
        epoch = epoch_reaching(history, stop_at)
        if epoch is not None:
            reached_s, reached_epoch = time.perf_counter() - t0, epoch
            proc.send_signal(signal.SIGTERM)
            proc.wait()
            break
    wall = time.perf_counter() - t0
    log.close()
    text = (scratch / "stdout.txt").read_text(errors="replace")
    if reached_epoch is None and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{text[-2000:]}")
    history = _history(history_file) or {}
    if stop_at is not None and reached_epoch is None:  # finished first: read the final history
        reached_epoch = epoch_reaching(history, stop_at)
    out = {"epochs": epochs, "s_process": round(wall, 2),
           "epochs_run": len(history.get("epoch", [])),
           "first_epoch_s": (stdout_history(text)["epoch_s"] or [None])[0]}
    if stop_at is not None:
        out.update({"epoch_to_99": reached_epoch,
                    "s_to_99": None if reached_s is None else round(reached_s, 2)})
    return out


def run_groklab(epochs: int, out: Path, seed: int | None = None,
                stop_at: float | None = None) -> dict:
    """One whole ``groklab train --preset seed-teacher`` process: wall seconds, the run's own
    wall and compile time, and with ``stop_at`` the epoch it stopped at."""
    cmd = [str(ROOT / ".venv" / "bin" / "groklab"), "train", "--preset", "seed-teacher",
           "--epochs", str(epochs), "--quiet", "--out", str(out)]
    if seed is not None:
        cmd += ["--seed", str(seed)]
    if stop_at is not None:
        cmd += ["--stop_at", str(stop_at)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    text, _ = proc.communicate()
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n"
                           f"{text.decode(errors='replace')[-2000:]}")
    summary = json.loads((out / "summary.json").read_text())
    r = {"epochs": epochs, "s_process": round(wall, 2), "s_run": summary.get("wall_time_s"),
         "compile_s": summary.get("compile_time_s"), "epochs_run": summary.get("epoch")}
    if stop_at is not None:
        r["epoch_to_99"] = summary.get("epoch") if summary.get("status") == "stopped_early" \
            else None
        r["s_to_99"] = round(wall, 2) if r["epoch_to_99"] is not None else None
    return r


def _load() -> float | None:
    """The 1-minute load average (other processes on a shared machine slow both codes)."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def peak_gflops() -> float:
    """The float32 matmul peak (benchmarks/measure.py), in groklab's environment, now."""
    code = "from measure import matmul_peak_gflops; print(matmul_peak_gflops())"
    out = subprocess.run([str(ROOT / ".venv" / "bin" / "python"), "-c", code], check=True,
                         capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(HERE)})
    return round(float(out.stdout.strip().splitlines()[-1]), 1)


# whole-process lengths (short, long) in epochs: the long run's extra epochs cost each code
# some 20-30 s, well above the few seconds by which a process's start-up varies on a shared machine
LENGTHS = {"seeds": (4, 12), "groklab": (4, 44)}
QUICK_LENGTHS = {"seeds": (2, 4), "groklab": (2, 10)}


def _ready(env: dict) -> dict:
    """The seeds' code, its environment (built once) and a clean process environment; or
    ``{"skipped": reason}`` (printed) when the reference folder is absent."""
    impl = impl_dir()
    reason = missing_reason(impl)
    if reason:
        print(f"[bench] {reason}", file=sys.stderr, flush=True)
        return {"skipped": reason}
    return {"impl": impl, "py": ensure_venv(), "env": clean_env(env)}


def part_seeds(quick: bool, env: dict) -> dict:
    """Seconds per epoch of both codes, long minus short whole processes, interleaved."""
    ready = _ready(env)
    if "skipped" in ready:
        return ready
    impl, py, env = ready["impl"], ready["py"], ready["env"]
    lengths, repeats = (QUICK_LENGTHS, 1) if quick else (LENGTHS, 2)
    load = [_load()]
    peaks = [peak_gflops()]
    times = {code: {"short": [], "long": []} for code in lengths}
    firsts, warmup = [], {}
    with tempfile.TemporaryDirectory(prefix="groklab-bench-seeds-") as tmp:
        tmp = Path(tmp)

        def run(code: str, n: int, name: str) -> dict:
            scratch = tmp / name
            r = run_seeds(py, impl, n, scratch, env) if code == "seeds" else run_groklab(
                n, scratch)
            shutil.rmtree(scratch, ignore_errors=True)
            print(f"[bench] seeds part: {code} {n} epochs {r['s_process']:.1f} s",
                  file=sys.stderr, flush=True)
            return r

        for code in lengths:  # untimed: the first process of each reads its files from disk
            warmup[code] = run(code, 1, f"{code}-warmup")["s_process"]
        for i in range(repeats):
            # alternate which code goes first, so a burst of load falls on both
            codes = ("seeds", "groklab") if i % 2 == 0 else ("groklab", "seeds")
            for k, length in enumerate(("short", "long")):
                for code in codes:
                    r = run(code, lengths[code][k], f"{code}-{length}-{i}")
                    times[code][length].append(r["s_process"])
                    if code == "seeds":
                        firsts.append(r["first_epoch_s"])
    peaks.append(peak_gflops())
    load.append(_load())
    out = {"impl": str(impl), "packages": PACKAGES, "seed": SEEDS_SEED, "repeats": repeats,
           "matmul_peak_gflops": peaks, "seeds_first_epoch_s": firsts, "warmup_s": warmup,
           "load_average_1min": load}
    for code, (e_short, e_long) in lengths.items():
        t = times[code]
        out[code] = {"epochs_short": e_short, "epochs_long": e_long,
                     "s_process_short": t["short"], "s_process_long": t["long"],
                     **per_epoch_summary(t["short"], t["long"], e_short, e_long)}
    out["ratio"] = ratios(out["seeds"], out["groklab"])
    return out


def part_seeds99(env: dict, groklab_seed: int, max_epochs: int = 200,
                 per_epoch_part: dict | None = None) -> dict:
    """Seconds to 99 % val as whole processes: the seeds' code (seed 42) and groklab (seed
    ``groklab_seed``), one after the other, with the matmul peak measured in between."""
    ready = _ready(env)
    if "skipped" in ready:
        return ready
    impl, py, env = ready["impl"], ready["py"], ready["env"]
    load = [_load()]
    with tempfile.TemporaryDirectory(prefix="groklab-bench-seeds99-") as tmp:
        tmp = Path(tmp)
        g = run_groklab(max_epochs, tmp / "groklab", seed=groklab_seed, stop_at=0.99)
        print(f"[bench] seeds99 part: groklab {g}", file=sys.stderr, flush=True)
        peak = peak_gflops()
        s = run_seeds(py, impl, max_epochs, tmp / "seeds", env, stop_at=0.99)
        print(f"[bench] seeds99 part: seeds {s}", file=sys.stderr, flush=True)
    for r in (s, g):
        r["s_per_epoch_to_99"] = (round(r["s_to_99"] / r["epoch_to_99"], 3)
                                  if r.get("s_to_99") and r.get("epoch_to_99") else None)
    load.append(_load())
    out = {"impl": str(impl), "seeds_seed": SEEDS_SEED, "groklab_seed": groklab_seed,
           "max_epochs": max_epochs, "matmul_peak_gflops": peak, "seeds": s, "groklab": g,
           "ratio": ratios(s, g), "load_average_1min": load}
    # groklab's whole process stretched (or shrunk) to the seeds' epoch at its own per-epoch
    # cost from the seeds part: the ratio at equal epochs
    pe = (per_epoch_part or {}).get("groklab", {}).get("s_per_epoch_median")
    if pe and s.get("epoch_to_99") and g.get("epoch_to_99") and s.get("s_to_99"):
        g_equal = g["s_to_99"] + (s["epoch_to_99"] - g["epoch_to_99"]) * pe
        out["groklab_s_at_seeds_epoch"] = round(g_equal, 1)
        out["ratio"]["s_to_99_equal_epochs"] = round(s["s_to_99"] / g_equal, 2)
    return out
