"""groklab export: the TransformerLens mapping checked against tests/tl_reference.py (a NumPy
re-implementation of HookedTransformer's forward pass, written from TransformerLens's code) on
every row and every hook both have; TransformerLens's parameter names and shapes; the refusals;
the safetensors files read back by a hand-written parser; round trips that give identical
logits; the command on a trained run, its selectors and its one-line errors."""

import json
import struct
import sys

import jax
import numpy as np
import pytest
from flax import nnx

import tl_reference
from groklab.cli.main import main
from groklab.config import RunConfig
from groklab.engine.setup import plan_run
from groklab.errors import ConfigError
from groklab.export import load_exported, native, read_export, write_model
from groklab.export import transformer_lens as tl
from groklab.models import ModelConfig, build_model
from groklab.params import named_leaves
from groklab.runs.checkpoints import Checkpoints
from groklab.runs.source import abstract_params
from groklab.tasks import make_task

safetensors = pytest.importorskip("safetensors", reason="pip install 'groklab[export]'")

# Tiny versions of the presets, and variants that reach every option the mapping has.
CONFIGS = {
    "nanda2023": (ModelConfig.nanda2023(d_model=16, d_head=8, d_mlp=32), "no_op"),
    "power2022": (ModelConfig.power2022(d_model=16, n_heads=2, n_layers=2), "default"),
    "seed-teacher": (ModelConfig.seed_teacher(d_model=16, n_heads=2, n_layers=2), "default"),
    "alibi-gelu-ln-nobias": (ModelConfig.power2022(d_model=16, n_heads=4, positions="alibi",
                                                   activation="gelu", use_bias=False), "default"),
    "nopos-silu-rms-bias-bidirectional": (ModelConfig.seed_teacher(
        d_model=16, n_heads=2, n_layers=1, positions="none", activation="silu",
        use_bias=True, causal=False), "default"),
    "rope-ln-relu-wide-heads": (ModelConfig.power2022(
        d_model=16, n_heads=3, d_head=6, n_layers=1, positions="rope", rope_base=1e4),
        "default"),
}


def perturbed(cfg: ModelConfig, seed: int = 1):
    """A model whose every parameter (norm scales and biases too) is drawn from N(0, 0.5²), far
    from any initialization, so a transposed or dropped tensor cannot go unnoticed (drawn in
    NumPy: no initializer is compiled)."""
    graphdef, abstract = nnx.split(nnx.eval_shape(lambda: build_model(cfg, 0)))
    rng = np.random.default_rng(seed)
    state = jax.tree.map(lambda a: (0.5 * rng.standard_normal(a.shape)).astype(a.dtype),
                         abstract)
    return nnx.merge(graphdef, state)


def run(model, tokens, hooks=False):
    """Answer logits (and with ``hooks`` every hook point's value) in one compiled call."""
    graphdef, state = nnx.split(model)

    def fn(state, tokens):
        m = nnx.merge(graphdef, state)
        if not hooks:
            return m(tokens)
        logits, cache = m.run_with_cache(tokens)
        return logits, dict(cache)

    return jax.device_get(jax.jit(fn)(state, tokens))


def resolved(name):
    cfg, layout = CONFIGS[name]
    task = make_task("add", 7, layout)
    return cfg.resolve_for_task(task.d_vocab, task.n_ctx, task.operand_positions), task


