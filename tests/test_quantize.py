"""groklab quantize: the weights after quantization are within the scheme's bound of the
originals (checked against a NumPy computation of the scales, not qwix's), sizes are counted
right, and the accuracies in the table are recomputed here from the checkpoint, the recorded
split and NumPy-quantized weights."""

from __future__ import annotations

import json
import math
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from groklab.cli.main import main
from groklab.errors import ConfigError
from groklab.params import named_leaves, param_name
from groklab.quantize.schemes import (
    Scheme,
    expected_scales,
    fake_quantize,
    n_scales,
    parse_bits,
    parse_schemes,
    quantized_names,
    size_bytes,
)
from groklab.runs.source import RunRef, load_checkpoints

SCHEMES = [Scheme("per-tensor"), Scheme("per-channel"), Scheme("group", 8)]


def numpy_quantize(w: np.ndarray, name: str, bits: int, scheme: Scheme, qwix_result=None):
    """Symmetric round-to-nearest in NumPy (float64): s = max|w| / (2^(b−1) − ½),
    q = clip(round(w / s), ±(2^(b−1) − 1)), ŵ = s·q; checked against ``qwix_result`` (the
    dequantized weights under test), which it returns in its own arithmetic otherwise.

    The group's largest |w| lands exactly on the tie ±(2^(b−1) − ½); float32 rounding decides
    which side qwix takes (for a negative one, −2^(b−1) is in range). Both lie within s/2 of w,
    so there the reference accepts either and takes qwix's."""
    s = expected_scales(w, name, bits, scheme)
    top = 2 ** (bits - 1) - 1
    ref = np.clip(np.round(np.asarray(w, np.float64) / s), -top, top) * s
    if qwix_result is None:
        return ref
    got = np.asarray(qwix_result, np.float64)
    edge = np.isclose(np.abs(w) / s, top + 0.5, rtol=1e-5, atol=0)
    np.testing.assert_allclose(got[~edge], ref[~edge], rtol=1e-5, atol=1e-5 * s.max())
    sides = np.stack([np.floor(w / s), np.ceil(w / s)]) * s
    assert np.all(np.isclose(got[edge], sides[:, edge], rtol=1e-5).any(0))
    return np.where(edge, got, ref).astype(np.float32)


@pytest.mark.parametrize("bits", [8, 4, 3, 2])
@pytest.mark.parametrize("scheme", SCHEMES, ids=lambda s: s.label)
@pytest.mark.parametrize("name", ["blocks.0.mlp.w_in.kernel", "embed.embedding"])
def test_dequantized_weights_are_within_half_a_step_of_the_originals(bits, scheme, name):
    rng = np.random.default_rng(bits)
    w = (rng.standard_normal((32, 24)) * rng.uniform(0.1, 3, (1, 24))).astype(np.float32)
    got = np.asarray(fake_quantize(jnp.asarray(w), name, bits, scheme))
    s = expected_scales(w, name, bits, scheme)
    assert np.all(np.abs(got - w) <= s / 2 * (1 + 1e-5) + 1e-7)
    # the dequantized values sit on the integer grid of their scale, inside the b-bit range
    q = got / s
    assert np.allclose(q, np.round(q), atol=1e-3)
    assert np.round(q).min() >= -(2 ** (bits - 1)) and np.round(q).max() <= 2 ** (bits - 1) - 1
    numpy_quantize(w, name, bits, scheme, got)
    # finer scales never do worse in total than one scale for the tensor
    if scheme.kind != "per-tensor":
        coarse = np.asarray(fake_quantize(jnp.asarray(w), name, bits, Scheme("per-tensor")))
        assert np.linalg.norm(got - w) <= np.linalg.norm(coarse - w) + 1e-6


