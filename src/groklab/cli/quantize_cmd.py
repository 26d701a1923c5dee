"""``groklab quantize RUN[@SEL] --bits 8,4 --scheme per-channel``: post-training weight
quantization of a run's checkpoint (or every checkpoint), with the accuracy that survives it
(groklab.quantize; docs/quantization.md)."""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser(
        "quantize", help="quantize a run's weights (int8/int4…) and measure the accuracy kept",
        description="Quantize the weights of the checkpoint RUN[@STEP|@step=N|@epoch=E|"
                    "@val_acc=X] selects (default: the latest) per seed, symmetric "
                    "round-to-nearest, and evaluate each seed's model before and after on its "
                    "recorded train and validation rows. Writes RUN/quantization/ "
                    "(retention.md, summary.csv, quantization.json; with --all_checkpoints "
                    "also figures/retention.png). groklab report RUN includes the table.")
    p.add_argument("run", metavar="RUN[@SEL]",
                   help="run directory, optionally with a checkpoint selector")
    p.add_argument("--bits", default="8,4", help="bit widths 2–8, comma-separated (default 8,4)")
    p.add_argument("--scheme", default="per-channel",
                   help="scales: per-channel (default), per-tensor or group:G (G consecutive "
                        "inputs per output channel); several comma-separated")
    p.add_argument("--embeddings", action="store_true",
                   help="quantize the token/position embeddings and the unembedding too "
                        "(default: kept float32)")
    p.add_argument("--all_checkpoints", action="store_true",
                   help="every saved checkpoint: accuracy kept against the training step")
    p.add_argument("--seed", help="seed(s), e.g. 0 or 0,2 (default: every seed)")
    p.add_argument("--out", metavar="DIR", help="output directory (default RUN/quantization)")
    p.add_argument("--quiet", action="store_true",
                   help="print only where the results went: no progress, no table")
    p.set_defaults(func=run)


def run(args) -> int:
    from groklab.cli.distill_cmd import absolute_run_ref
    from groklab.cli.export_cmd import parse_seeds
    from groklab.quantize.schemes import parse_bits, parse_schemes, require_qwix
    from groklab.runs.source import RunRef, read_run

    bits, schemes = parse_bits(args.bits), parse_schemes(args.scheme)
    seeds = parse_seeds(args.seed)
    ref = RunRef.parse(absolute_run_ref(args.run), "run")
    read_run(ref)  # not a run, or no checkpoints: one line before JAX starts
    require_qwix()
    from groklab.quantize.study import quantize_run

    def progress(k, n, step):
        print(f"\rcheckpoint {k}/{n} (step {step})", end="\n" if k == n else "", flush=True)

    out = quantize_run(ref, bits, schemes, args.embeddings, args.all_checkpoints, seeds,
                       args.out, progress if args.all_checkpoints and not args.quiet else None)
    if not args.quiet:
        print((out / "retention.md").read_text())
    print(f"wrote {out}")
    return 0
