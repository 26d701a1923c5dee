"""Transfer: initial parameters from a source checkpoint, frozen parameters bitwise fixed,
re-initialization, the vocabulary maps against a hand computation, the recorded split, the
untouched source, the baseline comparison and the one-line errors."""

import hashlib
import json

import jax
import numpy as np
import pytest

from conftest import SHARED_SOURCE as SOURCE_SETS  # noqa: E402
from groklab.cli.main import main
from groklab.config import RunConfig, apply_overrides
from groklab.engine.setup import init_params, plan_run
from groklab.errors import ConfigError
from groklab.experiments import train_run
from groklab.params import param_names
from groklab.runs.checkpoints import Checkpoints
from groklab.runs.source import abstract_params
from groklab.tasks import make_split, make_task
from groklab.transfer.patterns import matches, select
from groklab.transfer.setup import prepare
from groklab.transfer.vocab import remap, token_map


@pytest.fixture(scope="module")
def source(shared_source):
    """The session's shared trained run (conftest.shared_source) as the source."""
    return shared_source


def target(source_dir, *sets):
    base = RunConfig.from_dict(json.loads((source_dir / "summary.json").read_text())["config"])
    return apply_overrides(base, [f"transfer.source={source_dir}", "task.name=sub",
                                  "train.epochs=2", *sets])


def named(params) -> dict:
    return {name: np.asarray(x) for name, x in
            zip(param_names(params), jax.tree.leaves(params))}


def source_params(source_dir, step=None):
    cfg = RunConfig.from_dict(json.loads((source_dir / "summary.json").read_text())["config"])
    _, abstract = abstract_params(plan_run(cfg))
    ckpts = Checkpoints(source_dir / "checkpoints")
    params, _ = ckpts.restore_params(step or ckpts.param_steps()[-1], abstract)
    ckpts.close()
    return named(params)


def digest(path):
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(path)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


# ----- names and patterns -----

def test_patterns_match_whole_dotted_parts():
    names = ["embed.embedding", "blocks.0.attn.q.kernel", "blocks.1.attn.q.kernel",
             "blocks.1.mlp.w_in.kernel", "unembed.kernel"]
    assert select(["embed"], names, "--freeze") == {"embed.embedding"}
    assert select(["blocks.*.attn"], names, "--freeze") == {"blocks.0.attn.q.kernel",
                                                            "blocks.1.attn.q.kernel"}
    assert select(["blocks.1", "unembed"], names, "--freeze") == {
        "blocks.1.attn.q.kernel", "blocks.1.mlp.w_in.kernel", "unembed.kernel"}
    assert matches("blocks.*.mlp.w_in", "blocks.1.mlp.w_in.kernel")
    assert not matches("*.mlp.w_in", "blocks.1.mlp.w_in.kernel")  # * is one part
    assert not matches("blocks.0.attn.q.kernel.x", "blocks.0.attn.q.kernel")
    with pytest.raises(ConfigError, match="'embd' matches no parameter; parameters: "
                                          "embed.embedding, blocks.0"):
        select(["embd"], names, "--freeze")


# ----- the initial parameters -----

@pytest.mark.slow
def test_source_parameters_carry_over_and_reinit_really_reinitializes(source):
    cfg = target(source, "transfer.reinit=[unembed]")
    t = prepare(cfg)
    got, src = named(t.params), source_params(source)
    _, fresh = init_params(t.plan)
    fresh = named(fresh)
    for name in got:
        if name == "unembed.kernel":
            np.testing.assert_array_equal(got[name], fresh[name])  # the target seeds' own init
            assert not np.allclose(got[name], src[name])
        else:
            np.testing.assert_array_equal(got[name], src[name])
    assert t.about["transfer"]["reinitialized"] == ["unembed.kernel"]
    assert t.about["transfer"]["steps"] == [18, 18]


@pytest.mark.slow
def test_frozen_parameters_are_bitwise_unchanged_and_the_others_train(source, tmp_path):
    before = digest(source)
    out = tmp_path / "t"
    summary = train_run(target(source, "transfer.freeze=[embed, blocks.*.attn]",
                               "train.epochs=3"), out, figures=False)
    assert digest(source) == before  # the source run directory is never modified
    ckpts = Checkpoints(out / "checkpoints")
    _, abstract = abstract_params(plan_run(RunConfig.from_dict(summary["config"])))
    final, _ = ckpts.restore_params(summary["step"], abstract)
    ckpts.close()
    final, src = named(final), source_params(source)
    frozen = [n for n in final if n.startswith(("embed.", "blocks.0.attn."))]
    assert len(frozen) == 5
    for name in final:
        if name in frozen:
            assert final[name].tobytes() == src[name].tobytes(), name
        else:
            assert not np.array_equal(final[name], src[name]), name
    t = summary["transfer"]
    assert t["frozen"] == sorted(frozen) and t["frozen_params"] == 11 * 32 + 4 * 32 * 32 + 2 * 32
    # the split is the target task's own, recorded like any run's
    z = np.load(out / "split.npz")
    task = make_task("sub", 11)
    for i, seed in enumerate((0, 1)):
        np.testing.assert_array_equal(z["train_idx"][i], make_split(task, 0.6, seed).train_idx)
    saved = (out / "config.yaml").read_text()
    assert f"source: {source}" in saved and "- blocks.*.attn" in saved