def test_a_hand_computed_example():
    """Scales max|w| / (2^(b−1) − ½); the largest |w| lands on 2^(b−1) − ½, rounds up and is
    clipped to 2^(b−1) − 1."""
    w = np.array([[1.0, -0.32], [0.25, 0.5]], np.float32)
    got = np.asarray(fake_quantize(jnp.asarray(w), "x.kernel", 8, Scheme("per-tensor")))
    s = 1 / 127.5  # 1 → 127.5 → 127; -0.32 → -40.8 → -41; 0.25 → 31.875 → 32; 0.5 → 63.75 → 64
    np.testing.assert_allclose(got, np.array([[127, -41], [32, 64]]) * s, rtol=1e-6)
    # per channel (the columns of a kernel): column 0 max 1, column 1 max 0.5
    got = np.asarray(fake_quantize(jnp.asarray(w), "x.kernel", 4, Scheme("per-channel")))
    s0, s1 = 1 / 7.5, 0.5 / 7.5  # 0.25/s0 = 1.875 → 2; -0.32/s1 = -4.8 → -5; 0.5/s1 → 7
    np.testing.assert_allclose(got, np.array([[7 * s0, -5 * s1], [2 * s0, 7 * s1]]), rtol=1e-6)


@pytest.mark.parametrize("scheme", SCHEMES, ids=lambda s: s.label)
def test_scale_counts_and_sizes(scheme):
    import qwix

    from groklab.quantize.schemes import qtype, qwix_options

    for name, shape in [("a.kernel", (32, 24)), ("embed.embedding", (16, 32))]:
        q = qwix.quantize(jnp.zeros(shape) + 1.0, qtype(4), **qwix_options(name, scheme))
        assert q.scale.size == n_scales(name, shape, scheme)
    shapes = {"a.kernel": (32, 24), "a.bias": (24,), "embed.embedding": (16, 32)}
    names = quantized_names(shapes, embeddings=False)
    assert names == ["a.kernel"]
    assert quantized_names(shapes, embeddings=True) == ["a.kernel", "embed.embedding"]
    assert size_bytes(shapes, names, None, None) == (32 * 24 + 24 + 16 * 32) * 4
    scales = {"per-tensor": 1, "per-channel": 24, "group": 24 * 4}[scheme.kind]
    assert size_bytes(shapes, names, 4, scheme) == 32 * 24 // 2 + scales * 4 + (24 + 512) * 4
    assert size_bytes(shapes, names, 3, scheme) == math.ceil(32 * 24 * 3 / 8) + scales * 4 + \
        (24 + 512) * 4


@pytest.mark.parametrize("text", ["9", "8,8", "abc", "", "0", "4,1"])
def test_bad_bits_are_refused(text):
    with pytest.raises(ConfigError, match="--bits"):
        parse_bits(text)


@pytest.mark.parametrize("text", ["group:0", "group:x", "group", "per-row",
                                  "per-tensor,per-tensor"])
def test_bad_schemes_are_refused(text):
    with pytest.raises(ConfigError, match="--scheme"):
        parse_schemes(text)


def test_parsing():
    assert parse_bits("8,4") == (8, 4)
    assert parse_schemes("per-channel,group:32") == (Scheme("per-channel"), Scheme("group", 32))


def _accuracy(model, tokens, labels) -> float:
    return float(np.mean(np.argmax(np.asarray(model(jnp.asarray(tokens))), -1) == labels))