def compare_with_hooked(cfg, model, sd, hooked_cfg, tokens, forward):
    """Max |Δ| of the answer logits and of every hook pair (groklab vs ``forward``'s
    HookedTransformer cache): {name: diff}. Masked attention scores (−inf in TransformerLens,
    the float32 minimum in groklab) are left out; ``ln_final.hook_normalized`` is compared as
    groklab's = TransformerLens's · w + b."""
    logits, cache = run(model, tokens, hooks=True)
    ref_logits, ref = forward(sd, hooked_cfg, tokens)
    diffs = {"logits": float(np.abs(np.asarray(ref_logits)[:, -1] - np.asarray(logits)).max())}
    for ours, theirs in tl.hook_names(cfg).items():
        a, b = np.asarray(cache[ours], np.float64), np.asarray(ref[theirs], np.float64)
        if ours.endswith("hook_attn_scores"):
            kept = np.isfinite(b)
            a, b = np.where(kept, a, 0.0), np.where(kept, b, 0.0)
        diffs[ours] = float(np.abs(np.broadcast_to(a, b.shape) - b).max())
    if cfg.norm != "none":
        w = np.asarray(sd["ln_final.w"], np.float64)
        b = np.asarray(sd.get("ln_final.b", np.zeros_like(w)), np.float64)
        ours = np.asarray(cache["ln_final.hook_normalized"], np.float64)
        diffs["ln_final.hook_normalized"] = float(np.abs(
            np.asarray(ref["ln_final.hook_normalized"]) * w + b - ours).max())
    return diffs


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_the_hooked_transformer_forward_gives_groklabs_logits_and_hooks(name):
    cfg, task = resolved(name)
    model = perturbed(cfg)
    sd = tl.hooked_state_dict(cfg, native.model_tensors(model))
    hooked = tl.hooked_config(cfg)
    json.dumps(hooked, allow_nan=False)  # plain JSON values only
    diffs = compare_with_hooked(cfg, model, sd, hooked, task.tokens, tl_reference.run_with_cache)
    assert len(diffs) >= 3 + 11 * cfg.n_layers
    bad = {k: v for k, v in diffs.items() if not v <= 1e-4}
    assert not bad, bad


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_the_state_dict_has_exactly_hooked_transformers_parameters(name):
    cfg, _ = resolved(name)
    model = perturbed(cfg)
    tensors = native.model_tensors(model)
    sd = tl.hooked_state_dict(cfg, tensors)
    want = tl_reference.parameter_shapes(tl.hooked_config(cfg))
    assert {k: v.shape for k, v in sd.items()} == want
    assert all(v.dtype == np.float32 for v in sd.values())
    back = tl.groklab_tensors(cfg, sd)
    assert back.keys() == tensors.keys()
    for k in tensors:
        assert np.array_equal(back[k], tensors[k]), k


def test_the_mapping_by_hand_on_one_head():
    """W_Q of head h is columns h·D … h·D+D−1 of groklab's q kernel; W_O of head h its rows."""
    cfg, _ = resolved("power2022")
    tensors = native.model_tensors(perturbed(cfg))
    sd = tl.hooked_state_dict(cfg, tensors)
    D = cfg.head_dim
    for h in range(cfg.n_heads):
        assert np.array_equal(sd["blocks.1.attn.W_Q"][h],
                              tensors["blocks.1.attn.q.kernel"][:, h * D:(h + 1) * D])
        assert np.array_equal(sd["blocks.1.attn.b_V"][h],
                              tensors["blocks.1.attn.v.bias"][h * D:(h + 1) * D])
        assert np.array_equal(sd["blocks.1.attn.W_O"][h],
                              tensors["blocks.1.attn.o.kernel"][h * D:(h + 1) * D])
    hooked = tl.hooked_config(cfg)
    assert hooked["normalization_type"] == "LN" and hooked["eps"] == 1e-5
    assert hooked["attn_scale"] == pytest.approx(np.sqrt(D))
    teacher, _ = resolved("seed-teacher")
    t = tl.hooked_config(teacher)
    assert (t["positional_embedding_type"], t["rotary_dim"], t["rotary_base"],
            t["rotary_adjacent_pairs"], t["normalization_type"], t["gated_mlp"],
            t["act_fn"]) == ("rotary", teacher.head_dim, 1e6, False, "RMS", True, "silu")
    nobias = tl.hooked_state_dict(teacher, native.model_tensors(perturbed(teacher)))
    assert not np.any(nobias["blocks.0.attn.b_Q"]) and not np.any(nobias["unembed.b_U"])


@pytest.mark.parametrize("cfg, part", [
    (ModelConfig.gromov_mlp(), "two-hot MLP"),
    (ModelConfig.power2022(norm_position="post"), "post-norm"),
    (ModelConfig.seed_teacher(use_bias=True), "gated MLP's biases"),
    (ModelConfig.power2022(positions="alibi", causal=False), "ALiBi without the causal mask"),
])
def test_what_hooked_transformer_cannot_express_is_refused_by_name(cfg, part):
    with pytest.raises(ConfigError, match=part) as e:
        tl.check_expressible(cfg)
    assert "\n" not in str(e.value) and "--format safetensors" in str(e.value)


