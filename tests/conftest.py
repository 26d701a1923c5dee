import atexit
import os
import shutil
import tempfile

import jax
import pytest

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


TINY = [
    "task.p=7", "model.d_model=16", "model.n_layers=1", "model.dropout=0.1",
    "train.batch_size=8", "train.epochs=6",
]


@pytest.fixture
def tiny_overrides():
    """A run small enough to compile and train in a few seconds."""
    return list(TINY)
