"""Writing an export directory: one model (``export_model``) or the chosen checkpoint of a
run's seeds (``export_run``, what ``groklab export`` does).

A directory holds one seed's model:

* ``--format safetensors``: ``model.safetensors`` (groklab's parameter names) and
  ``config.json`` (``describe``: format, groklab version, the model config, the task, the
  vocabulary layout and the source run, seed, step, epoch and val accuracy).
* ``--format transformer-lens``: ``model.safetensors`` (HookedTransformer's parameter names
  and shapes), ``config.json`` (``HookedTransformerConfig`` keyword arguments) and
  ``groklab.json`` (the same description, plus the hook names that hold the same values).

Several seeds go to ``DIR/seed_<k>/``, one such directory each. The whole output is written
to a temporary sibling directory and renamed into place, so ``DIR`` is complete or absent.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

import jax
import numpy as np
from flax import nnx

from groklab.atomic import write_json_atomic
from groklab.errors import ConfigError, short
from groklab.export import native, safetensors_io
from groklab.export import transformer_lens as tl
from groklab.models import ModelConfig

FORMATS = ("safetensors", "transformer-lens")
FORMAT_VERSION = 1
TENSORS, CONFIG, ABOUT = "model.safetensors", "config.json", "groklab.json"
LOADING = ("cfg = HookedTransformerConfig(**json.load(open('config.json'))); "
           "model = HookedTransformer(cfg); "
           "model.load_state_dict(safetensors.torch.load_file('model.safetensors'), "
           "strict=False)  # the missing keys are buffers only")


def check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ConfigError(f"--format {short(fmt)} is not allowed; choose one of "
                          f"{', '.join(FORMATS)}")


def describe(cfg: ModelConfig, fmt: str, task=None, source: dict | None = None) -> dict:
    """What an export holds and where it came from (JSON values)."""
    import groklab

    vocab = {"d_vocab": cfg.d_vocab, "n_ctx": cfg.n_ctx,
             "operand_positions": list(cfg.operand_positions or ()),
             "answer_position": None if cfg.kind == "mlp" else (cfg.n_ctx or 0) - 1}
    about = {"format": "groklab" if fmt == "safetensors" else fmt,
             "format_version": FORMAT_VERSION, "groklab_version": groklab.__version__,
             "tensors": TENSORS, "model": native.config_dict(cfg)}
    if task is not None:
        about["task"] = {"name": task.name, "p": task.p, "layout": task.layout,
                         "definition": task.definition, "rows": task.n_rows}
        vocab.update(layout=task.layout, token_names=list(task.token_names))
    about["vocabulary"] = vocab
    about["source"] = source
    if fmt == "transformer-lens":
        about["hooked_transformer_config"] = CONFIG
        about["hook_names"] = tl.hook_names(cfg)
        about["load"] = LOADING
    return about


def write_model(model: nnx.Module, directory: str | Path, fmt: str, task=None,
                source: dict | None = None) -> Path:
    """Write one model's export files into ``directory`` (created if missing)."""
    check_format(fmt)
    cfg = model.config
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = native.model_tensors(model)
    about = describe(cfg, fmt, task, source)
    meta = {"groklab_export": json.dumps(about, allow_nan=False)}
    if fmt == "safetensors":
        safetensors_io.write_tensors(directory / TENSORS, tensors, meta)
        write_json_atomic(directory / CONFIG, about)
    else:
        name = f"groklab-{source['seed']}" if source else "groklab"
        safetensors_io.write_tensors(directory / TENSORS, tl.hooked_state_dict(cfg, tensors),
                                     meta)
        write_json_atomic(directory / CONFIG, tl.hooked_config(cfg, name))
        write_json_atomic(directory / ABOUT, about)
    return directory


def check_out(out: Path) -> None:
    """``out`` can be created, and holds nothing yet."""
    from groklab.runs.paths import check_writable

    check_writable(out, "--out")
    if out.is_dir() and any(out.iterdir()):
        raise ConfigError(f"--out {short(str(out), 200)} is not empty; give a new or empty "
                          "directory")


def export_models(models: dict[int, tuple[nnx.Module, dict | None]], out: str | Path,
                  fmt: str, task=None) -> list[Path]:
    """Write ``{seed: (model, source)}``: one seed straight into ``out``, several into
    ``out/seed_<k>/``. Returns the directories written."""
    check_format(fmt)
    out = Path(os.path.abspath(out))
    check_out(out)
    tmp = out.parent / f".{out.name}.partial-{uuid.uuid4().hex[:8]}"
    os.makedirs(out.parent, exist_ok=True)
    os.mkdir(tmp)  # the umask's mode, like the files in it
    try:
        single = len(models) == 1
        for seed, (model, source) in models.items():
            write_model(model, tmp if single else tmp / f"seed_{seed}", fmt, task, source)
        os.replace(tmp, out)  # replaces an empty directory too (POSIX rename)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return [out] if len(models) == 1 else [out / f"seed_{s}" for s in models]


def export_run(ref, seeds: tuple[int, ...] | None, fmt: str, out: str | Path) -> list[Path]:
    """Export the checkpoint ``ref`` selects (``groklab.runs.source.RunRef``) for ``seeds``
    (default: every seed of the run). Everything that can be refused is refused before a
    checkpoint is read."""
    from groklab.runs.source import load_checkpoints, read_run

    check_format(fmt)
    safetensors_io.require()
    check_out(Path(os.path.abspath(out)))
    run, cfg, _ = read_run(ref)
    seeds = tuple(cfg.seeds) if seeds is None else tuple(seeds)
    missing = [s for s in seeds if s not in cfg.seeds]
    if missing:
        raise ConfigError(f"--seed {missing[0]} is not a seed of {ref.role} "
                          f"{short(str(ref.path), 200)}; its seeds: "
                          f"{', '.join(map(str, cfg.seeds))}")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"--seed lists a seed twice: {short(list(seeds))}")
    if fmt == "transformer-lens":
        tl.check_expressible(cfg.model)
    loaded = load_checkpoints(ref, seeds)
    models = {}
    for i, seed in enumerate(loaded.seeds):
        params = jax.tree.map(lambda a, i=i: np.asarray(a)[i], loaded.params)
        step = loaded.steps[i]
        source = {"run": str(Path(run.path).resolve()), "selector": ref.selector,
                  "seed": seed, "step": step, "epoch": loaded.plan.epoch_at(step),
                  "val_acc": loaded.val_acc[i], "preset": cfg.preset}
        models[seed] = (nnx.merge(loaded.graphdef, params), source)
    return export_models(models, out, fmt, loaded.plan.task)
