"""``groklab analyze RUN_DIR``: everything the analysis package measures, for one checkpoint per
seed (and optionally every checkpoint), written to ``RUN_DIR/analysis/`` (or ``--out``):

```
about.json            the run, checkpoint (step, epoch per seed), rows, hook points, options
representations.json  per seed and hook point: entropy rank and participation ratio,
                      activation statistics, MLP neuron activity, hook × hook CKA
attention.json        per seed and layer: entropy in bits per head and query, mean patterns,
                      patterns of the chosen inputs
weights.json          per seed: L1, L2, L1/L2, Hoyer sparsity, near-zero share per parameter and
                      in total; norms per layer; gradient norms per layer and parameter
fourier.json          (modular tasks) spectra, key frequencies, restricted / excluded loss
attribution.json      (transformers) integrated gradients per position
compare.json          (--compare) CKA at matching hook points and hook × hook, per compared run
table.md, table.csv   the seeds' table: CKA / effective rank / attention entropy per layer
evolution.json        (--all_checkpoints) per checkpoint and seed: losses, weight and gradient
                      norms, effective ranks, attention entropy, progress measures
figures/              attention patterns, spectra, CKA matrices, evolution, progress measures
```

Every measure is computed by a jitted function vmapped over seeds (``groklab.analysis.probe``);
files are written atomically, after every input has been validated.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

import groklab
from groklab.analysis import spectral
from groklab.analysis.attribution import integrated_gradients
from groklab.analysis.jsonable import seed_slice, to_json
from groklab.analysis.probe import make_spec, measure_checkpoint, probe, weights
from groklab.analysis.representations import cka_matrix
from groklab.analysis.run_similarity import check_comparable, matching_hooks
from groklab.analysis.subject import Subject, load_subject, parse_ref
from groklab.analysis.weights import NEAR_ZERO
from groklab.errors import ConfigError
from groklab.runs.files import write_json_atomic
from groklab.runs.rundir import usable_metrics

IG_ROWS = 1024  # integrated gradients: the first this many validation rows of each seed


@dataclass(frozen=True)
class Options:
    checkpoint: str | None = None  # latest | STEP | step=N | epoch=E | val_acc=X
    all_checkpoints: bool = False
    compare: tuple[str, ...] = ()  # other runs, RUN_DIR[@SEL]
    hooks: tuple[str, ...] = ()  # representation hook points (default: per block)
    position: str = "last"
    inputs: tuple[tuple[int, int], ...] = ()  # (a, b) whose attention patterns are drawn
    force: bool = False  # compare runs of other tasks or splits
    kappa: float = 2.0  # key frequency: share ≥ kappa × uniform
    ig_steps: int = 32  # 0: no attribution
    pdf: bool = False  # figures also as PDF


def template(subject: Subject):
    """Seed 0's model (for hook names and the config)."""
    one = jax.tree.map(lambda x: x[0], subject.loaded.params)
    return nnx.merge(subject.loaded.graphdef, one)


def input_rows(task, inputs) -> list[int]:
    """Table rows of the chosen operand pairs (a, b)."""
    if not inputs:
        return []
    if len(task.operand_positions) != 2:
        raise ConfigError(f"--inputs names (a, b) pairs; task {task.name!r} has "
                          f"{len(task.operand_positions)} operands")
    ops = task.tokens[:, list(task.operand_positions)]
    rows = []
    for a, b in inputs:
        hit = np.flatnonzero((ops[:, 0] == a) & (ops[:, 1] == b))
        if not len(hit):
            raise ConfigError(f"--inputs {a}:{b} is not a row of {task.name} mod {task.p} "
                              f"(operands are 0..{task.p - 1}"
                              + (", b ≠ 0" if task.name in ("div", "div_odd_sub") else "") + ")")
        rows.append(int(hit[0]))
    return rows


def check_out(out: Path) -> None:
    """The output directory can be written (before anything is measured)."""
    from groklab.runs.paths import check_writable

    check_writable(out, "--out")


def _vmapped(fn):
    return jax.jit(jax.vmap(fn))


weights_function = jax.jit(jax.vmap(weights))


