"""groklab analyze end to end on tiny runs: the files and their contents, CKA of a run with
itself, comparison across depths, checkpoints followed in time against a direct computation,
the report section, and one-line errors for bad input."""

import json

import jax
import numpy as np
import pytest

from groklab.cli.main import main
from groklab.config import RunConfig, apply_overrides
from groklab.engine.setup import plan_run
from groklab.experiments import train_run
from groklab.runs.checkpoints import Checkpoints
from groklab.runs.source import abstract_params

BASE = ["task.name=add", "task.p=7", "task.train_fraction=0.6", "model.n_heads=2",
        "model.dropout=0.0", "train.batch_size=8", "train.epochs=4", "seeds=[0, 1]"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("analysis")
    a, b = root / "a", root / "b"
    train_run(apply_overrides(RunConfig(), BASE + ["model.d_model=16", "model.n_layers=2"]),
              a, figures=False)
    train_run(apply_overrides(RunConfig(), BASE + ["model.d_model=8", "model.n_layers=1"]),
              b, figures=False)
    code = main(["analyze", str(a), "--all_checkpoints", "--compare", str(a), str(b),
                 "--inputs", "1:2,3:4", "--ig_steps", "8"])
    assert code == 0
    return a, b


def load(run, name):
    return json.loads((run / "analysis" / f"{name}.json").read_text())


@pytest.mark.slow
def test_analysis_files_and_contents(runs):
    a, _ = runs
    about = load(a, "about")
    assert about["checkpoint"]["steps"] == [Checkpoints(a / "checkpoints").param_steps()[-1]] * 2
    assert about["rows"]["n_val"] == 20  # 40 % of the 49 rows of add mod 7
    rep = load(a, "representations")
    assert rep["hooks"] == [f"blocks.{i}.{h}" for i in range(2)
                            for h in ("hook_attn_out", "mlp.hook_post", "hook_resid_post")]
    for seed in ("0", "1"):
        r = rep["seeds"][seed]
        within = np.asarray(r["cka_within"], float)
        assert np.diag(within) == pytest.approx(np.ones(6), abs=1e-5)
        assert 1 <= r["ranks"]["blocks.1.hook_resid_post"]["entropy_rank"] <= 16
    att = load(a, "attention")
    per_query = att["seeds"]["0"]["entropy"]["blocks.0.attn.hook_pattern"]["per_query"]
    assert per_query[0][0] is None  # the first query has a single admissible key
    assert all(0 <= x <= np.log2(4) + 1e-6 for row in per_query for x in row[1:])
    assert np.asarray(att["inputs"]["operands"]).tolist() == [[1, 2], [3, 4]]
    w = load(a, "weights")["seeds"]["0"]
    assert set(w["gradients"]["layers"]) == {"embed", "blocks.0", "blocks.1", "ln_final",
                                             "unembed", "total"}
    four = load(a, "fourier")
    assert four["parts"] == {"embedding": True, "neurons": True, "progress": True}
    assert set(four["seeds"]["0"]["progress"]) >= {"restricted_loss", "excluded_loss"}
    attr = load(a, "attribution")
    assert attr["positions"] == ["a", "op", "b", "="]
    assert attr["seeds"]["0"]["completeness_error"] < 0.1
    assert (a / "analysis" / "figures" / "progress_measures.png").exists()


@pytest.mark.slow
def test_a_run_compared_with_itself_has_cka_one_and_depths_are_mapped(runs):
    a, b = runs
    same, other = load(a, "compare")["runs"]
    for seed in ("0", "1"):
        assert list(same["seeds_results"][seed]["matched"].values()) == pytest.approx(
            [1.0] * 6, abs=1e-5)
    # the 1-layer run's block 0 stands for the 2-layer run's last block
    assert ["blocks.1.hook_resid_post", "blocks.0.hook_resid_post"] in other["pairs"]
    assert np.asarray(other["seeds_results"]["0"]["matrix"], float).shape == (6, 3)
    table = (a / "analysis" / "table.md").read_text()
    assert "CKA blocks.1" in table and table.count("\n") == 5  # header, rule, 3 models


@pytest.mark.slow
def test_checkpoints_followed_in_time_match_a_direct_computation(runs):
    a, _ = runs
    evo = load(a, "evolution")
    steps = Checkpoints(a / "checkpoints").param_steps()
    assert evo["steps"] == steps
    cfg = RunConfig.from_dict(json.loads((a / "summary.json").read_text())["config"])
    _, abstract = abstract_params(plan_run(cfg))
    ck = Checkpoints(a / "checkpoints")
    params, _ = ck.restore_params(steps[1], abstract)
    ck.close()
    direct = np.sqrt(sum(float(np.sum(np.asarray(x)[1] ** 2)) for x in jax.tree.leaves(params)))
    rec = next(r for r in evo["records"] if r["step"] == steps[1] and r["seed"] == 1)
    assert rec["weight_norm"]["total"] == pytest.approx(direct, rel=1e-5)
    logged = {(r["seed"], r["step"]): r for r in
              map(json.loads, (a / "metrics.jsonl").read_text().splitlines())}
    assert rec["val_acc"] == pytest.approx(logged[(1, steps[1])]["val_acc"], abs=1e-6)


@pytest.mark.slow
def test_the_run_report_includes_the_analysis(runs):
    a, _ = runs
    assert main(["report", str(a)]) == 0
    text = (a / "report.md").read_text()
    assert "## Analysis" in text and "analysis/figures/attention_patterns.png" in text
    assert "restricted loss" in text


@pytest.mark.parametrize("extra, message", [
    (["--hooks", "blocks.9.hook_resid_post"], "unknown hook name 'blocks.9.hook_resid_post'"),
    (["--checkpoint", "step=12345"], "no checkpoint at step 12345"),
    (["--inputs", "3"], "--inputs '3' is not a pair a:b"),
    (["--inputs", "3:9"], "--inputs 3:9 is not a row of add mod 7"),
    (["--key_threshold", "0"], "--key_threshold 0.0 must be a number in (0, "),
    (["--ig_steps", "-1"], "--ig_steps -1 must be in [0, "),
])
@pytest.mark.slow
def test_bad_analysis_input_is_one_line(runs, capsys, tmp_path, extra, message):
    a, _ = runs
    out = tmp_path / "out"
    assert main(["analyze", str(a), "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not out.exists()


def _copy_run(src, dst):
    import shutil

    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("analysis"))
    return dst


@pytest.mark.slow
def test_comparing_other_tasks_or_splits_needs_force(runs, capsys, tmp_path):
    a, _ = runs
    # the same models, relabelled as trained on x−y mod 7 (same vocabulary, so they load)
    other = _copy_run(a, tmp_path / "sub")
    (other / "config.yaml").write_text((a / "config.yaml").read_text().replace(
        "name: add", "name: sub"))
    assert main(["analyze", str(a), "--compare", str(other), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "trained on sub mod 7" in err and "--force" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "x").exists()
    # the same run with other validation rows for its seeds
    resplit = _copy_run(a, tmp_path / "resplit")
    split = dict(np.load(resplit / "split.npz"))
    split["val_idx"] = split["val_idx"][:, ::-1].copy()
    np.savez(resplit / "split.npz", **split)
    assert main(["analyze", str(a), "--compare", str(resplit), "--out",
                 str(tmp_path / "y")]) == 2
    assert "split differs" in capsys.readouterr().err
    assert main(["analyze", str(a), "--compare", str(resplit), "--force", "--ig_steps", "0",
                 "--out", str(tmp_path / "z")]) == 0
    assert not (tmp_path / "z" / "attribution.json").exists()
    no_ckpt = tmp_path / "empty"
    no_ckpt.mkdir()
    (no_ckpt / "config.yaml").write_text((a / "config.yaml").read_text())
    assert main(["analyze", str(no_ckpt)]) == 2
    assert "has no checkpoints" in capsys.readouterr().err


@pytest.mark.slow
def test_an_even_modulus_is_analyzed_without_the_fourier_parts(tmp_path, capsys):
    """The Fourier basis needs an odd p; for add mod 8 the rest of the analysis runs."""
    run = tmp_path / "even"
    train_run(apply_overrides(RunConfig(), ["task.name=add", "task.p=8", "model.d_model=16",
                                            "model.n_layers=1", "train.batch_size=8",
                                            "train.epochs=2"]), run, figures=False)
    assert main(["analyze", str(run), "--ig_steps", "4"]) == 0, capsys.readouterr().err
    about = load(run, "about")
    assert not any(about["fourier"].values())
    assert not (run / "analysis" / "fourier.json").exists()
    assert (run / "analysis" / "representations.json").exists()
