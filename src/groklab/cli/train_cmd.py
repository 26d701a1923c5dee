"""``groklab train``: train S seeds of one recipe in one compiled program into a run directory.

Precedence (later wins): defaults ← ``--preset`` ← ``--config FILE`` ← ``--recipe`` ← flags ←
``--set``.
Every flag of the seeds' ``train_nnx.py`` works with its meaning (``--depth --dim --heads
--dropout --p --operation --train_fraction --batch_size --epochs --learning_rate
--weight_decay --warmup_steps --optimizer --seed --max_steps --save_dir --checkpoint_dir
--resume``).
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

from groklab.config import (
    MAX_INT,
    MAX_SEEDS,
    RunConfig,
    apply_overrides,
    check_numbers,
    load_config_file,
)
from groklab.errors import ConfigError, short
from groklab.recipes import recipe_overrides

# flag → config key, for the plain value flags
FLAG_KEYS = {
    "p": "task.p",
    "operation": "task.name",
    "train_fraction": "task.train_fraction",
    "label_noise": "task.label_noise",
    "batch_size": "train.batch_size",
    "epochs": "train.epochs",
    "steps": "train.steps",
    "max_steps": "train.max_steps",
    "eval_every": "train.eval_every",
    "stop_at": "train.stop_at",
    "learning_rate": "optim.learning_rate",
    "weight_decay": "optim.weight_decay",
    "optimizer": "optim.name",
    "warmup_steps": "optim.warmup_steps",
    "beta1": "optim.b1",
    "beta2": "optim.b2",
    "lr_schedule": "optim.lr_schedule",
    "wd_schedule": "optim.wd_schedule",
    "grokfast": "optim.grokfast",
    "clip_norm": "optim.clip_norm",
    "sam_rho": "optim.sam_rho",
    "loss": "train.loss",
    "loss_dtype": "train.loss_dtype",
    "batch_schedule": "train.batch_schedule",
    "curriculum": "train.curriculum",
    "depth": "model.n_layers",
    "dim": "model.d_model",
    "heads": "model.n_heads",
    "dropout": "model.dropout",
}


def add_parser(sub) -> None:
    p = sub.add_parser(
        "train", help="train S seeds of a recipe into a run directory",
        description="Train every seed in one compiled program; writes DIR/config.yaml, "
                    "split.npz, metrics.jsonl, summary.json, checkpoints/ and figures/.")
    add_training_arguments(p)
    p.set_defaults(func=run)


def add_training_arguments(p) -> None:
    """Every flag of ``groklab train`` (shared by ``distill`` and ``transfer``)."""
    g = p.add_argument_group("what to train")
    g.add_argument("--preset", help="model preset (groklab presets): seed-teacher, power2022, "
                                    "nanda2023, gromov-mlp")
    g.add_argument("--config", help="TOML/YAML/JSON config file (e.g. a run's config.yaml)")
    g.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override any config field, e.g. --set model.d_model=64 (repeatable)")
    g.add_argument("--operation", "--task", dest="operation",
                   help="task name or alias (groklab tasks), e.g. div or /")
    g.add_argument("--p", type=int, help="modulus (default 97)")
    g.add_argument("--train_fraction", type=float, help="training share of the table, in (0, 1)")
    g.add_argument("--label_noise", type=float, help="share of training labels made wrong")
    g = p.add_argument_group("model (the seed script's flags; any other field: --set model.X=V)")
    g.add_argument("--depth", type=int, help="number of blocks (model.n_layers)")
    g.add_argument("--dim", type=int, help="residual width (model.d_model; the MLP is 4× unless "
                                           "model.d_mlp is set)")
    g.add_argument("--heads", type=int, help="attention heads (model.n_heads)")
    g.add_argument("--dropout", type=float, help="dropout rate (model.dropout)")
    g = p.add_argument_group("seeds")
    g.add_argument("--seeds", help="comma-separated seeds, e.g. 0,1,2")
    g.add_argument("--num_seeds", type=int, help="seeds 0..N-1")
    g.add_argument("--seed", type=int, help="a single seed (the seed scripts' flag)")
    g.add_argument("--per_seed", action="append", default=[], metavar="KEY=V1,V2,...",
                   help="a per-seed hyperparameter (learning_rate or weight_decay), one value "
                        "per seed, e.g. --per_seed learning_rate=1e-3,1e4,1e-3")
    g = p.add_argument_group("budget and evaluation")
    g.add_argument("--epochs", type=int, help="budget in epochs (default 150)")
    g.add_argument("--steps", type=int, help="budget in optimizer steps (overrides --epochs)")
    g.add_argument("--max_steps", type=int, help="stop after this many steps at the latest "
                                                 "(the seed script's flag)")
    g.add_argument("--eval_every", type=int, help="steps between full evaluations "
                                                  "(default: once per epoch)")
    g.add_argument("--stop_at", type=float, help="stop when every seed reaches this val accuracy")
    g.add_argument("--batch_size", type=int, help="rows per step (default 512)")
    g = p.add_argument_group("optimizer")
    g.add_argument("--recipe", action="append", default=[], metavar="NAME",
                   help="a recipe preset (groklab presets), e.g. grokfast-ema, muon, "
                        "stablemax-nowd; repeatable or comma-separated")
    g.add_argument("--optimizer", help="adamw (default), adam, sgd, muon, or optax:<name>")
    g.add_argument("--learning_rate", type=float, help="peak learning rate (default 1e-3)")
    g.add_argument("--weight_decay", type=float, help="weight decay (default 1.0)")
    g.add_argument("--warmup_steps", type=int, help="linear warmup steps (default 10)")
    g.add_argument("--beta1", type=float, help="Adam β1 (default 0.9)")
    g.add_argument("--beta2", type=float, help="Adam β2 (default 0.98)")
    g.add_argument("--lr_schedule", help="constant (default), cosine, linear_decay, one_cycle, "
                                         "cyclic, plateau")
    g.add_argument("--wd_schedule", help="constant (default), increasing, step, cosine, "
                                         "adaptive")
    g.add_argument("--grokfast", help="gradient filter: none (default), ema, ma")
    g.add_argument("--orthograd", action="store_true", help="⊥Grad around the optimizer")
    g.add_argument("--clip_norm", type=float, help="clip the global gradient norm")
    g.add_argument("--sam_rho", type=float, help="SAM radius (0 = off)")
    g.add_argument("--loss", help="softmax (default), stablemax, sparsemax")
    g.add_argument("--loss_dtype", help="float32 (default) or float64")
    g.add_argument("--batch_schedule", help="constant (default), increasing, curriculum")
    g.add_argument("--curriculum", help="none (default), operand, loss")
    g = p.add_argument_group("output")
    g.add_argument("--out", "--save_dir", dest="out",
                   help="run directory (default runs/<task>_p<p>_<date-time>)")
    g.add_argument("--checkpoint_dir", help="accepted for the seed scripts; must be "
                                            "OUT/checkpoints")
    g.add_argument("--resume", action="store_true", help="continue the run in --out from its "
                                                         "latest checkpoint")
    g.add_argument("--quiet", action="store_true", help="no live progress display")
    g.add_argument("--pdf", action="store_true", help="also write the figures as PDF")
    add_log_argument(g)


def config_from_args(args, base: dict | None = None) -> RunConfig:
    """The config of the flags, over ``base`` (plain config data; defaults when None)."""
    data = load_config_file(args.config) if args.config else dict(base or {})
    if args.preset:
        data = {**data, "preset": args.preset}
        if not args.config:  # a config file's model section is laid over the preset
            data.pop("model", None)
    try:
        cfg = RunConfig.from_dict(data)
    except ConfigError as e:  # a value of the file: name the file too
        if not args.config:
            raise
        raise ConfigError(f"config file {short(str(args.config), 200)}: {e}") from None
    recipes = [r.strip() for item in args.recipe for r in item.split(",") if r.strip()]
    sets = [f"{FLAG_KEYS[k]}={v}" for k, v in vars(args).items()
            if k in FLAG_KEYS and v is not None]
    if args.orthograd:
        sets.append("optim.orthograd=true")
    if getattr(args, "log", None) is not None:
        sets.append(f"log.sinks={log_sinks_yaml(args.log)}")
    cfg = apply_overrides(cfg, recipe_overrides(recipes) + sets + list(args.set))
    if recipes:
        cfg = dataclasses.replace(cfg, recipes=tuple(dict.fromkeys(cfg.recipes + tuple(recipes))))
    seeds = _seeds(args)
    if seeds is not None:
        cfg = dataclasses.replace(cfg, seeds=seeds)
    if args.per_seed:
        per_seed = dict(cfg.per_seed)
        for item in args.per_seed:
            key, _, values = item.partition("=")
            try:
                per_seed[key] = [float(v) for v in values.split(",")]
            except ValueError:
                raise ConfigError(f"--per_seed {short(item)} must look like KEY=V1,V2,... with "
                                  "numbers") from None
        cfg = dataclasses.replace(cfg, per_seed=per_seed)
    check_numbers(cfg.to_dict())
    return cfg


def log_sinks_yaml(value: str) -> str:
    """``--log tensorboard,wandb`` as the YAML list ``log.sinks`` takes (``none``: no sinks)."""
    names = [n.strip() for n in value.split(",") if n.strip() and n.strip() != "none"]
    return "[" + ", ".join(names) + "]"


def add_log_argument(g) -> None:
    g.add_argument("--log", metavar="SINKS",
                   help="also log every record to tensorboard and/or wandb (comma-separated; "
                        "W&B offline unless --set log.wandb_mode=online; docs/api.md)")


def _seeds(args) -> tuple[int, ...] | None:
    given = [x for x in (args.seeds, args.num_seeds, args.seed) if x is not None]
    if len(given) > 1:
        raise ConfigError("give only one of --seeds, --num_seeds, --seed")
    if args.seeds is not None:
        items = [s for s in args.seeds.split(",") if s.strip()]
        if len(items) > MAX_SEEDS:
            raise ConfigError(f"--seeds lists {len(items):,} seeds; a run trains at most "
                              f"{MAX_SEEDS:,}")
        try:
            seeds = [int(s) for s in items]
        except ValueError:
            raise ConfigError(f"--seeds {short(args.seeds)} must be comma-separated integers, "
                              "e.g. 0,1,2") from None
        return tuple(_seed(s, "--seeds") for s in seeds)
    if args.num_seeds is not None:
        if not 1 <= args.num_seeds <= MAX_SEEDS:
            raise ConfigError(f"--num_seeds {short(args.num_seeds)} must be in [1, "
                              f"{MAX_SEEDS:,}]")
        return tuple(range(args.num_seeds))
    if args.seed is not None:
        return (_seed(args.seed, "--seed"),)
    return None


def _seed(seed: int, flag: str) -> int:
    if not 0 <= seed <= MAX_INT:
        raise ConfigError(f"{flag}: seed {short(seed)} is outside [0, {MAX_INT:,}]")
    return seed


def run(args) -> int:
    from groklab.cli.progress import print_result

    if args.resume and args.config is None and args.out and (Path(args.out) / "config.yaml"
                                                             ).exists():
        from groklab.runs.rundir import RunDir

        RunDir(args.out).check_files()  # a damaged file is named before anything runs
        args.config = str(Path(args.out) / "config.yaml")  # resume what the run saved
    if args.resume and not args.out:
        raise ConfigError("--resume needs --out DIR, the run directory to continue")
    cfg = config_from_args(args)
    out = Path(args.out or default_out(f"{cfg.task.name}_p{cfg.task.p}"))
    check_checkpoint_dir(args, out)
    check_out(out)
    summary = train_with_progress(cfg, out, args)
    print_result(summary, out)
    from groklab.experiments.train import exit_code

    return exit_code(summary)


def default_out(stem: str) -> str:
    """``runs/<stem>_<YYYYmmdd-HHMMSS>``: without --out every run gets a directory of its own (a
    second run of the same task is not refused for a directory the first one holds)."""
    return f"runs/{stem}_{time.strftime('%Y%m%d-%H%M%S')}"


def check_out(*outs: Path) -> None:
    """Every run directory this command writes can be written (runs.paths.check_writable):
    checked before anything is compiled or trained."""
    from groklab.runs.paths import check_writable

    for out in outs:
        check_writable(out, "--out")


def check_checkpoint_dir(args, out: Path) -> None:
    """The seed scripts' ``--checkpoint_dir`` is accepted only where groklab puts checkpoints."""
    if args.checkpoint_dir and Path(args.checkpoint_dir).resolve() != (out / "checkpoints"
                                                                        ).resolve():
        raise ConfigError(f"--checkpoint_dir {args.checkpoint_dir!r}: groklab keeps checkpoints "
                          f"in the run directory, {str(out / 'checkpoints')!r}")