@functools.lru_cache(maxsize=16)
def probe_function(graphdef, spec):
    """``probe`` vmapped over seeds and jitted, once per model structure and spec (a run
    compared with itself, or runs of one architecture, share the compiled function)."""
    return _vmapped(partial(probe, graphdef, spec))


@functools.lru_cache(maxsize=16)
def cka_function(hooks_a: tuple[str, ...], hooks_b: tuple[str, ...]):
    return jax.jit(jax.vmap(lambda ra, rb: cka_matrix([ra[h] for h in hooks_a],
                                                      [rb[h] for h in hooks_b])))


def seed_results(tree, seeds) -> dict:
    return {str(s): to_json(seed_slice(tree, i)) for i, s in enumerate(seeds)}


def analyze(run_dir: str, out: str | Path | None = None, opts: Options = Options()) -> Path:
    """Analyse a run directory; returns the output directory. Raises ConfigError on bad input
    before anything is written."""
    t0 = time.perf_counter()
    subject = load_subject(parse_ref(run_dir, opts.checkpoint))
    model = template(subject)
    cfg = subject.plan.config
    spec = make_spec(model, opts.hooks or None, opts.position, cfg.train.loss)
    others = [load_subject(parse_ref(c, None, "compared run")) for c in opts.compare]
    commons = [check_comparable(subject, o, opts.force) for o in others]
    other_specs = [make_spec(template(o), opts.hooks or None, opts.position, cfg.train.loss)
                   for o in others]
    chosen = input_rows(subject.task, opts.inputs)
    out = Path(out) if out is not None else subject.loaded.run.path / "analysis"
    check_out(out)
    kind = subject.plan.config.model.kind
    fourier_parts = spectral.applies(subject.task, kind)

    files: dict[str, dict] = {}
    params = subject.loaded.params
    val_tokens, val_labels = subject.rows("val")
    measure = checkpoint_function(subject, spec, grid_hooks(subject))
    got = measure(params, val_tokens, val_labels, *subject.rows("train"),
                  spectral.grid_tokens(subject.task, fourier_parts))
    reps = got.pop("reps")
    got = jax.device_get(got)
    measures = got["val"]
    files["representations"] = {
        "hooks": list(spec.representations), "position": spec.position,
        "seeds": seed_results({"loss": measures["loss"], "acc": measures["acc"],
                               "ranks": measures["ranks"],
                               "activations": measures["activations"],
                               "neurons": measures["neurons"],
                               "cka_within": got["cka_within"]}, subject.seeds)}
    files["attention"] = _attention(subject, spec, measures, chosen)
    files["weights"] = {"near_zero": NEAR_ZERO, "seeds": seed_results(
        {**got["weights"], "gradients": got["train"]}, subject.seeds)}
    if any(fourier_parts.values()):
        files["fourier"] = _fourier(subject, fourier_parts, opts.kappa,
                                    got.get("grid_logits"), got.get("grid_acts"))
    if kind == "transformer" and opts.ig_steps > 0:
        files["attribution"] = _attribution(subject, val_tokens, val_labels, opts.ig_steps)
    if others:
        files["compare"] = {"runs": [
            _compare(subject, spec, reps, o, ospec, common)
            for o, ospec, common in zip(others, other_specs, commons)]}
    if opts.all_checkpoints:
        from groklab.analysis.evolution import evolution

        files["evolution"] = evolution(subject, spec, fourier_parts, files.get("fourier"),
                                       opts.kappa)
    from groklab.analysis.phases import phases_by_seed
    from groklab.analysis.table import write_table
    from groklab.figures.analysis import write_figures

    files = {"about": _about(subject, spec, opts, fourier_parts), **files}
    metrics = usable_metrics(subject.loaded.run.read_metrics())
    if "evolution" in files:
        seeds = list(dict.fromkeys(r["seed"] for r in files["evolution"]["records"]))
        files["evolution"]["phases"] = phases_by_seed(metrics, seeds)
    made = write_figures(out, files, metrics, position_names(subject.task), opts.pdf)
    files["about"]["figures"] = {k: Path(v).relative_to(out).as_posix() for k, v in made.items()}
    write_table(out, subject, files)
    files["about"]["seconds"] = round(time.perf_counter() - t0, 2)
    for name, content in files.items():
        write_json_atomic(out / f"{name}.json", content)
    _remove_stale(out, files, made)
    return out


