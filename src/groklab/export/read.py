"""Reading an export directory back into a groklab model (``load_exported``), whichever format
wrote it: a TransformerLens export is mapped back through the inverse of its mapping."""

from __future__ import annotations

from pathlib import Path

from groklab.config import load_config_file
from groklab.errors import ConfigError, short
from groklab.export import native, safetensors_io
from groklab.export import transformer_lens as tl
from groklab.export.write import ABOUT, CONFIG, FORMAT_VERSION, TENSORS
from groklab.models import ModelConfig


def export_dir(path: str | Path, seed: int | None = None) -> Path:
    """The directory of one model: ``path`` itself, or ``path/seed_<seed>`` of a several-seed
    export (the only one when there is one)."""
    path = Path(path)
    where = short(str(path), 200)
    if not path.is_dir():
        raise ConfigError(f"export directory {where} does not exist")
    if (path / CONFIG).is_file():
        return path
    seeds = sorted(int(p.name[5:]) for p in path.glob("seed_*")
                   if p.name[5:].isdigit() and (p / CONFIG).is_file())
    if not seeds:
        raise ConfigError(f"{where} is not a groklab export (no {CONFIG}, no seed_<k>/)")
    if seed is None and len(seeds) == 1:
        seed = seeds[0]
    if seed not in seeds:
        raise ConfigError(f"{where} holds the seeds {', '.join(map(str, seeds))}; choose one "
                          f"(seed={seeds[0]})" if seed is None else
                          f"{where} has no seed {seed}; it holds {', '.join(map(str, seeds))}")
    return path / f"seed_{seed}"


def read_export(path: str | Path, seed: int | None = None) -> dict:
    """The description of an export (``write.describe``): format, model config, task,
    vocabulary layout, source run and step."""
    d = export_dir(path, seed)
    name = ABOUT if (d / ABOUT).is_file() else CONFIG
    about = load_config_file(d / name, "export description")
    where = short(str(d / name), 200)
    fmt = about.get("format")
    if fmt not in ("groklab", tl.FORMAT):
        raise ConfigError(f"{where}: format {short(fmt)} is not a groklab export format "
                          f"(groklab, {tl.FORMAT})")
    if about.get("format_version") != FORMAT_VERSION:
        raise ConfigError(f"{where}: format_version {short(about.get('format_version'))} is "
                          f"not {FORMAT_VERSION}, the one this groklab reads")
    src = about.get("source")
    if seed is not None and isinstance(src, dict) and src.get("seed") != seed:
        raise ConfigError(f"{where} holds seed {short(src.get('seed'))}, not seed {seed}")
    return about


def load_exported(path: str | Path, seed: int | None = None):
    """(model, ModelConfig) of an export directory written by ``groklab export`` (either
    format); the model gives the exported checkpoint's logits exactly. ``seed`` picks one of a
    several-seed export."""
    d = export_dir(path, seed)
    about = read_export(d, seed)
    cfg: ModelConfig = native.config_from_dict(about.get("model"), f"{short(str(d), 200)}")
    tensors, _ = safetensors_io.read_tensors(d / TENSORS)
    where = short(str(d / TENSORS), 200)
    if about["format"] == tl.FORMAT:
        try:
            tensors = tl.groklab_tensors(cfg, tensors)
        except KeyError as e:
            raise ConfigError(f"{where} lacks the HookedTransformer parameter {e.args[0]}") \
                from None
    return native.model_from_tensors(cfg, tensors, where), cfg
