"""groklab's TransformerLens export loaded into the real ``HookedTransformer`` (TransformerLens
3.x, torch on the CPU): ``make test-interop`` installs ``groklab[interop]`` and runs these; they
skip when torch or TransformerLens is missing, and ``make test`` deselects them (marker
``interop``).

Checked, for runs trained with the nanda2023, power2022 and seed-teacher presets (tiny widths)
and exported with ``groklab export --format transformer-lens``: the state dict loads (the only
missing keys are HookedTransformer's buffers, nothing is unexpected), the logits of every row of
the task agree with groklab's within 1e-4 (float32), and so does every hook both have
(``transformer_lens.hook_names``). Also: tests/tl_reference.py (the NumPy forward that
``make test`` checks the export with) agrees with the real library on every variant of
tests/test_export.py, and TransformerLens's own weight processing (fold_ln, centring, value-bias
folding) keeps the log-probabilities."""

import json
from types import SimpleNamespace

import numpy as np
import pytest
from scipy.special import logsumexp

import tl_reference
from groklab.cli.main import main
from groklab.export import load_exported
from groklab.export import transformer_lens as tl
from groklab.export.native import model_tensors
from groklab.tasks import make_task
from test_export import CONFIGS, compare_with_hooked, perturbed, resolved, run

pytestmark = [pytest.mark.interop, pytest.mark.filterwarnings(
    "ignore:HookedTransformer is deprecated:DeprecationWarning")]

BUFFERS = ("attn.mask", "attn.IGNORE", "attn.rotary_sin", "attn.rotary_cos")
TOLERANCE = 1e-4
MEASURED: dict[str, dict] = {}  # preset -> {hook: max |Δ|}, printed by the last test


