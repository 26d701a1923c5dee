import jax
import pytest

# Implicit rank promotion hides shape bugs (STYLE.md 8): make it an error in every test.
jax.config.update("jax_numpy_rank_promotion", "raise")


TINY = [
    "task.p=7", "model.d_model=16", "model.n_layers=1", "model.dropout=0.1",
    "train.batch_size=8", "train.epochs=6",
]


@pytest.fixture
def tiny_overrides():
    """A run small enough to compile and train in a few seconds."""
    return list(TINY)