SECTIONS = ("representations", "attention", "weights", "fourier", "attribution", "compare",
            "evolution")


def _remove_stale(out: Path, files: dict, made: dict) -> None:
    """An earlier analysis into the same directory may have written sections or figures this
    one did not (no --compare now, say): remove them, so every file describes this analysis."""
    for name in SECTIONS:
        if name not in files:
            (out / f"{name}.json").unlink(missing_ok=True)
    keep = {Path(p).stem for p in made.values()}
    for f in (out / "figures").glob("*"):
        if f.stem not in keep:
            f.unlink()


def position_names(task) -> list[str]:
    """A name per input position: the operands a, b, c, … and the fixed tokens (op, =)."""
    letters = dict(zip(task.operand_positions, "abcdefghij"))
    return [letters.get(t, task.token_names[int(task.tokens[0, t])]) for t in range(task.n_ctx)]


def _about(subject: Subject, spec, opts: Options, fourier_parts) -> dict:
    ld = subject.loaded
    task = subject.task
    return {
        "groklab_version": groklab.__version__, "run": str(ld.run.path),
        "label": subject.label, "kind": subject.plan.config.model.kind,
        "task": {"name": task.name, "p": task.p, "layout": task.layout},
        "checkpoint": {"selector": ld.ref.selector, "seeds": list(ld.seeds),
                       "steps": list(ld.steps),
                       "epochs": [subject.plan.epoch_at(s) for s in ld.steps],
                       "val_acc_logged": list(ld.val_acc)},
        "rows": {"measured_on": "validation rows of the recorded split (split.npz)",
                 "n_val": int(subject.split["val_idx"].shape[1]),
                 "n_train": int(subject.split["train_idx"].shape[1]),
                 "gradients_on": "training rows (recorded labels), the run's loss, no dropout"},
        "hooks": {"representations": list(spec.representations),
                  "patterns": list(spec.patterns), "neurons": list(spec.neurons),
                  "position": spec.position},
        "options": {"compare": list(opts.compare), "all_checkpoints": opts.all_checkpoints,
                    "kappa": opts.kappa, "ig_steps": opts.ig_steps, "force": opts.force,
                    "inputs": [list(x) for x in opts.inputs]},
        "fourier": fourier_parts,
    }


def _attention(subject: Subject, spec, measures, chosen: list[int]) -> dict:
    out = {"patterns": list(spec.patterns),
           "seeds": seed_results({"entropy": measures["attention"],
                                  "mean_pattern": measures["mean_pattern"]}, subject.seeds)}
    if chosen and spec.patterns:
        tokens = np.broadcast_to(subject.task.tokens[chosen],
                                 (len(subject.seeds), len(chosen), subject.task.n_ctx))
        from groklab.models.hooks import Recorder

        def patterns(params, toks):
            rec = Recorder(spec.patterns)
            nnx.merge(subject.loaded.graphdef, params)(toks, None, rec)
            return {h: rec.values[h] for h in spec.patterns}

        got = jax.device_get(_vmapped(patterns)(subject.loaded.params, np.asarray(tokens)))
        ops = subject.task.tokens[chosen][:, list(subject.task.operand_positions)]
        out["inputs"] = {"operands": ops.tolist(), "rows": chosen,
                         "seeds": seed_results(got, subject.seeds)}
    return out


def grid_hooks(subject: Subject) -> tuple[str, ...]:
    """The neurons whose activations the Fourier analysis reads: each block's MLP hidden
    activation (the two-hot MLP's hidden layer)."""
    if subject.plan.config.model.kind == "transformer":
        return tuple(f"blocks.{i}.mlp.hook_post" for i in range(_depth(subject)))
    return ("hook_hidden_post",)


def checkpoint_function(subject: Subject, spec, grid_hooks: tuple[str, ...],
                        within: bool = True):
    """``measure_checkpoint`` vmapped over seeds and jitted (the grid's rows are shared); one
    compiled function per model structure and measurement, reused by every analysis in the
    process."""
    return _checkpoint_function(subject.loaded.graphdef, spec, grid_hooks, within)