@pytest.fixture(scope="module")
def lib():
    """torch, HookedTransformer, HookedTransformerConfig and safetensors' torch loader;
    imported here, not at collection, so that ``make test`` (``-m "not interop"``) never
    imports torch (16 s) even where it is installed."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformer_lens")
    pytest.importorskip("safetensors")
    try:
        from transformer_lens import HookedTransformer, HookedTransformerConfig
    except ImportError:  # TransformerLens 4 removed HookedTransformer (TransformerBridge)
        pytest.skip("this TransformerLens has no HookedTransformer (removed in 4.0); "
                    "groklab[interop] pins transformer-lens<4")
    from safetensors.torch import load_file

    return SimpleNamespace(torch=torch, HookedTransformer=HookedTransformer,
                           HookedTransformerConfig=HookedTransformerConfig, load_file=load_file)


def hooked(lib, cfg: dict, state_dict: dict):
    """A HookedTransformer on the CPU with the exported state dict loaded (buffers excepted)."""
    model = lib.HookedTransformer(lib.HookedTransformerConfig(**{**cfg, "device": "cpu"}))
    result = model.load_state_dict({k: lib.torch.as_tensor(np.array(v)) for k, v in
                                    state_dict.items()}, strict=False)
    assert not result.unexpected_keys, result.unexpected_keys
    assert all(k.endswith(BUFFERS) for k in result.missing_keys), result.missing_keys
    return model.eval()


def tl_forward(lib):
    """``forward(state_dict, cfg, tokens)`` of the real library, as tests/test_export.py's
    compare_with_hooked calls it."""
    def forward(state_dict, cfg, tokens):
        model = hooked(lib, cfg, state_dict)
        with lib.torch.no_grad():
            logits, cache = model.run_with_cache(lib.torch.as_tensor(np.array(tokens),
                                                                     dtype=lib.torch.long))
        return logits.numpy(), {k: v.numpy() for k, v in cache.items()}

    return forward


PRESETS = {
    "nanda2023": ["--set", "task.layout=no_op", "--set", "model.d_model=32",
                  "--set", "model.d_head=8", "--set", "model.d_mlp=64"],
    "power2022": ["--set", "model.d_model=32", "--set", "model.n_heads=4"],
    "seed-teacher": ["--set", "model.d_model=32", "--set", "model.n_heads=2"],  # dropout 0.2
}


@pytest.fixture(scope="module", params=sorted(PRESETS))
def exported(request, tmp_path_factory, lib):
    """(preset, run dir, native export, transformer-lens export) of a tiny trained run."""
    preset = request.param
    root = tmp_path_factory.mktemp(preset)
    run_dir = root / "run"
    assert main(["train", "--preset", preset, "--task", "add", "--p", "7", "--epochs", "30",
                 "--batch_size", "16", "--seeds", "0,1", "--quiet", "--out", str(run_dir),
                 *PRESETS[preset]]) == 0
    native, tl_dir = root / "native", root / "tl"
    assert main(["export", str(run_dir), "--seed", "1", "--out", str(native)]) == 0
    assert main(["export", str(run_dir), "--seed", "1", "--format", "transformer-lens",
                 "--out", str(tl_dir)]) == 0
    return preset, run_dir, native, tl_dir


def test_every_row_and_every_hook_agree_with_hooked_transformer(exported, lib):
    preset, _, native, tl_dir = exported
    model, cfg = load_exported(native)
    about = json.loads((tl_dir / "groklab.json").read_text())
    task = make_task("add", 7, about["task"]["layout"])
    assert about["task"]["rows"] == len(task.tokens) == 49
    sd = {k: v.numpy() for k, v in lib.load_file(str(tl_dir / "model.safetensors")).items()}
    hooked_cfg = json.loads((tl_dir / "config.json").read_text())
    diffs = compare_with_hooked(cfg, model, sd, hooked_cfg, task.tokens, tl_forward(lib))
    MEASURED[preset] = diffs
    assert len(diffs) >= 3 + 11 * cfg.n_layers
    bad = {k: v for k, v in diffs.items() if not v <= TOLERANCE}
    assert not bad, bad


def test_transformer_lens_weight_processing_keeps_the_log_probabilities(exported, lib):
    """load_and_process_state_dict's defaults fold the norms' weights into the next layer
    ("LN" → "LNPre", "RMS" → "RMSPre"), centre the writing weights and the unembedding and
    fold the value biases: the logits shift by a constant per row, the log-probs stay."""
    _, _, native, tl_dir = exported
    model, _ = load_exported(native)
    task = make_task("add", 7, json.loads((tl_dir / "groklab.json").read_text())["task"]
                     ["layout"])
    cfg = json.loads((tl_dir / "config.json").read_text())
    sd = lib.load_file(str(tl_dir / "model.safetensors"))
    processed = lib.HookedTransformer(lib.HookedTransformerConfig(**{**cfg, "device": "cpu"}))
    processed.load_and_process_state_dict(sd, fold_ln=True, center_writing_weights=True,
                                          center_unembed=True, fold_value_biases=True)
    with lib.torch.no_grad():
        logits = processed(lib.torch.as_tensor(np.array(task.tokens), dtype=lib.torch.long))[:, -1]
    theirs = lib.torch.log_softmax(logits.double(), -1).numpy()
    ours = run(model, task.tokens).astype(np.float64)
    ours = ours - logsumexp(ours, axis=-1, keepdims=True)
    assert np.abs(theirs - ours).max() <= TOLERANCE


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_the_numpy_reference_is_hooked_transformer(name, lib):
    """tests/tl_reference.py against the real library, every hook it records."""
    cfg, task = resolved(name)
    sd = tl.hooked_state_dict(cfg, model_tensors(perturbed(cfg)))
    hooked_cfg = tl.hooked_config(cfg)
    ref_logits, ref = tl_reference.run_with_cache(sd, hooked_cfg, task.tokens)
    logits, cache = tl_forward(lib)(sd, hooked_cfg, task.tokens)
    assert np.abs(logits - ref_logits).max() <= TOLERANCE
    assert set(ref) <= set(cache), sorted(set(ref) - set(cache))
    for k, v in ref.items():
        theirs = np.asarray(cache[k], np.float64)
        kept = np.isfinite(v)
        assert np.array_equal(kept, np.isfinite(theirs)), k
        diff = np.where(kept, theirs, 0.0) - np.where(kept, v, 0.0)
        assert np.abs(diff).max() <= TOLERANCE, k


def test_zz_report_the_measured_differences(lib):
    for preset, diffs in sorted(MEASURED.items()):
        worst = max((v, k) for k, v in diffs.items() if k != "logits")
        print(f"\n{preset}: logits max |Δ| {diffs['logits']:.2e}; {len(diffs) - 1} hooks, "
              f"worst {worst[1]} {worst[0]:.2e}")
