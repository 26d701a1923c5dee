"""Property: every config file groklab train is given either runs or is refused in one line.

Hypothesis mutates a tiny valid config (wrong types, out-of-range, huge and non-finite numbers,
strings, unknown keys, whole sections replaced) and writes it as YAML or JSON. ``groklab
train --config FILE`` must then either accept it, or exit 2 with exactly one stderr line
``groklab: error: ...`` and no traceback, leaving nothing behind. Accepted configs are
validated exactly as for training; the first two small ones really train (2 steps), the rest
stop where compiling would begin (``Engine.from_setup``), so the property costs seconds, not
minutes (docs/reliability.md §4)."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from groklab.cli.main import main
from groklab.engine.loop import Engine
from groklab.engine.setup import param_count

BASE = {
    "task": {"name": "div", "p": 7},
    "model": {"d_model": 16, "n_layers": 1, "n_heads": 1, "dropout": 0.0},
    "optim": {"learning_rate": 1e-3},
    "train": {"batch_size": 8, "steps": 2},
    "seeds": [0],
}
KEYS = {
    "task": ["name", "p", "train_fraction", "label_noise", "split_seed", "layout"],
    "model": ["kind", "n_layers", "d_model", "n_heads", "d_head", "d_mlp", "positions",
              "rope_base", "norm", "norm_eps", "norm_position", "activation", "dropout",
              "use_bias", "causal", "mlp_width", "mlp_activation", "mlp_output_scale"],
    "optim": ["name", "learning_rate", "weight_decay", "warmup_steps", "lr_schedule",
              "wd_schedule", "grokfast", "grokfast_window", "clip_norm", "sam_rho", "b1", "b2",
              "init_scale", "kwargs"],
    "train": ["batch_size", "epochs", "steps", "eval_every", "stop_at", "checkpoint_every",
              "eval_batch_size", "loss", "loss_dtype", "batch_schedule", "batch_stages",
              "curriculum", "detect_patience", "grokked_threshold"],
    "": ["seeds", "per_seed", "rng_seeds", "preset", "recipes"],
}
WORDS = ["div", "add", "s5_compose", "no_op", "mlp", "rope", "alibi", "none", "layernorm",
         "post", "gelu", "adamw", "sgd", "muon", "optax:lion", "cosine", "increasing", "ema",
         "ma", "stablemax", "float64", "operand", "seed-teacher", "gromov-mlp", "grokfast-ema"]
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
NUMBERS = st.sampled_from([0, 1, 2, 3, -1, 7, 16, 97, 2**31, 2**63, 10**30, 0.5, -0.5, 1e-9,
                           1e300, 3.5e38])
VALUES = st.one_of(
    NUMBERS, st.integers(-5, 70), st.floats(allow_nan=True, allow_infinity=True), TEXT,
    st.sampled_from(WORDS), st.booleans(), st.none(),
    st.lists(st.one_of(st.integers(-2, 4), st.floats(-1, 2)), max_size=3),
    st.dictionaries(TEXT, st.integers(-2, 4), max_size=2))


# values a researcher would plausibly write, so that many mutated configs are accepted and
# travel the whole validation (and the first small ones train)
PLAUSIBLE = {
    ("task", "name"): st.sampled_from(["div", "add", "sub", "mul", "x2_y2"]),
    ("task", "train_fraction"): st.floats(0.05, 0.95),
    ("task", "label_noise"): st.sampled_from([0.0, 0.1, 0.3]),
    ("task", "split_seed"): st.sampled_from([None, 0, 3]),
    ("task", "layout"): st.sampled_from(["default", "no_op"]),
    ("model", "d_model"): st.sampled_from([8, 16, 32]),
    ("model", "n_heads"): st.sampled_from([1, 2, 4]),
    ("model", "n_layers"): st.sampled_from([1, 2]),
    ("model", "positions"): st.sampled_from(["learned", "rope", "alibi", "none"]),
    ("model", "norm"): st.sampled_from(["rmsnorm", "layernorm", "none"]),
    ("model", "norm_position"): st.sampled_from(["pre", "post"]),
    ("model", "activation"): st.sampled_from(["relu", "gelu", "silu", "swiglu"]),
    ("model", "dropout"): st.sampled_from([0.0, 0.1, 0.5]),
    ("model", "use_bias"): st.booleans(),
    ("optim", "name"): st.sampled_from(["adamw", "adam", "sgd", "optax:lion"]),
    ("optim", "learning_rate"): st.floats(1e-5, 1.0),
    ("optim", "weight_decay"): st.floats(0.0, 2.0),
    ("optim", "warmup_steps"): st.integers(0, 5),
    ("optim", "lr_schedule"): st.sampled_from(["constant", "cosine", "linear_decay"]),
    ("optim", "wd_schedule"): st.sampled_from(["constant", "increasing", "cosine"]),
    ("optim", "grokfast"): st.sampled_from(["none", "ema", "ma"]),
    ("optim", "clip_norm"): st.sampled_from([None, 1.0]),
    ("optim", "sam_rho"): st.sampled_from([0.0, 0.05]),
    ("train", "batch_size"): st.integers(1, 64),
    ("train", "steps"): st.integers(1, 4),
    ("train", "eval_every"): st.sampled_from([None, 1, 2]),
    ("train", "stop_at"): st.sampled_from([None, 0.5, 1.0]),
    ("train", "loss"): st.sampled_from(["softmax", "stablemax", "sparsemax"]),
    ("train", "loss_dtype"): st.sampled_from(["float32", "float64"]),
    ("train", "curriculum"): st.sampled_from(["none", "operand", "loss"]),
    ("", "seeds"): st.lists(st.integers(0, 9), min_size=1, max_size=3, unique=True),
}


@st.composite
def mutation(draw):
    """(section, key, value): one setting changed to a plausible or a hostile value, an unknown
    key added or a section replaced."""
    kind = draw(st.sampled_from(["plausible", "plausible", "value", "value", "unknown key",
                                 "section"]))
    if kind == "plausible":
        section, key = draw(st.sampled_from(sorted(PLAUSIBLE)))
        return section, key, draw(PLAUSIBLE[section, key])
    section = draw(st.sampled_from(sorted(KEYS)))
    if kind == "section":
        return section or "task", None, draw(VALUES)
    key = draw(TEXT) if kind == "unknown key" else draw(st.sampled_from(KEYS[section]))
    return section, key, draw(VALUES)


def mutated(mutations) -> dict:
    data = copy.deepcopy(BASE)
    for section, key, value in mutations:
        if key is None:
            data[section] = value
        elif section == "":
            data[key] = value
        else:
            if not isinstance(data.get(section), dict):
                data[section] = {}
            data[section][key] = value
    return data


class Compiling(Exception):
    """Raised where an accepted config would start compiling (after every check)."""


TRAINED = {"n": 0}
REAL_TRAININGS = 2


def compile_only_the_first_small_ones(real_from_setup):
    def from_setup(setup, *args, **kwargs):
        plan = setup.plan
        small = (plan.total_steps <= 4 and plan.n_seeds <= 2 and len(plan.task.labels) <= 200
                 and param_count(plan.config.model) <= 50_000)
        if small and TRAINED["n"] < REAL_TRAININGS:
            TRAINED["n"] += 1
            return real_from_setup(setup, *args, **kwargs)
        raise Compiling
    return from_setup


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@settings(max_examples=80, derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(mutations=st.lists(mutation(), max_size=3), fmt=st.sampled_from(["yaml", "json"]))
def test_a_mutated_config_runs_or_is_refused_in_one_line(mutations, fmt):
    data = mutated(mutations)
    text = (json.dumps(data) if fmt == "json"
            else yaml.safe_dump(data, allow_unicode=True))
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / f"config.{fmt}"
        config.write_text(text, encoding="utf-8")
        out = Path(tmp) / "run"
        err, stdout = io.StringIO(), io.StringIO()
        real = Engine.from_setup
        Engine.from_setup = staticmethod(compile_only_the_first_small_ones(real))
        try:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(stdout):
                code = main(["train", "--quiet", "--config", str(config), "--out", str(out)])
        except Compiling:
            code = None  # accepted: everything was checked, compiling would start now
        finally:
            Engine.from_setup = real
        lines = err.getvalue().splitlines()
        event({None: "accepted (stopped before compiling)", 0: "trained",
               2: "refused in one line"}.get(code, f"exit code {code}"))
        assert "Traceback" not in err.getvalue() + stdout.getvalue(), err.getvalue()
        if code is None:
            assert not out.exists()
        elif code == 0:
            assert (out / "summary.json").exists()
        else:
            assert code == 2 and len(lines) == 1 and lines[0].startswith("groklab: error: "), \
                (code, data, err.getvalue()[-2000:])
            assert not out.exists()
        assert sorted(p.name for p in Path(tmp).iterdir()) == sorted(
            [config.name] + (["run"] if code == 0 else []))


def test_the_fuzzing_trained_something():
    """The property above ran real trainings too (not only refusals): its first accepted small
    configs train 2 steps. Runs after it in this file."""
    assert TRAINED["n"] >= 1