@functools.lru_cache(maxsize=16)
def _checkpoint_function(graphdef, spec, grid_hooks: tuple[str, ...], within: bool):
    fn = partial(measure_checkpoint, graphdef, spec, grid_hooks, within)
    return jax.jit(jax.vmap(fn, in_axes=(0, 0, 0, 0, 0, None)))


def _fourier(subject: Subject, parts: dict, kappa: float, logits, acts) -> dict:
    task, p = subject.task, subject.task.p
    masks = None
    if logits is not None:
        masks = spectral.train_mask_grid(subject, spectral.grid_order(task))
        logits = np.asarray(logits).reshape(len(subject.seeds), p, p, -1)
        acts = {h: np.asarray(a).reshape(len(subject.seeds), p, p, -1) for h, a in acts.items()}
    seeds = {}
    for i, s in enumerate(subject.seeds):
        one = jax.tree.map(lambda x, i=i: np.asarray(x)[i], subject.loaded.params)
        emb = spectral.number_embedding(one, p) if parts["embedding"] else None
        seeds[str(s)] = to_json(spectral.spectra(
            task, emb, {} if acts is None else {h: a[i] for h, a in acts.items()},
            logits[i] if logits is not None and parts["progress"] else None,
            None if masks is None else masks[i], kappa))
    return {"p": p, "kappa": kappa, "parts": parts, "seeds": seeds}


def _attribution(subject: Subject, tokens, labels, steps: int) -> dict:
    n = min(IG_ROWS, tokens.shape[1])

    def one(params, toks, labs):
        return integrated_gradients(nnx.merge(subject.loaded.graphdef, params), toks, labs,
                                    steps)

    got = _vmapped(one)(subject.loaded.params, jnp.asarray(tokens[:, :n]),
                        jnp.asarray(labels[:, :n]))
    got = jax.device_get(got)  # host arrays: no eager device op (each would compile)
    attr = np.asarray(got["attribution"])  # [S, n, T]
    gap = np.asarray(got["logit"]) - np.asarray(got["baseline_logit"])
    absolute = np.abs(attr).mean(1)
    summary = {"mean": attr.mean(1), "mean_abs": absolute,
               "share_abs": absolute / absolute.sum(-1, keepdims=True),
               "completeness_error": np.abs(attr.sum(-1) - gap).mean(1) /
               np.maximum(np.abs(gap).mean(1), 1e-12)}
    return {"rows": n, "steps": steps, "baseline": "mean token embedding over the vocabulary",
            "positions": position_names(subject.task),
            "seeds": seed_results(summary, subject.seeds)}


def _depth(subject: Subject) -> int:
    model = subject.plan.config.model
    return model.n_layers if model.kind == "transformer" else 0


def _compare(subject: Subject, spec, reps, other: Subject, ospec, common) -> dict:
    ia = [subject.seeds.index(s) for s in common]
    ib = [other.seeds.index(s) for s in common]
    tokens, labels = subject.rows("val")
    params_b = jax.tree.map(lambda x: np.asarray(x)[np.asarray(ib)], other.loaded.params)
    m_b, reps_b = probe_function(other.loaded.graphdef, ospec)(params_b, tokens[ia],
                                                                labels[ia])
    reps_a = reps if ia == list(range(len(subject.seeds))) else jax.tree.map(
        lambda x: np.asarray(x)[np.asarray(ia)], reps)
    ha, hb = spec.representations, ospec.representations
    matrix = cka_function(ha, hb)(reps_a, reps_b)
    pairs = matching_hooks(ha, hb, _depth(subject), _depth(other))
    matrix = np.asarray(matrix)
    matched = {f"{a}|{b}": matrix[:, ha.index(a), hb.index(b)] for a, b in pairs}
    ld = other.loaded
    return {
        "run": str(ld.run.path), "label": other.label, "seeds": list(common),
        "steps": [ld.steps[i] for i in ib],
        "epochs": [other.plan.epoch_at(ld.steps[i]) for i in ib],
        "hooks_a": list(ha), "hooks_b": list(hb), "pairs": [list(p) for p in pairs],
        "seeds_results": seed_results({"matched": matched, "matrix": matrix,
                                       "loss": m_b["loss"], "acc": m_b["acc"],
                                       "ranks": m_b["ranks"], "attention": m_b["attention"]},
                                      common),
        "weights": seed_results(weights_function(params_b), common)}
