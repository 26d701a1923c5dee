"""``groklab quantize``: a run's checkpoint (or every checkpoint) quantized per seed, each
variant evaluated on the seed's recorded train and validation rows, written beside the run.

Output (``RUN/quantization/`` unless ``--out``):
- ``quantization.json``: what was quantized and how, and per checkpoint and seed the float32
  and every variant's train/val accuracy and loss, the relative weight error and the bytes;
- ``retention.md``: over seeds and per seed (the chosen checkpoint; with ``--all_checkpoints``
  the last one); ``summary.csv`` and ``retention.tex`` (booktabs) over seeds, ``retention.csv``
  per seed;
- with ``--all_checkpoints``: ``over_training.csv`` and ``figures/retention.png`` (train and
  validation accuracy before and after quantization against the step).

"Grokked" is val accuracy ≥ ``GROKKED`` (0.99), the threshold of the run summaries.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import jax
import numpy as np

from groklab.atomic import write_atomic, write_json_atomic
from groklab.errors import ConfigError, short
from groklab.params import named_leaves
from groklab.quantize.evaluate import Variant, evaluation
from groklab.quantize.schemes import (
    Scheme,
    check_scheme,
    quantized_names,
    require_qwix,
    size_bytes,
)
from groklab.runs.checkpoints import Checkpoints
from groklab.runs.source import (
    RunRef,
    abstract_params,
    load_checkpoints,
    read_run,
    recorded_split,
    split_rows,
)

GROKKED = 0.99
FLOAT = "float32"
METHOD = "rtn"


def _per_seed(tree, i: int):
    return jax.tree.map(lambda a: float(np.asarray(a)[i]), tree)


def quantize_run(ref: RunRef, bits: tuple[int, ...], schemes: tuple[Scheme, ...],
                 embeddings: bool = False, all_checkpoints: bool = False,
                 seeds: tuple[int, ...] | None = None, out: str | Path | None = None,
                 progress=None) -> Path:
    """Quantize, evaluate and write (see the module docstring); returns the output directory.
    Everything that can be refused is refused before a checkpoint is read."""
    t0 = time.perf_counter()
    require_qwix()
    run, cfg, steps = read_run(ref)
    if all_checkpoints and ref.kind is not None:
        raise ConfigError(f"--all_checkpoints takes every checkpoint; drop the selector "
                          f"@{ref.selector} from {short(str(ref.path), 200)}")
    seeds = tuple(cfg.seeds) if seeds is None else tuple(seeds)
    missing = [s for s in seeds if s not in cfg.seeds]
    if missing:
        raise ConfigError(f"--seed {missing[0]} is not a seed of {short(str(ref.path), 200)}; "
                          f"its seeds: {', '.join(map(str, cfg.seeds))}")
    out = Path(out) if out is not None else run.path / "quantization"
    from groklab.runs.paths import check_writable

    check_writable(out, "--out")
    loaded = load_checkpoints(ref, seeds)
    one = jax.tree.map(lambda a: np.asarray(a)[0], loaded.params)
    shapes = {n: tuple(np.shape(a)) for n, a in named_leaves(one).items()}
    names = quantized_names(shapes, embeddings)
    if not names:
        raise ConfigError(f"{short(str(ref.path), 200)}: its model has no weight matrix to "
                          "quantize" + ("" if embeddings else " (try --embeddings)"))
    for scheme in schemes:
        check_scheme(scheme, shapes, names)
    variants = tuple(Variant(b, s) for s in schemes for b in bits)
    split = recorded_split(loaded)
    rows = (*split_rows(loaded, split, "train"), *split_rows(loaded, split, "val"))
    measure = evaluation(loaded.graphdef, cfg.train.loss, frozenset(names), variants)
    sizes = {FLOAT: size_bytes(shapes, names, None, None)}
    sizes |= {v.label: size_bytes(shapes, names, v.bits, v.scheme) for v in variants}

    def evaluate(params, steps_per_seed) -> dict:
        got = jax.device_get(measure(params, *rows))
        return {"steps": list(steps_per_seed),
                "epochs": [loaded.plan.epoch_at(s) for s in steps_per_seed],
                "seeds": {str(s): _per_seed(got, i) for i, s in enumerate(seeds)}}

    checkpoints = []
    if all_checkpoints:
        index = [list(cfg.seeds).index(s) for s in loaded.source_seeds]
        _, abstract = abstract_params(loaded.plan)
        with Checkpoints(run.checkpoints_path, read_only=True) as ckpts:
            for k, step in enumerate(steps):
                restored, _ = ckpts.restore_params(step, abstract)
                params = jax.tree.map(lambda x: np.asarray(x)[index], restored)
                checkpoints.append(evaluate(params, [step] * len(seeds)))
                if progress:
                    progress(k + 1, len(steps), step)
    else:
        checkpoints.append(evaluate(loaded.params, loaded.steps))
    n_params = sum(math.prod(s) for s in shapes.values())
    result = {
        "about": {
            "run": str(run.path.resolve()), "selector": ref.selector, "seeds": list(seeds),
            "method": METHOD, "bits": list(bits), "schemes": [s.label for s in schemes],
            "variants": [v.label for v in variants], "embeddings": embeddings,
            "quantized": names, "kept_float32": sorted(set(shapes) - set(names)),
            "n_params": n_params,
            "n_quantized": sum(math.prod(shapes[n]) for n in names),
            "bytes": sizes, "grokked_threshold": GROKKED, "loss": cfg.train.loss,
            "rows": {"train": int(rows[0].shape[1]), "val": int(rows[2].shape[1])},
            "task": {"name": loaded.plan.task.name, "p": loaded.plan.task.p},
            "qwix_version": _qwix_version(), "all_checkpoints": all_checkpoints,
        },
        "checkpoints": checkpoints,
    }
    _write(out, result)
    result["about"]["seconds"] = round(time.perf_counter() - t0, 2)
    write_json_atomic(out / "quantization.json", result)
    return out


def _qwix_version() -> str:
    return require_qwix().__version__


# ---------------------------------------------------------------- tables


def _mean_std(values: list[float], signed: bool = False) -> str:
    v = np.asarray(values, float)
    mean = f"{v.mean():+.4f}" if signed else f"{v.mean():.4f}"
    return mean if len(v) == 1 else f"{mean} ± {v.std(ddof=1):.4f}"


def seed_table(result: dict, checkpoint: dict) -> tuple[list[str], list[list[str]]]:
    """One row per seed and weights (float32 first)."""
    about = result["about"]
    header = ["seed", "step", "weights", "bytes", "train acc", "val acc", "val loss",
              "weight error", "grokked"]
    rows = []
    for i, (seed, got) in enumerate(checkpoint["seeds"].items()):
        for label in (FLOAT, *about["variants"]):
            m = got[label]
            err = m.get("weight_error")
            rows.append([seed, str(checkpoint["steps"][i]), label, f"{about['bytes'][label]:,}",
                         f"{m['train_acc']:.4f}", f"{m['val_acc']:.4f}", f"{m['val_loss']:.4g}",
                         "—" if err is None else f"{err:.2e}",
                         "yes" if m["val_acc"] >= GROKKED else "no"])
    return header, rows


def summary_table(result: dict, checkpoint: dict) -> tuple[list[str], list[list[str]]]:
    """One row per weights: mean ± std over seeds, the change from float32 and the seeds that
    are still grokked."""
    about = result["about"]
    header = ["weights", "bytes", "× smaller", "train acc", "val acc", "Δ train acc",
              "Δ val acc", "grokked (val ≥ 0.99)"]
    seeds = checkpoint["seeds"]
    rows = []
    for label in (FLOAT, *about["variants"]):
        tr = [g[label]["train_acc"] for g in seeds.values()]
        va = [g[label]["val_acc"] for g in seeds.values()]
        dtr = [g[label]["train_acc"] - g[FLOAT]["train_acc"] for g in seeds.values()]
        dva = [g[label]["val_acc"] - g[FLOAT]["val_acc"] for g in seeds.values()]
        rows.append([label, f"{about['bytes'][label]:,}",
                     f"{about['bytes'][FLOAT] / about['bytes'][label]:.2f}",
                     _mean_std(tr), _mean_std(va),
                     "—" if label == FLOAT else _mean_std(dtr, signed=True),
                     "—" if label == FLOAT else _mean_std(dva, signed=True),
                     f"{sum(v >= GROKKED for v in va)} of {len(va)}"])
    return header, rows


def training_table(result: dict) -> tuple[list[str], list[list[str]]]:
    """One row per checkpoint: each weights' train / val accuracy, mean over seeds."""
    labels = (FLOAT, *result["about"]["variants"])
    header = ["step", "epoch", *labels]
    rows = []
    for ck in result["checkpoints"]:
        cells = []
        for label in labels:
            tr = np.mean([g[label]["train_acc"] for g in ck["seeds"].values()])
            va = np.mean([g[label]["val_acc"] for g in ck["seeds"].values()])
            cells.append(f"{tr:.3f} / {va:.3f}")
        rows.append([str(max(ck["steps"])), f"{max(ck['epochs']):g}", *cells])
    return header, rows