def train_with_progress(cfg: RunConfig, out: Path, args) -> dict:
    check_plan(cfg)  # before train_run's imports start JAX
    from groklab.cli.progress import LiveProgress
    from groklab.experiments import train_run

    live = not args.quiet and sys.stdout.isatty()
    with LiveProgress(enabled=live) as progress:
        return train_run(cfg, out, resume=args.resume, on_progress=progress.update,
                         pdf=args.pdf)


def check_plan(cfg: RunConfig) -> None:
    """Plan a plain run (``engine.setup.plan_run``: every value, the task, the memory it
    needs) without importing JAX, so a bad value is a one-line error at once
    (docs/performance.md "Start-up"); ``train_run`` plans it again. A distillation or transfer
    run is planned when its teacher or source is read."""
    if cfg.distill.teacher is None and cfg.transfer.source is None:
        from groklab.engine.setup import plan_run

        plan_run(cfg)


def train_with_baseline(cfg: RunConfig, out: Path, baseline: RunConfig | None,
                        baseline_out: Path, args, compare) -> int:
    """Train ``cfg`` into ``out`` and print its result; with a ``baseline`` config, train it into
    ``baseline_out`` too and print ``compare(out, baseline_out)``'s comparison. Returns the exit
    code (an interrupt stops before the baseline)."""
    from groklab.cli.progress import print_result
    from groklab.experiments.train import exit_code

    summary = train_with_progress(cfg, out, args)
    print_result(summary, out)
    if exit_code(summary) or baseline is None:
        return exit_code(summary)
    summary = train_with_progress(baseline, baseline_out, args)
    print_result(summary, baseline_out)
    if exit_code(summary):
        return exit_code(summary)
    print(compare(out, baseline_out).read_text())
    return 0


def resume_as(args, what: str, is_kind) -> int:
    """``--resume --out DIR`` of a run made by ``groklab distill`` / ``transfer``: its saved
    config, refused when ``is_kind(config)`` says it is another kind of run."""
    from groklab.cli.progress import print_result

    if not args.out or not (Path(args.out) / "config.yaml").exists():
        raise ConfigError(f"--resume needs --out DIR of a {what} run (with config.yaml)")
    from groklab.runs.rundir import RunDir

    RunDir(args.out).check_files()  # a damaged file is named before anything runs
    args.config = str(Path(args.out) / "config.yaml")
    cfg = config_from_args(args)
    if not is_kind(cfg):
        raise ConfigError(f"{short(args.out)} is not a {what} run; resume it with groklab train "
                          "--resume")
    check_out(Path(args.out))
    summary = train_with_progress(cfg, Path(args.out), args)
    print_result(summary, Path(args.out))
    from groklab.experiments.train import exit_code

    return exit_code(summary)
