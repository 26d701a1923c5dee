"""Start-up (docs/performance.md "Start-up"): the commands that answer at once import no JAX,
Flax, Optax, Orbax or Matplotlib, and ``groklab presets`` counts parameters without building a
model, by a formula checked here against the built models."""

import json
import subprocess
import sys

import pytest

HEAVY = ("jax", "jaxlib", "flax", "optax", "orbax", "matplotlib", "scipy")

PROBE = f"""
import contextlib, io, json, sys
from groklab.cli.main import main
out, err = io.StringIO(), io.StringIO()
with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
    code = main(json.loads(sys.argv[1]))
heavy = sorted(m for m in {HEAVY!r} if m in sys.modules)
print(json.dumps({{"code": code, "heavy": heavy, "out": out.getvalue(), "err": err.getvalue()}}))
"""


def run_fresh(argv: list[str]) -> dict:
    """``groklab ARGV`` in a fresh interpreter: exit code, output, and which heavy packages it
    imported."""
    proc = subprocess.run([sys.executable, "-c", PROBE, json.dumps(argv)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.splitlines()[-1])


@pytest.mark.parametrize("argv, code", [
    (["--help"], 0),
    ([], 2),
    (["train", "--help"], 0),
    (["tasks"], 0),
    (["tasks", "--p", "1"], 2),
    (["presets"], 0),
    (["train", "--p", "abc"], 2),
    (["train", "--set", "model.nope=1"], 2),
    (["train", "--preset", "nope"], 2),
    (["train", "--num_seeds", "0"], 2),
    (["train", "--config", "/nonexistent/config.yaml"], 2),
])
def test_answers_at_once_without_jax(argv, code):
    result = run_fresh(argv)
    assert result["code"] == code, result["err"]
    assert result["heavy"] == [], f"groklab {' '.join(argv)} imported {result['heavy']}"
    if code == 2 and argv:  # bare `groklab` prints the help instead
        assert result["err"].startswith("groklab: error: ") and result["err"].count("\n") == 1


@pytest.mark.parametrize("argv", [
    ["train", "--set", "model.d_model=-1"],
    ["train", "--optimizer", "nope"],
    ["train", "--operation", "nope"],
    ["train", "--loss", "nope"],
    ["train", "--out", "/proc/groklab_startup/run"],
    ["distill", "--teacher", "{empty}"],
    ["transfer", "--from", "{empty}", "--task", "sub"],
    ["analyze", "{empty}"],
    ["report", "{empty}"],
    ["export", "{empty}", "--out", "{empty}/export"],
    ["quantize", "{empty}"],
    ["quantize", "{empty}", "--bits", "9"],
    ["quantize", "{empty}", "--scheme", "group:0"],
])
def test_planning_errors_answer_without_jax(argv, tmp_path):
    """Errors found while planning a run (a value of the config, the task, an unwritable --out,
    a directory that is not a run) are one line, exit 2, before JAX is imported."""
    result = run_fresh([a.replace("{empty}", str(tmp_path)) for a in argv])
    assert result["code"] == 2, result["err"]
    assert result["err"].startswith("groklab: error: ") and result["err"].count("\n") == 1
    assert result["heavy"] == [], f"groklab {' '.join(argv)} imported {result['heavy']}"


def test_importing_groklab_and_its_configs_imports_no_jax():
    code = ("import sys, groklab, groklab.config, groklab.models, groklab.optim, groklab.recipes,"
            " groklab.engine.setup, groklab.objectives, groklab.runs.source, groklab.report;"
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    assert out.strip() == "[]"


def test_lazy_names_still_resolve():
    from groklab import models, optim

    assert callable(models.build_model) and callable(optim.build_optimizer)
    assert models.Transformer.__name__ == "Transformer"
    assert "Transformer" in dir(models) and "build_optimizer" in dir(optim)
    from groklab import engine, objectives, report, runs

    assert engine.Engine.__name__ == "Engine" and callable(engine.plan_run)
    assert callable(objectives.per_row_loss) and objectives.Supervised.__name__ == "Supervised"
    assert runs.Checkpoints.__name__ == "Checkpoints" and runs.RunDir.__name__ == "RunDir"
    assert callable(report.write_report) and "condition_table" in dir(report)
    from groklab import quantize

    assert callable(quantize.quantize_run) and quantize.Scheme.parse("group:8").group == 8
    with pytest.raises(AttributeError):
        models.nothing_here  # noqa: B018
    with pytest.raises(AttributeError):
        engine.nothing_here  # noqa: B018


def test_preset_parameter_counts_match_the_built_models():
    """Every row of ``groklab presets`` (the ×0.5 student too, and another task's vocabulary)
    counts what the built model holds, computed on the abstract model (shapes only)."""
    from flax import nnx

    from groklab.cli.presets_cmd import preset_rows
    from groklab.models import build_model, count_params

    rows = preset_rows() + preset_rows("s5_compose", 5) + preset_rows("add", 11)
    for row in rows:
        built = count_params(nnx.eval_shape(lambda c=row["config"]: build_model(c)))
        assert row["params"] == built, row["name"]
    teacher = next(r for r in preset_rows() if r["name"] == "seed-teacher")
    assert teacher["params"] == 550_272  # docs/performance.md's reference workload
