"""``groklab transfer``: train from another run's checkpoint on a new operation or modulus
(groklab.transfer; docs/transfer.md).

The run starts from the source's config (architecture, recipe, seeds), with the task, modulus
and every ``groklab train`` flag given here; ``--freeze`` / ``--reinit`` select parameters by
name pattern (``--list_params RUN_DIR`` prints the names). ``--baseline`` also trains the same
architecture from random initialization (same recipe and seeds, its own budget if given) and
writes the comparison with speed-ups.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from groklab.cli.train_cmd import (
    add_training_arguments,
    check_checkpoint_dir,
    check_out,
    config_from_args,
    default_out,
    resume_as,
    train_with_baseline,
)
from groklab.config import RunConfig, TransferConfig
from groklab.errors import ConfigError


def add_parser(sub) -> None:
    p = sub.add_parser(
        "transfer", help="train from another run's checkpoint on a new task or modulus",
        description="Start from a source run's checkpoint (any of them: pre-, mid- or "
                    "post-grokking) and train on --task / --p, with frozen or re-initialized "
                    "parameters. Writes a run directory like train; --baseline also trains "
                    "the same architecture from random initialization into OUT_scratch and "
                    "writes OUT/comparison.md with speed-ups and their confidence intervals.")
    g = p.add_argument_group("source and what carries over")
    g.add_argument("--from", dest="source",
                   help="source run RUN_DIR[@STEP|@step=N|@epoch=E|@val_acc=X] (default: its "
                        "latest checkpoint)")
    g.add_argument("--list_params", metavar="RUN_DIR",
                   help="print the parameter names of a run's model (for --freeze / --reinit) "
                        "and exit")
    g.add_argument("--freeze", action="append", default=[],
                   help="parameters kept fixed, comma-separated name patterns, e.g. embed, "
                        "blocks.0, blocks.*.attn, unembed (repeatable)")
    g.add_argument("--reinit", action="append", default=[],
                   help="parameters re-initialized instead of copied, e.g. unembed "
                        "(repeatable)")
    g.add_argument("--vocab_map", choices=("copy", "residue", "reinit"),
                   help="when the modulus changes: number rows copied by value (copy), taken "
                        "from v mod p (residue) or re-initialized (reinit)")
    g.add_argument("--baseline", action="store_true",
                   help="also train the same architecture from random initialization (same "
                        "recipe and seeds) into OUT_scratch, and compare")
    g.add_argument("--baseline_epochs", type=int, help="the baseline's budget in epochs "
                                                       "(default: the transfer run's)")
    g.add_argument("--baseline_steps", type=int, help="the baseline's budget in steps")
    add_training_arguments(p)
    p.set_defaults(func=run)


def transfer_config(args, source: str) -> RunConfig:
    from groklab.runs.source import RunRef, read_run

    run, scfg, _ = read_run(RunRef.parse(source, "source"))  # found before JAX is imported
    from groklab.transfer.patterns import split_patterns
    from groklab.transfer.setup import unresolved

    run.check_files()  # its split and summary too: a damaged source is named before it is used
    base = unresolved(scfg).to_dict()
    base["distill"], base["transfer"] = {}, {}
    cfg = config_from_args(args, base)
    t = TransferConfig(source=source, freeze=split_patterns(args.freeze),
                       reinit=split_patterns(args.reinit), vocab_map=args.vocab_map)
    return dataclasses.replace(cfg, transfer=t)


def baseline_config(cfg: RunConfig, args) -> RunConfig:
    """The same architecture, recipe and seeds from random initialization."""
    from groklab.transfer.setup import unresolved

    train = cfg.train
    if args.baseline_steps is not None:
        train = dataclasses.replace(train, steps=args.baseline_steps)
    elif args.baseline_epochs is not None:
        train = dataclasses.replace(train, epochs=args.baseline_epochs, steps=None)
    return dataclasses.replace(unresolved(cfg), transfer=TransferConfig(), train=train)


def run(args) -> int:
    from groklab.cli.distill_cmd import absolute_run_ref

    if args.list_params:
        return _list_params(args.list_params)
    if args.resume:
        return _resume(args)
    if not args.source:
        raise ConfigError("--from RUN_DIR is required (or --list_params RUN_DIR, or --resume "
                          "--out DIR)")
    if (args.baseline_epochs or args.baseline_steps) and not args.baseline:
        raise ConfigError("--baseline_epochs / --baseline_steps need --baseline")
    source = absolute_run_ref(args.source)
    cfg = transfer_config(args, source)
    out = Path(args.out or default_out(f"{Path(source.partition('@')[0]).name}_to_"
                                       f"{cfg.task.name}_p{cfg.task.p}"))
    check_checkpoint_dir(args, out)
    scratch, scratch_out = None, out.with_name(out.name + "_scratch")
    check_out(out, *([scratch_out] if args.baseline else []))
    if args.baseline:
        from groklab.engine.setup import plan_run
        from groklab.runs.rundir import RunDir
        from groklab.transfer.setup import prepare

        # both runs validated before anything trains; the baseline's directory must be free
        prepare(cfg)
        scratch = baseline_config(cfg, args)
        plan_run(scratch)
        RunDir(out).check_new()
        RunDir(scratch_out).check_new()
    from groklab.experiments.baseline_comparison import write_transfer_comparison

    return train_with_baseline(cfg, out, scratch, scratch_out, args, write_transfer_comparison)


def _list_params(run_dir: str) -> int:
    from groklab.engine.setup import plan_run
    from groklab.runs.rundir import RunDir
    from groklab.runs.source import abstract_params
    from groklab.transfer.patterns import describe_params

    run = RunDir(Path(run_dir))
    if not run.holds_run():
        raise ConfigError(f"{run_dir!r} is not a groklab run directory (no config.yaml)")
    import jax

    _, abstract = abstract_params(plan_run(run.load_config()))
    one = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape[1:], x.dtype), abstract)
    rows = describe_params(one)
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        print(f"{r['name']:<{width}}  {'×'.join(map(str, r['shape'])):>12}  {r['size']:>9,}")
    print(f"{'total':<{width}}  {'':>12}  {sum(r['size'] for r in rows):>9,}")
    return 0


def _resume(args) -> int:
    return resume_as(args, "transfer", lambda cfg: cfg.transfer.source is not None)