@pytest.mark.slow
def test_a_single_seed_source_starts_every_seed_and_the_run_resumes(source, tmp_path):
    one = tmp_path / "one"
    train_run(apply_overrides(RunConfig(), [*SOURCE_SETS, "seeds=[1]", "train.epochs=2"]),
              one, figures=False)
    out = tmp_path / "t"
    cfg = target(one, "seeds=[0, 1, 2]", "train.epochs=2")
    t = prepare(cfg)
    emb = named(t.params)["embed.embedding"]
    assert t.about["transfer"]["source_seeds"] == [1, 1, 1]
    np.testing.assert_array_equal(emb[0], emb[2])
    first = train_run(cfg, out, figures=False)
    assert first["status"] == "completed"
    assert main(["transfer", "--resume", "--out", str(out), "--epochs", "3", "--quiet"]) == 0
    assert json.loads((out / "summary.json").read_text())["epoch"] == 3


# ----- the vocabulary across moduli -----

def test_vocab_maps_against_a_hand_computation():
    src, tgt = make_task("add", 11), make_task("sub", 13)  # tokens 0..10 op = | 0..12 op =
    copy = token_map(src, tgt, "copy", False)
    assert copy.tolist() == [*range(11), -1, -1, 11, 12]
    residue = token_map(src, tgt, "residue", False)
    assert residue.tolist() == [*range(11), 0, 1, 11, 12]
    assert token_map(src, tgt, "reinit", False).tolist() == [-1] * 13 + [11, 12]
    shrink = token_map(make_task("add", 13), make_task("add", 11), "residue", False)
    assert shrink.tolist() == [*range(11), 13, 14]
    assert token_map(src, make_task("mul", 11), None, False) is None  # same tokens
    rng = np.random.default_rng(0)
    w_src, fresh = rng.normal(size=(2, 15, 4)), rng.normal(size=(2, 15, 4))  # [seed, vocab, d]
    w_src = w_src[:, :13]
    out = remap(w_src, fresh, residue, 1, 13, 15)
    for j, i in enumerate(residue):
        np.testing.assert_array_equal(out[:, j], w_src[:, i] if i >= 0 else fresh[:, j])
    # the two-hot MLP's input: one block of d_vocab rows per operand
    two = rng.normal(size=(2 * 13, 3))
    out = remap(two, np.zeros((2 * 15, 3)), copy, 0, 13, 15)
    np.testing.assert_array_equal(out[15:26], two[13:24])
    np.testing.assert_array_equal(out[26:28], 0)
    np.testing.assert_array_equal(out[28:30], two[24:26])


@pytest.mark.slow
def test_cross_modulus_transfer_maps_embedding_and_unembedding_rows(source):
    t = prepare(target(source, "task.p=13", "transfer.vocab_map=copy"))
    got, src = named(t.params), source_params(source)
    _, fresh = init_params(t.plan)
    fresh = named(fresh)
    np.testing.assert_array_equal(got["embed.embedding"][:, :11], src["embed.embedding"][:, :11])
    np.testing.assert_array_equal(got["embed.embedding"][:, 13:], src["embed.embedding"][:, 11:])
    np.testing.assert_array_equal(got["embed.embedding"][:, 11:13],
                                  fresh["embed.embedding"][:, 11:13])
    np.testing.assert_array_equal(got["unembed.kernel"][..., 13:], src["unembed.kernel"][..., 11:])
    np.testing.assert_array_equal(got["blocks.0.attn.q.kernel"], src["blocks.0.attn.q.kernel"])
    assert t.plan.task.p == 13 and t.plan.config.model.d_vocab == 15


@pytest.mark.slow
def test_a_different_kind_of_vocabulary_needs_reinit_of_embed_and_unembed(source):
    with pytest.raises(ConfigError, match="not the same kind; re-initialize the vocabulary "
                                          "with --reinit embed,unembed"):
        prepare(target(source, "task.name=s5_compose", "transfer.vocab_map=copy"))
    t = prepare(target(source, "task.name=s5_compose", "transfer.reinit=[embed, unembed]"))
    assert t.plan.task.d_vocab != 13


# ----- the command line, with its baseline -----

