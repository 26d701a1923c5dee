"""Timing primitives of the benchmark suite: the engine and the plain reference on one
configuration, the machine's matmul peak, and the useful FLOPs of a training step.

Every figure is a median of repeats. The engine's per-step cost is the difference of two chunks
(``long`` and ``short`` steps, each followed by one evaluation) divided by their step difference,
so it excludes the evaluation; the evaluation's cost is what remains of the short chunk.
"""

from __future__ import annotations

import statistics
import time

import jax
import jax.numpy as jnp

from groklab.config import RunConfig, apply_overrides
from groklab.engine.loop import Engine
from groklab.engine.setup import plan_run
from groklab.models import ModelConfig
from groklab.testing.plain_trainer import PlainTrainer

REFERENCE = ["train.epochs=300"]  # the reference workload is the default configuration


def plan_for(overrides: list[str]):
    return plan_run(apply_overrides(RunConfig(), REFERENCE + overrides))


def _timed(fn) -> float:
    t = time.perf_counter()
    jax.block_until_ready(fn())
    return time.perf_counter() - t


def engine_timing(overrides: list[str], short: int | None = None, long: int | None = None,
                  repeats: int = 3) -> dict:
    """Compile time, ms per training step, ms per full evaluation and seconds per epoch of the
    engine (all seeds of the configuration in one program)."""
    plan = plan_for(overrides)
    return time_engine(plan, Engine(plan), short, long, repeats)


def distill_timing(teacher: str, distill: list[str], short: int | None = None,
                   long: int | None = None, repeats: int = 3) -> dict:
    """The same figures for a distillation run from ``teacher`` (a run directory) with the
    ``distill.*`` overrides (the student's recipe is the teacher's)."""
    from groklab.distill.setup import engine_setup
    from groklab.runs.rundir import RunDir

    base = RunDir(teacher).load_config()
    cfg = apply_overrides(base, [f"distill.teacher={teacher}", *distill])
    setup = engine_setup(cfg)
    out = time_engine(setup.plan, Engine.from_setup(setup), short, long, repeats)
    out["d_model"] = setup.plan.config.model.d_model
    return out


def time_engine(plan, engine: Engine, short: int | None, long: int | None,
                repeats: int) -> dict:
    spe = plan.steps_per_epoch
    short = short or spe
    long = long or 3 * spe
    state = engine.initial_state()

    def chunk(n):
        nonlocal state
        state, metrics = engine._chunk(n, state, 0)
        return metrics

    t0 = time.perf_counter()
    jax.block_until_ready(chunk(short))
    first_chunk = time.perf_counter() - t0
    jax.block_until_ready(chunk(long))  # compiles the long chunk too
    shorts, longs = [], []
    for _ in range(repeats):
        shorts.append(_timed(lambda: chunk(short)))
        longs.append(_timed(lambda: chunk(long)))
    t_short, t_long = statistics.median(shorts), statistics.median(longs)
    step = max(t_long - t_short, 0.0) / (long - short)
    evaluation = max(t_short - short * step, 0.0)
    return {
        "seeds": plan.n_seeds, "steps_per_epoch": spe,
        "compile_s": round(engine.compile_time_s / 2, 3),  # per compiled chunk length
        "first_chunk_s_incl_compile": round(first_chunk, 3),
        "ms_per_step": round(1000 * step, 2),
        "ms_per_seed_step": round(1000 * step / plan.n_seeds, 2),
        "ms_per_eval": round(1000 * evaluation, 1),
        "s_per_epoch": round(spe * step + evaluation, 4),
        "seed_steps_per_s": round(plan.n_seeds / step, 1) if step else None,
        "useful_gflop_per_step": round(plan.n_seeds * train_step_flops(
            plan.config.model, plan.batch_size) / 1e9, 3),
    }


def plain_timing(overrides: list[str], epochs: int = 3) -> dict:
    """The same figures for the plain reference (jit per step, full forward, eval per epoch)."""
    plan = plan_for(overrides)
    plain = PlainTrainer(plan)
    spe = plain.steps_per_epoch
    t0 = time.perf_counter()
    plain.train_epoch(0)
    plain.evaluate()
    first_epoch = time.perf_counter() - t0
    steps, evals = [], []
    for e in range(1, epochs + 1):
        t = time.perf_counter()
        plain.train_epoch(e)
        jax.block_until_ready(plain.params)
        steps.append((time.perf_counter() - t) / spe)
        t = time.perf_counter()
        plain.evaluate()
        evals.append(time.perf_counter() - t)
    step, evaluation = statistics.median(steps), statistics.median(evals)
    return {
        "first_epoch_s_incl_compile": round(first_epoch, 3),
        "compile_s": round(max(first_epoch - spe * step - evaluation, 0.0), 3),
        "ms_per_step": round(1000 * step, 2),
        "ms_per_eval": round(1000 * evaluation, 1),
        "s_per_epoch": round(spe * step + evaluation, 4),
        "seed_steps_per_s": round(1 / step, 1),
    }


def matmul_peak_gflops(n: int = 2048, repeats: int = 10) -> float:
    """The machine's float32 matmul rate: median over ``repeats`` of an n×n×n product."""
    a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
    f = jax.jit(lambda x: x @ x)
    jax.block_until_ready(f(a))
    t = statistics.median(_timed(lambda: f(a)) for _ in range(repeats))
    return 2 * n**3 / t / 1e9


def forward_flops(cfg: ModelConfig, last_only: bool = True) -> int:
    """Matrix-multiply FLOPs (2 per multiply-add) of one row's forward pass through a
    transformer: what the answer logits need when ``last_only`` (the last block computes keys
    and values for every position, everything else for the last; causal attention reads the
    lower triangle), or every position otherwise. Elementwise work is not counted."""
    T, d, V = cfg.n_ctx, cfg.d_model, cfg.d_vocab
    hd = cfg.n_heads * cfg.head_dim
    mlp = 2 * d * cfg.mlp_dim * (3 if cfg.activation == "swiglu" else 2)
    pairs = T * (T + 1) // 2 if cfg.causal else T * T  # (query, key) pairs read
    full = T * (2 * d * 3 * hd + 2 * hd * d + mlp) + 2 * 2 * pairs * hd
    last = T * 2 * d * 2 * hd + (2 * d * hd + 2 * hd * d + mlp) + 2 * 2 * T * hd
    n = cfg.n_layers
    blocks = (n - 1) * full + last if last_only else n * full
    return blocks + 2 * d * V * (1 if last_only else T)


def train_step_flops(cfg: ModelConfig, batch: int) -> int:
    """Useful FLOPs of one training step: forward + backward (2× forward) over the batch."""
    return 3 * batch * forward_flops(cfg)
