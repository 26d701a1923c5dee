"""A distillation run from its config: the teacher, the student's plan on the teacher's split,
and the objective (docs/architecture.md §4 "Distillation").

The student's task is the teacher's (a different task, modulus, layout or vocabulary is an
error) and so is its split, read from the teacher's ``split.npz``, never regenerated. With
``distill.student_scale`` / ``depth_scale`` the student is the teacher's architecture scaled
(``models.config.scaled``: widths by the first factor, heads kept, layers by the second), with
any model field set for the student (``--set model.dropout=0``) applied over the scaling;
without them it is the config's own ``model`` (any preset or file).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from groklab.config import DistillConfig, RunConfig
from groklab.distill.teacher import Teacher, load_teacher, teacher_ref
from groklab.engine.setup import EngineSetup, Plan, plan_run
from groklab.errors import ConfigError
from groklab.models.config import ModelConfig, scaled
from groklab.objectives.distill import STRATEGIES, Distill, layer_map
from groklab.runs.source import read_run


@dataclass(frozen=True)
class DistillSetup:
    plan: Plan
    teacher: Teacher
    objective: Distill


def parse_strategies(items) -> tuple[tuple[str, float], ...]:
    """("logit", "attention:0.5") -> (("logit", 1.0), ("attention", 0.5))."""
    out = []
    for item in (x for entry in items for x in str(entry).split(",") if x.strip()):
        name, _, weight = item.partition(":")
        name = name.strip()
        if name not in STRATEGIES:
            raise ConfigError(f"unknown distillation strategy {name!r}; choose from "
                              f"{', '.join(STRATEGIES)} (optionally NAME:WEIGHT)")
        try:
            w = float(weight) if weight else 1.0
        except ValueError:
            raise ConfigError(f"strategy {item!r}: weight {weight!r} is not a number") from None
        if w <= 0:
            raise ConfigError(f"strategy {item!r}: weight {w:g} must be > 0")
        if name in [n for n, _ in out]:
            raise ConfigError(f"strategy {name!r} is given twice")
        out.append((name, w))
    return tuple(out)


def scaled_model(teacher: ModelConfig, width: float | None, depth: float | None) -> ModelConfig:
    """The teacher's architecture ``width``× wider and ``depth``× deeper (models.config.scaled)."""
    return scaled(teacher, 1.0 if width is None else width, 1.0 if depth is None else depth)


def resolve_student(cfg: RunConfig) -> RunConfig:
    """The config with the teacher's task and (when scaled) the scaled teacher model. Depends
    on the teacher's saved config only, so resolving a resolved config changes nothing."""
    d = cfg.distill
    _, tcfg, _ = read_run(teacher_ref(d.teacher))
    if cfg.task != tcfg.task:
        diff = [f"{f.name}: {getattr(cfg.task, f.name)!r} vs the teacher's "
                f"{getattr(tcfg.task, f.name)!r}" for f in dataclasses.fields(tcfg.task)
                if getattr(cfg.task, f.name) != getattr(tcfg.task, f.name)]
        raise ConfigError(f"the student's task differs from teacher {d.teacher!r} "
                          f"({'; '.join(diff)}); a student trains on its teacher's task and "
                          "split")
    if d.student_scale is not None or d.depth_scale is not None:
        # the student starts from the teacher's config, so a model field that differs from
        # the teacher's was set for the student (--set model.dropout=0): it wins over scaling
        own = {f.name: getattr(cfg.model, f.name) for f in dataclasses.fields(ModelConfig)
               if getattr(cfg.model, f.name) != getattr(tcfg.model, f.name)}
        base = scaled_model(tcfg.model, d.student_scale, d.depth_scale)
        cfg = dataclasses.replace(cfg, model=dataclasses.replace(base, **own))
    return cfg


def prepare(cfg: RunConfig) -> DistillSetup:
    """Validate everything and load the teacher; raises ConfigError."""
    d: DistillConfig = cfg.distill
    strategies = parse_strategies(d.strategies)
    if not 0 <= d.alpha <= 1:
        raise ConfigError(f"distill.alpha={d.alpha:g} is outside [0, 1]")
    if d.temperature <= 0:
        raise ConfigError(f"distill.temperature={d.temperature:g} must be > 0")
    if not d.ground_truth and not strategies:
        raise ConfigError("distill.ground_truth=false needs at least one strategy (there "
                          "would be nothing to learn from)")
    ref = teacher_ref(d.teacher)
    cfg = resolve_student(cfg)
    plan = plan_run(cfg)
    teacher = load_teacher(ref, plan.config.seeds)
    s_model, t_model = plan.config.model, teacher.loaded.plan.config.model
    if (s_model.d_vocab, s_model.n_ctx) != (t_model.d_vocab, t_model.n_ctx):
        raise ConfigError(f"student vocabulary/context ({s_model.d_vocab}, {s_model.n_ctx}) "
                          f"differs from the teacher's ({t_model.d_vocab}, {t_model.n_ctx})")
    layers: tuple[int, ...] = ()
    names = [n for n, _ in strategies]
    if ("attention" in names or "feature" in names) and any(
            m.kind != "transformer" for m in (s_model, t_model)):
        raise ConfigError(f"attention and feature distillation need transformers; the student "
                          f"is {s_model.kind!r}, the teacher {t_model.kind!r}")
    if "attention" in names:
        try:
            layers = layer_map(s_model.n_layers, t_model.n_layers)
        except ValueError as e:
            raise ConfigError(f"attention transfer: {e} (use depth_scale <= 1 or a shallower "
                              "student)") from None
    objective = Distill(
        teacher_graphdef=teacher.loaded.graphdef, strategies=strategies, temperature=d.temperature,
        alpha=d.alpha, ground_truth=d.ground_truth, learned_weighting=d.learned_weighting,
        layers=layers, d_student=s_model.d_model, d_teacher=t_model.d_model,
        loss=cfg.train.loss, dtype=cfg.train.loss_dtype)
    plan = dataclasses.replace(plan, splits=teacher.splits)
    return DistillSetup(plan, teacher, objective)


def engine_setup(cfg: RunConfig) -> EngineSetup:
    """What the engine trains for a distillation run: the distillation objective, the
    teacher's parameters as its per-seed inputs, and the teacher in the summary."""
    d = prepare(cfg)
    # a from-scratch baseline (no strategy) never reads the teacher: don't ship its parameters
    inputs = d.teacher.loaded.params if d.objective.strategies else None
    return EngineSetup(d.plan, objective=d.objective, objective_inputs=inputs,
                       about={"teacher": d.teacher.describe()})
