"""``groklab export RUN[@SEL] --format safetensors|transformer-lens --out DIR [--seed K]``: a
run's checkpoint as files other tools read (groklab.export; docs/export.md)."""

from __future__ import annotations

from groklab.errors import ConfigError, short


def add_parser(sub) -> None:
    p = sub.add_parser(
        "export", help="write a run's checkpoint as safetensors or a TransformerLens model",
        description="Export the checkpoint RUN[@STEP|@step=N|@epoch=E|@val_acc=X] selects "
                    "(default: the latest) per seed: --format safetensors writes groklab's "
                    "parameters and config (groklab.load_exported reads them back); "
                    "--format transformer-lens writes a HookedTransformer state dict and "
                    "HookedTransformerConfig. Needs pip install 'groklab[export]'.")
    p.add_argument("run", metavar="RUN[@SEL]",
                   help="run directory, optionally with a checkpoint selector")
    p.add_argument("--seed", help="seed(s) to export, e.g. 0 or 0,2 (default: every seed); "
                                  "several go to DIR/seed_<k>/")
    p.add_argument("--format", default="safetensors", choices=("safetensors", "transformer-lens"),
                   help="safetensors (groklab's names; default) or transformer-lens")
    p.add_argument("--out", required=True, metavar="DIR", help="new or empty directory")
    p.set_defaults(func=run)


def parse_seeds(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        seeds = tuple(int(s) for s in text.split(","))
    except ValueError:
        raise ConfigError(f"--seed {short(text)} is not a seed or a comma-separated list of "
                          "seeds (e.g. 0 or 0,2)") from None
    return seeds


def run(args) -> int:
    from groklab.cli.distill_cmd import absolute_run_ref
    from groklab.runs.source import RunRef, read_run

    seeds = parse_seeds(args.seed)
    ref = RunRef.parse(absolute_run_ref(args.run), "run")
    read_run(ref)  # a directory that is not a run is refused before JAX is imported
    from groklab.export import export_run

    written = export_run(ref, seeds, args.format, args.out)
    for d in written:
        print(f"wrote {d}")
    if args.format == "transformer-lens":
        print("load with: HookedTransformer(HookedTransformerConfig(**config)) and "
              "load_state_dict(safetensors.torch.load_file('model.safetensors'), strict=False)")
    else:
        print("load with: groklab.load_exported(DIR)")
    return 0
