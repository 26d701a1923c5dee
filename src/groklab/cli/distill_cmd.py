"""``groklab distill``: train a student against a teacher run's checkpoint (groklab.distill).

The student starts from the teacher's config (task, recipe, budget, seeds), so only what differs
needs a flag: the width/depth scale or a full student ``--preset``/``--config``, the strategies
and every ``groklab train`` flag. The seed scripts' ``--teacher_checkpoint`` also accepts a
checkpoint directory (``RUN/checkpoints/params/STEP``).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import re
from pathlib import Path

from groklab.cli.train_cmd import (
    add_training_arguments,
    check_checkpoint_dir,
    check_out,
    config_from_args,
    default_out,
    resume_as,
    train_with_baseline,
    train_with_progress,
)
from groklab.config import RunConfig
from groklab.errors import ConfigError, short

MAX_CHAIN = 16  # generations of --chain
MAX_SCALE = 64.0  # a student is at most this many times the teacher's width or depth


def add_parser(sub) -> None:
    p = sub.add_parser(
        "distill", help="train a student against a teacher run's checkpoint",
        description="Distill a teacher run (any of its checkpoints) into a student on the "
                    "teacher's task and split. Writes a run directory like train, plus "
                    "figures/student_vs_teacher.png; --baseline also trains the student from "
                    "scratch, --chain distills recursively.")
    g = p.add_argument_group("teacher and student")
    g.add_argument("--teacher", "--teacher_checkpoint", dest="teacher",
                   help="teacher run RUN_DIR[@STEP|@step=N|@epoch=E|@val_acc=X] (default: its "
                        "latest checkpoint), or RUN_DIR/checkpoints/params/STEP")
    g.add_argument("--student_scale", type=float,
                   help="student width = teacher width × this (default 0.5 unless --preset / "
                        "--config gives the student)")
    g.add_argument("--depth_scale", type=float, help="student layers = teacher layers × this")
    g.add_argument("--strategies", help="comma-separated logit, attention, feature, each "
                                        "optionally NAME:WEIGHT (default logit)")
    g.add_argument("--temperature", type=float, help="KD temperature T (default 2)")
    g.add_argument("--alpha", type=float, help="weight of the ground-truth loss; 1 − α on the "
                                               "distillation terms (default 0.5)")
    g.add_argument("--attention_weight", type=float,
                   help="weight of the attention strategy's term (the seed script's flag; "
                        "same as --strategies attention:W)")
    g.add_argument("--feature_weight", type=float,
                   help="weight of the feature strategy's term (same as feature:W)")
    g.add_argument("--no_ground_truth", "--disable_ground_truth", dest="no_ground_truth",
                   action="store_true",
                   help="learn from the teacher only (no cross-entropy on the labels)")
    g.add_argument("--learned_weighting", action="store_true",
                   help="learn the weights of the loss terms (Kendall et al. 2018)")
    g.add_argument("--chain", help="recursive distillation: comma-separated widths relative to "
                                   "the teacher, e.g. 0.5,0.25 (generation k learns from k−1); "
                                   "OUT/gen1, OUT/gen2, … and OUT/chain.md")
    g.add_argument("--baseline", action="store_true",
                   help="also train the same student from scratch (same recipe, seeds and "
                        "split) into OUT_scratch, and compare")
    add_training_arguments(p)
    p.add_argument("--output_dir", dest="out", help=argparse.SUPPRESS)  # the seed script's --out
    p.set_defaults(func=run)


def absolute_run_ref(text: str) -> str:
    """A --teacher value with checkpoint directories turned into RUN_DIR@STEP and the run
    directory made absolute (the config stays valid from any working directory)."""
    path, sep, sel = text.partition("@")
    m = re.match(r"^(.*?)/checkpoints/(?:params|state)/(\d+)/?$", path)
    if m and not sep:
        path, sep, sel = m.group(1), "@", m.group(2)
    return str(Path(path).resolve()) + sep + sel


def student_config(args, teacher: str, scale: float | None) -> RunConfig:
    from groklab.distill.teacher import teacher_ref
    from groklab.runs.source import read_run

    _, tcfg, _ = read_run(teacher_ref(teacher))
    base = tcfg.to_dict()
    base["distill"] = {}
    cfg = config_from_args(args, base)
    d = cfg.distill
    own_model = bool(args.preset or args.config)
    if scale is None and args.depth_scale is None and not own_model:
        scale = 0.5
    changes = {"teacher": teacher}
    for key in ("temperature", "alpha"):
        if getattr(args, key) is not None:
            changes[key] = getattr(args, key)
    if args.strategies is not None:
        changes["strategies"] = tuple(x for x in args.strategies.split(",") if x.strip())
    strategies = weighted(changes.get("strategies", d.strategies), args)
    if strategies != d.strategies:
        changes["strategies"] = strategies
    if args.no_ground_truth:
        changes["ground_truth"] = False
    if args.learned_weighting:
        changes["learned_weighting"] = True
    if scale is not None:
        changes["student_scale"] = scale
    if args.depth_scale is not None:
        changes["depth_scale"] = args.depth_scale
    return dataclasses.replace(cfg, distill=dataclasses.replace(d, **changes))


def weighted(strategies: tuple[str, ...], args) -> tuple[str, ...]:
    """``strategies`` with the seed script's ``--attention_weight`` / ``--feature_weight``
    applied (as NAME:WEIGHT); a weight for a strategy that is not used is an error."""
    out = list(strategies)
    for name in ("attention", "feature"):
        weight = getattr(args, f"{name}_weight")
        if weight is None:
            continue
        hits = [i for i, s in enumerate(out) if s.strip().partition(":")[0] == name]
        if not hits:
            raise ConfigError(f"--{name}_weight {weight:g} weights the {name} strategy, which "
                              f"is not used; add it: --strategies {','.join(out + [name])}")
        for i in hits:
            out[i] = f"{name}:{weight:g}"
    return tuple(out)


def run(args) -> int:
    if args.resume:
        return _resume(args)
    if not args.teacher:
        raise ConfigError("--teacher RUN_DIR is required (or --resume --out DIR)")
    for flag in ("student_scale", "depth_scale"):
        value = getattr(args, flag)
        if value is not None and not (math.isfinite(value) and 0 < value <= MAX_SCALE):
            raise ConfigError(f"--{flag} {value:g} must be a number in (0, {MAX_SCALE:g}]")
    teacher = absolute_run_ref(args.teacher)
    if args.chain:
        from groklab.distill.chain import run_chain

        scales = _scales(args.chain)
        out = Path(args.out or "runs/chain")
        check_out(out)
        run_chain(lambda parent, s: student_config(args, parent, s), teacher, scales, out,
                  lambda cfg, d: train_with_progress(cfg, d, args))
        print(f"chain report: {out / 'chain.md'}")
        return 0
    cfg = student_config(args, teacher, args.student_scale)
    out = Path(args.out or default_out(f"{Path(teacher.partition('@')[0]).name}_student"))
    check_checkpoint_dir(args, out)
    scratch, scratch_out = None, out.with_name(out.name + "_scratch")
    check_out(out, *([scratch_out] if args.baseline else []))
    if args.baseline:
        from groklab.distill.setup import resolve_student
        from groklab.runs.rundir import RunDir

        # validated before anything trains: the baseline's directory must be free too
        scratch = dataclasses.replace(resolve_student(cfg), distill=dataclasses.replace(
            cfg.distill, strategies=()))
        RunDir(scratch_out).check_new()
    from groklab.experiments.baseline_comparison import write_distill_comparison

    return train_with_baseline(cfg, out, scratch, scratch_out, args, write_distill_comparison)


def _resume(args) -> int:
    return resume_as(args, "distillation", lambda cfg: cfg.distill.teacher is not None)


def _scales(text: str) -> list[float]:
    try:
        scales = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"--chain {short(text)} must be comma-separated widths, e.g. "
                          "0.5,0.25") from None
    if not scales or any(not (math.isfinite(s) and 0 < s <= MAX_SCALE) for s in scales):
        raise ConfigError(f"--chain {short(text)} must list widths in (0, {MAX_SCALE:g}], e.g. "
                          "0.5,0.25")
    if len(scales) > MAX_CHAIN:
        raise ConfigError(f"--chain lists {len(scales)} generations; at most {MAX_CHAIN}")
    return scales
