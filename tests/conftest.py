import atexit
import fcntl
import os
import shutil
import tempfile
from pathlib import Path

import jax
import pytest

# The suite is dominated by XLA compiling tiny programs: LLVM's optimizations cost ~40 % of each
# compile and buy nothing at this size. Tests compare code paths compiled under the same flags;
# tests/test_reference.py runs its stored-metrics check in a subprocess without this flag.
TEST_XLA_FLAG = "--xla_backend_optimization_level=0"
os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {TEST_XLA_FLAG}".strip()

# Implicit rank promotion hides shape bugs: make it an error in every test.
jax.config.update("jax_numpy_rank_promotion", "raise")

# Many tests compile the same tiny programs again (a run and its resume, batched and unbatched
# sweeps): a compilation cache shared by the session's processes (Ray workers and CLI
# subprocesses inherit it through the environment) compiles each once. It lives in a fresh
# temporary directory, so nothing carries over between sessions.
_CACHE = tempfile.mkdtemp(prefix="groklab-test-jax-cache-")
atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)
os.environ["JAX_COMPILATION_CACHE_DIR"] = _CACHE
os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"
jax.config.update("jax_compilation_cache_dir", _CACHE)
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
# groklab's commands leave the cache to JAX when JAX_COMPILATION_CACHE_DIR is set and
# GROKLAB_COMPILE_CACHE is not (groklab.compile_cache): no test writes into ~/.cache/groklab, and
# a developer's own GROKLAB_COMPILE_CACHE does not leak in (tests/test_compile_cache.py sets it).
os.environ.pop("GROKLAB_COMPILE_CACHE", None)


TINY = [
    "task.p=7", "model.d_model=16", "model.n_layers=1", "model.dropout=0.1",
    "train.batch_size=8", "train.epochs=6",
]


@pytest.fixture
def tiny_overrides():
    """A run small enough to compile and train in a few seconds."""
    return list(TINY)


# A small grokking-task run that distillation (as the teacher) and transfer (as the source) tests
# start from: x+y mod 11, 2 seeds, 6 epochs.
SHARED_SOURCE = ["task.name=add", "task.p=11", "task.train_fraction=0.6", "model.d_model=32",
                 "model.n_heads=2", "model.d_mlp=64", "model.n_layers=1", "model.dropout=0.0",
                 "train.batch_size=32", "train.epochs=6", "seeds=[0, 1]"]


def _shared_dir(tmp_path_factory) -> Path:
    """A directory every pytest-xdist worker of this session sees (the session's own temp
    directory without xdist)."""
    base = tmp_path_factory.getbasetemp()
    run_id = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    return base.parent / f"shared-{run_id}" if run_id else base / "shared"


@pytest.fixture(scope="session")
def shared_source(tmp_path_factory) -> Path:
    """The SHARED_SOURCE run directory, trained once per test session however many workers ask
    (the first takes a lock and trains, the others wait and reuse it). Read it, never write."""
    from groklab.config import RunConfig, apply_overrides
    from groklab.experiments import train_run

    root = _shared_dir(tmp_path_factory)
    root.mkdir(parents=True, exist_ok=True)
    out = root / "source"
    with open(root / "source.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (out / "summary.json").exists():
            tmp = root / "source.partial"
            shutil.rmtree(tmp, ignore_errors=True)
            train_run(apply_overrides(RunConfig(), SHARED_SOURCE), tmp, figures=False)
            tmp.rename(out)
    return out