def test_post_norm_without_a_norm_is_plain_and_exported():
    tl.check_expressible(ModelConfig.nanda2023(norm_position="post"))


def parse_safetensors(path):
    """The file format by hand (8-byte little-endian header length, JSON header, raw
    little-endian data): {name: array}, metadata."""
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    data = raw[8 + n:]
    dtypes = {"F32": "<f4", "F64": "<f8", "I32": "<i4", "I64": "<i8"}
    out = {}
    for name, info in header.items():
        lo, hi = info["data_offsets"]
        out[name] = np.frombuffer(data[lo:hi], dtypes[info["dtype"]]).reshape(info["shape"])
    return out, meta


@pytest.mark.parametrize("fmt", ["safetensors", "transformer-lens"])
def test_a_round_trip_gives_identical_parameters_and_logits(fmt, tmp_path):
    cfg, task = resolved("seed-teacher" if fmt == "safetensors" else "power2022")
    model = perturbed(cfg)
    write_model(model, tmp_path, fmt, task, {"seed": 3, "step": 10})
    tensors, meta = parse_safetensors(tmp_path / "model.safetensors")
    expected = (native.model_tensors(model) if fmt == "safetensors"
                else tl.hooked_state_dict(cfg, native.model_tensors(model)))
    assert tensors.keys() == expected.keys()
    assert all(np.array_equal(tensors[k], expected[k]) for k in expected)
    about = json.loads(meta["groklab_export"])
    assert about == read_export(tmp_path)
    assert about["vocabulary"]["token_names"] == list(task.token_names)
    assert about["task"]["name"] == "add" and about["source"]["seed"] == 3
    back, back_cfg = load_exported(tmp_path)
    assert back_cfg == cfg
    assert np.array_equal(run(back, task.tokens), run(model, task.tokens))
    if fmt == "transformer-lens":
        hooked = json.loads((tmp_path / "config.json").read_text())
        assert hooked == tl.hooked_config(cfg, "groklab-3")


# ----- the command on a trained run (conftest.shared_source: x+y mod 11, 2 seeds) -----


def checkpoint_params(run, step):
    """Seed-stacked parameters restored straight from Orbax (not through runs.source)."""
    cfg = RunConfig.from_dict(json.loads((run / "summary.json").read_text())["config"])
    _, abstract = abstract_params(plan_run(cfg))
    ckpts = Checkpoints(run / "checkpoints")
    try:
        params, _ = ckpts.restore_params(step, abstract)
    finally:
        ckpts.close()
    return cfg, {k: np.asarray(v) for k, v in named_leaves(params).items()}


def steps_of(run):
    ckpts = Checkpoints(run / "checkpoints")
    try:
        return ckpts.param_steps()
    finally:
        ckpts.close()