@pytest.mark.slow
def test_transfer_command_with_a_baseline_writes_the_comparison(source, tmp_path, capsys):
    out = tmp_path / "t"
    rc = main(["transfer", "--from", f"{source}@step=18", "--task", "sub", "--freeze",
               "embed", "--epochs", "2", "--baseline", "--baseline_epochs", "3", "--out",
               str(out), "--quiet"])
    assert rc == 0
    base = json.loads((tmp_path / "t_scratch" / "summary.json").read_text())
    run = json.loads((out / "summary.json").read_text())
    assert base["config"]["transfer"]["source"] is None and "transfer" not in base
    assert base["epoch"] == 3 and run["epoch"] == 2
    assert base["config"]["optim"] == run["config"]["optim"]
    assert base["config"]["seeds"] == run["config"]["seeds"] == [0, 1]
    comparison = json.loads((out / "comparison.json").read_text())
    assert comparison and (out / "comparison.md").exists()
    assert (out / "figures" / "transfer_vs_baseline.png").exists()
    from groklab.report.write import write_report

    report = write_report(out).read_text()
    assert "## Transfer vs from scratch" in report and "speed-up at 90 % [95 % CI]" in report
    assert "Frozen: embed.embedding" in report
    assert main(["transfer", "--list_params", str(source)]) == 0
    listing = capsys.readouterr().out
    assert "blocks.0.attn.q.kernel" in listing and "embed.embedding" in listing


@pytest.mark.parametrize("args, message", [
    (["--freeze", "embd"], "--freeze pattern 'embd' matches no parameter; parameters: "),
    (["--freeze", "embed,blocks,unembed,ln_final"], "freezes every parameter"),
    (["--p", "13"], "the vocabulary changes from add mod 11 (13 tokens) to sub mod 13 (15 "
                    "tokens); choose --vocab_map copy|residue|reinit"),
    (["--reinit", "blocks.9"], "--reinit pattern 'blocks.9' matches no parameter"),
    (["--baseline_epochs", "3"], "need --baseline"),
    (["--checkpoint_dir", "/elsewhere"], "groklab keeps checkpoints in the run directory"),
])
@pytest.mark.slow
def test_bad_transfer_input_is_one_line(source, tmp_path, capsys, args, message):
    out = tmp_path / "t"
    rc = main(["transfer", "--from", str(source), "--task", "sub", "--out", str(out),
               "--quiet", *args])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


@pytest.mark.slow
def test_a_source_without_checkpoints_or_config_is_refused(tmp_path, capsys, source):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "config.yaml").write_text((source / "config.yaml").read_text())
    for src, message in ((empty, "has no checkpoints"),
                         (tmp_path / "nothing", "is not a groklab run directory"),
                         (f"{source}@step=5", "has no checkpoint at step 5; saved steps: ")):
        assert main(["transfer", "--from", str(src), "--task", "sub", "--out",
                     str(tmp_path / "t"), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
    with pytest.raises(ConfigError, match="either a distillation .* or a transfer"):
        prepare(target(source, f"distill.teacher={source}"))


# ----- the example specs -----

def _example(name, source, tmp_path, *replacements):
    from pathlib import Path

    text = (Path(__file__).parents[1] / "examples" / name).read_text()
    for run in ("add59", "add113"):
        text = text.replace(f"../runs/{run}/config.yaml", str(source / "config.yaml"))
        text = text.replace(f"runs/{run}", str(source))
    text = text.replace("num_seeds: 5", "num_seeds: 2")
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.slow
def test_transfer_examples_validate_and_the_add_sub_study_runs(source, tmp_path):
    from groklab.report.write import write_report
    from groklab.sweeps import load_spec
    from groklab.sweeps.run import run_sweep

    freeze = load_spec(_example("transfer_freeze.yaml", source, tmp_path)).cells()
    assert [c.config.transfer.freeze for c in freeze] == [
        (), ("embed",), ("blocks.*.attn",), ("embed", "blocks", "ln_final")]
    points = load_spec(_example("transfer_checkpoints.yaml", source, tmp_path,
                                ("@epoch=50", "@epoch=2"), ("@val_acc=0.5", "@val_acc=0.0"))
                       ).cells()
    assert [c.config.transfer.source is None for c in points] == [True, False, False, False]
    cross = load_spec(_example("transfer_cross_modulus.yaml", source, tmp_path)).cells()
    assert [c.config.transfer.vocab_map for c in cross] == [None, "copy", "reinit"]
    assert all(c.config.task.p == 97 and c.config.task.name == "add" for c in cross)
    spec = _example("transfer_add_sub.yaml", source, tmp_path,
                    ("train.epochs: [1000, 300]", "train.epochs: [3, 2]"))
    out = tmp_path / "study"
    run_sweep(load_spec(spec), out, log=lambda _: None)
    report = write_report(out).read_text()
    assert "speed-up vs source=none, epochs=3 [95 % CI]" in report
    assert "| source=none, epochs=3 | — ± — (— ± — ep) [—, —] | ∞ (not reached) | reference |" \
        in report