def test_the_table_is_the_accuracy_recomputed_from_checkpoint_split_and_numpy_weights(
        shared_source, tmp_path, capsys):
    out = tmp_path / "q"
    assert main(["quantize", str(shared_source), "--bits", "8,3", "--scheme",
                 "per-tensor,per-channel", "--embeddings", "--out", str(out)]) == 0
    assert "int3 per-channel" in capsys.readouterr().out
    result = json.loads((out / "quantization.json").read_text())
    about = result["about"]
    assert about["variants"] == ["int8 per-tensor", "int3 per-tensor", "int8 per-channel",
                                 "int3 per-channel"]
    assert "embed.embedding" in about["quantized"] and "unembed.kernel" in about["quantized"]
    loaded = load_checkpoints(RunRef.parse(str(shared_source)), (0, 1))
    split = np.load(shared_source / "split.npz")
    task = loaded.plan.task
    for i, seed in enumerate((0, 1)):
        row = list(split["seeds"]).index(seed)
        tr_idx, va_idx = split["train_idx"][row], split["val_idx"][row]
        params = jax.tree.map(lambda a, i=i: np.asarray(a)[i], loaded.params)
        got = result["checkpoints"][0]["seeds"][str(seed)]
        for label in ["float32", *about["variants"]]:
            if label == "float32":
                p = params
            else:
                bits, scheme = int(label.split()[0][3:]), Scheme.parse(label.split()[1])

                def quant(path, leaf, bits=bits, scheme=scheme):
                    name = param_name(path)
                    if name not in about["quantized"]:
                        return leaf
                    qwix = fake_quantize(jnp.asarray(leaf), name, bits, scheme)
                    return numpy_quantize(leaf, name, bits, scheme, qwix)

                p = jax.tree_util.tree_map_with_path(quant, params)
            model = nnx.merge(loaded.graphdef, p)
            train = _accuracy(model, task.tokens[tr_idx], split["train_labels"][row])
            val = _accuracy(model, task.tokens[va_idx], task.labels[va_idx])
            assert got[label]["train_acc"] == pytest.approx(train, abs=1e-6), (seed, label)
            assert got[label]["val_acc"] == pytest.approx(val, abs=1e-6), (seed, label)
    shapes = {n: np.shape(a)[1:] for n, a in named_leaves(loaded.params).items()}
    assert about["bytes"]["float32"] == 4 * sum(math.prod(s) for s in shapes.values())
    text = (out / "retention.md").read_text()
    assert "| int8 per-tensor |" in text and "of 2 |" in text


def test_all_checkpoints_and_the_report(shared_source, tmp_path, capsys):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(shared_source, run)
    assert main(["quantize", str(run), "--all_checkpoints", "--bits", "4"]) == 0
    q = run / "quantization"
    result = json.loads((q / "quantization.json").read_text())
    steps = [ck["steps"][0] for ck in result["checkpoints"]]
    assert len(steps) > 1 and steps == sorted(steps)
    assert (q / "figures" / "retention.png").stat().st_size > 10_000
    lines = (q / "over_training.csv").read_text().splitlines()
    assert len(lines) == 1 + 2 * len(steps)
    assert "## Over training" in (q / "retention.md").read_text()
    assert main(["report", str(run)]) == 0
    report = (run / "report.md").read_text()
    assert "## Weight quantization" in report and "int4 per-channel" in report
    assert "retention.png" in report
    # a later single-checkpoint study leaves no over-training files behind
    assert main(["quantize", f"{run}@step={steps[0]}", "--bits", "8"]) == 0
    assert not (q / "over_training.csv").exists()
    assert not (q / "figures" / "retention.png").exists()


@pytest.mark.parametrize("flags, message", [
    (["--bits", "16"], "--bits '16' is not allowed"),
    (["--scheme", "group:5"], "does not divide"),
    (["--scheme", "rows"], "--scheme 'rows' is not allowed"),
    (["--seed", "7"], "--seed 7 is not a seed"),
    (["--all_checkpoints", "@step=3"], "drop the selector"),
    (["--bits", "4", "NO_QWIX"], "pip install 'groklab[quantize]'"),
])
def test_bad_input_is_one_line(shared_source, tmp_path, capsys, monkeypatch, flags, message):
    run = str(shared_source)
    if flags[-1] == "NO_QWIX":
        monkeypatch.setitem(sys.modules, "qwix", None)  # import fails
        flags = flags[:-1]
    if flags[-1].startswith("@"):
        run, flags = run + flags[-1], flags[:-1]
    assert main(["quantize", run, "--out", str(tmp_path / "q"), *flags]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert not (tmp_path / "q").exists()