def over_training_rows(result: dict) -> list[dict]:
    """Per checkpoint and seed, every weights' train and val accuracy (the figure's data)."""
    out = []
    for ck in result["checkpoints"]:
        for i, (seed, got) in enumerate(ck["seeds"].items()):
            row = {"step": ck["steps"][i], "epoch": ck["epochs"][i], "seed": int(seed)}
            for label, m in got.items():
                row[f"{label} train_acc"] = m["train_acc"]
                row[f"{label} val_acc"] = m["val_acc"]
            out.append(row)
    return out


def _write(out: Path, result: dict) -> None:
    from groklab.report.tables import csv_text, latex_grid, markdown_grid

    out.mkdir(parents=True, exist_ok=True)
    last = result["checkpoints"][-1]
    about = result["about"]
    head, rows = summary_table(result, last)
    s_head, s_rows = seed_table(result, last)
    where = (f"{about['run']}" + (f"@{about['selector']}" if about["selector"] else "")
             + f", steps {', '.join(map(str, last['steps']))}")
    text = (f"# Weight quantization: {where}\n\n"
            f"Symmetric round-to-nearest ({about['method']}), qwix {about['qwix_version']}; "
            f"{about['n_quantized']:,} of {about['n_params']:,} parameters quantized "
            f"({'with' if about['embeddings'] else 'without'} the embeddings and unembedding), "
            "the rest float32. Accuracy on each seed's recorded train "
            f"({about['rows']['train']:,} rows) and validation ({about['rows']['val']:,} rows) "
            "split.\n\n## Over seeds\n\n" + markdown_grid(head, rows) +
            "\n\n## Per seed\n\n" + markdown_grid(s_head, s_rows) + "\n")
    if about["all_checkpoints"]:
        t_head, t_rows = training_table(result)
        text += ("\n## Over training\n\nMean over seeds at every checkpoint: train / "
                 "validation accuracy.\n\n" + markdown_grid(t_head, t_rows) + "\n")
    write_atomic(out / "retention.md", text.encode())
    write_atomic(out / "retention.csv", csv_text([dict(zip(s_head, r)) for r in s_rows])
                 .encode())
    write_atomic(out / "summary.csv", csv_text([dict(zip(head, r)) for r in rows]).encode())
    write_atomic(out / "retention.tex", latex_grid(head, rows).encode())
    if about["all_checkpoints"]:
        from groklab.figures.quantization import retention_figure

        table = over_training_rows(result)
        write_atomic(out / "over_training.csv", csv_text(table).encode())
        path = retention_figure(result, out / "figures" / "retention.png")
        about["figures"] = {"retention": path.relative_to(out).as_posix()}
    else:  # an earlier --all_checkpoints run's files would describe another study
        for stale in (out / "over_training.csv", out / "figures" / "retention.png"):
            stale.unlink(missing_ok=True)
