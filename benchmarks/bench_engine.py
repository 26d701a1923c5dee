"""Engine benchmark on the reference workload (x/y mod 97, 50 % split, seed-teacher, AdamW,
batch 512): compile time, ms per training step, ms per full evaluation, seconds per epoch, peak
RSS and (with --to99) wall seconds until every seed reaches 99 % val.

Run each seed count in its own process so peak RSS is that configuration's own:

    .venv/bin/python benchmarks/bench_engine.py --seeds 1 --to99
    .venv/bin/python benchmarks/bench_engine.py --seeds 8

Prints one JSON object and writes it to benchmarks/out/engine_S{S}.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time
from pathlib import Path

import jax

from groklab.config import RunConfig, apply_overrides
from groklab.engine.loop import Engine
from groklab.engine.setup import plan_run


def measure(n_seeds: int, repeats: int, to99: bool, max_epochs: int) -> dict:
    cfg = apply_overrides(RunConfig(), [f"seeds={list(range(n_seeds))}",
                                        f"train.epochs={max_epochs}", "train.stop_at=0.99"])
    plan = plan_run(cfg)
    engine = Engine(plan)
    spe = plan.steps_per_epoch
    state = engine.initial_state()
    t0 = time.perf_counter()
    state, m = engine._chunk(spe, state, 0)
    jax.block_until_ready(m)
    first_epoch = time.perf_counter() - t0
    epochs, evals = [], []
    for r in range(repeats):
        t = time.perf_counter()
        state, m = engine._chunk(spe, state, spe * (r + 1))
        jax.block_until_ready(m)
        epochs.append(time.perf_counter() - t)
    jax.block_until_ready(engine.program.evaluate_all(engine.data, state.params))
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(engine.program.evaluate_all(engine.data, state.params))
        evals.append(time.perf_counter() - t)
    s_epoch, s_eval = statistics.median(epochs), statistics.median(evals)
    out = {
        "workload": "div p=97, train_fraction 0.5, seed-teacher, AdamW lr 1e-3 wd 1, batch 512",
        "seeds": n_seeds, "steps_per_epoch": spe,
        "compile_time_s": round(engine.compile_time_s, 3),
        "first_epoch_s_incl_compile": round(first_epoch, 3),
        "s_per_epoch": round(s_epoch, 3),
        "ms_per_eval": round(1000 * s_eval, 1),
        "ms_per_step": round(1000 * (s_epoch - s_eval) / spe, 1),
        "ms_per_seed_step": round(1000 * (s_epoch - s_eval) / spe / n_seeds, 1),
        "repeats": repeats, "jax_backend": jax.default_backend(),
    }
    if to99:
        fresh = Engine(plan)
        t = time.perf_counter()
        result = fresh.run()
        out["s_to_99_all_seeds_incl_compile"] = round(time.perf_counter() - t, 1)
        out["epochs_to_99"] = [m.epochs_to[0.99] for m in result.milestones]
        out["status"] = result.status
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--to99", action="store_true", help="also train until every seed has 99 %")
    ap.add_argument("--max_epochs", type=int, default=300)
    args = ap.parse_args()
    out = measure(args.seeds, args.repeats, args.to99, args.max_epochs)
    print(json.dumps(out))
    dest = Path(__file__).parent / "out" / f"engine_S{args.seeds}.json"
    dest.parent.mkdir(exist_ok=True)
    dest.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