def test_export_command_writes_the_selected_checkpoint(shared_source, tmp_path, capsys):
    steps = steps_of(shared_source)
    step = steps[len(steps) // 2]
    out = tmp_path / "native"
    assert main(["export", f"{shared_source}@step={step}", "--seed", "1", "--out",
                 str(out)]) == 0
    assert "load_exported" in capsys.readouterr().out
    about = json.loads((out / "config.json").read_text())
    assert about["source"]["seed"] == 1 and about["source"]["step"] == step
    assert about["source"]["selector"] == f"step={step}"
    assert about["task"] == {**about["task"], "name": "add", "p": 11}
    cfg, params = checkpoint_params(shared_source, step)
    tensors, _ = parse_safetensors(out / "model.safetensors")
    assert tensors.keys() == params.keys()
    assert all(np.array_equal(tensors[k], params[k][1]) for k in params)
    model, mcfg = load_exported(out)
    task = make_task("add", 11)
    assert mcfg.d_vocab == task.d_vocab == len(about["vocabulary"]["token_names"])

    # the transformer-lens export of the same checkpoint (seed-teacher: RoPE, RMSNorm, SwiGLU)
    tl_out = tmp_path / "tl"
    assert main(["export", f"{shared_source}@step={step}", "--seed", "1", "--format",
                 "transformer-lens", "--out", str(tl_out)]) == 0
    sd, _ = parse_safetensors(tl_out / "model.safetensors")
    hooked = json.loads((tl_out / "config.json").read_text())
    logits, _ = tl_reference.run_with_cache(sd, hooked, task.tokens)
    ours = run(model, task.tokens)
    assert np.abs(logits[:, -1] - ours).max() <= 1e-4
    back, _ = load_exported(tl_out)
    assert np.array_equal(run(back, task.tokens), ours)


def test_several_seeds_go_to_their_own_directories(shared_source, tmp_path):
    out = tmp_path / "both"
    assert main(["export", str(shared_source), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["seed_0", "seed_1"]
    last = steps_of(shared_source)[-1]
    _, params = checkpoint_params(shared_source, last)
    for seed in (0, 1):
        assert read_export(out, seed)["source"]["step"] == last
        tensors, _ = parse_safetensors(out / f"seed_{seed}" / "model.safetensors")
        assert all(np.array_equal(tensors[k], params[k][seed]) for k in params)
    with pytest.raises(ConfigError, match="holds the seeds 0, 1"):
        load_exported(out)
    model, _ = load_exported(out, seed=0)
    assert model.config.d_model == 32


@pytest.mark.parametrize("argv, message", [
    (["--seed", "5"], "--seed 5 is not a seed of run"),
    (["--seed", "x"], "--seed 'x' is not a seed"),
    (["--format", "onnx"], "invalid choice: 'onnx'"),
    (["@step=999999"], "no checkpoint at step 999999"),
    (["@val_acc=2"], "outside [0, 1]"),
])
def test_bad_export_input_is_one_line(shared_source, tmp_path, capsys, argv, message):
    out = tmp_path / "out"
    run = str(shared_source) + (argv[0] if argv[0].startswith("@") else "")
    flags = [] if argv[0].startswith("@") else argv
    assert main(["export", run, "--out", str(out), *flags]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("groklab: error:") and message in err
    assert not out.exists()


def test_a_non_empty_out_or_a_missing_package_is_refused(shared_source, tmp_path, capsys,
                                                         monkeypatch):
    full = tmp_path / "full"
    full.mkdir()
    (full / "x").write_text("keep")
    assert main(["export", str(shared_source), "--out", str(full)]) == 2
    assert "is not empty" in capsys.readouterr().err
    assert [p.name for p in full.iterdir()] == ["x"]
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)  # import fails
    out = tmp_path / "new"
    assert main(["export", str(shared_source), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install 'groklab[export]'" in err
    assert not out.exists()


def test_the_two_hot_mlp_round_trips_in_groklabs_format(tmp_path):
    task = make_task("add", 7)
    cfg = ModelConfig.gromov_mlp(mlp_width=32).resolve_for_task(
        task.d_vocab, task.n_ctx, task.operand_positions)
    model = perturbed(cfg)
    write_model(model, tmp_path, "safetensors", task)
    back, back_cfg = load_exported(tmp_path)
    assert back_cfg == cfg and read_export(tmp_path)["vocabulary"]["answer_position"] is None
    assert np.array_equal(run(back, task.tokens), run(model, task.tokens))
    with pytest.raises(ConfigError, match="two-hot MLP"):
        write_model(model, tmp_path / "tl", "transformer-lens", task)


def test_a_damaged_or_foreign_export_is_one_line(tmp_path):
    cfg, task = resolved("nanda2023")
    good = tmp_path / "good"
    write_model(perturbed(cfg), good, "safetensors", task)
    for name, damage, message in [
        ("cut", lambda d: (d / "model.safetensors").write_bytes(
            (d / "model.safetensors").read_bytes()[:100]), "not a readable safetensors file"),
        ("format", lambda d: (d / "config.json").write_text(json.dumps(
            {**json.loads((d / "config.json").read_text()), "format": "onnx"})),
         "not a groklab export format"),
        ("shape", lambda d: (d / "config.json").write_text(json.dumps(
            {**json.loads((d / "config.json").read_text()),
             "model": {**json.loads((d / "config.json").read_text())["model"],
                       "d_mlp": 48}})), "has shape"),
        ("empty", lambda d: [p.unlink() for p in d.iterdir()], "is not a groklab export"),
    ]:
        d = tmp_path / name
        d.mkdir()
        for f in good.iterdir():
            (d / f.name).write_bytes(f.read_bytes())
        damage(d)
        with pytest.raises(ConfigError, match=message) as e:
            load_exported(d)
        assert "\n" not in str(e.value)
