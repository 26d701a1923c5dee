"""``groklab analyze RUN_DIR``: representations, attention, weights and gradients, Fourier
structure and progress measures, attributions, and comparisons with other runs
(groklab.analysis; docs/analysis.md)."""

from __future__ import annotations

import math

from groklab.errors import ConfigError, short

MAX_IG_STEPS = 4096  # integrated-gradient steps: each is a forward and backward pass
MAX_KAPPA = 1e6


def add_parser(sub) -> None:
    p = sub.add_parser(
        "analyze", help="look inside a run's models: CKA, ranks, attention, Fourier, ...",
        description="Analyse the models of a run directory (train, distill, transfer or a "
                    "sweep cell) on the validation rows of its recorded split, every seed at "
                    "once, and write RUN_DIR/analysis/*.json, table.md/.csv/.tex and figures/ "
                    "(groklab report RUN_DIR then includes them).")
    p.add_argument("run_dir", help="a run directory, optionally RUN_DIR@SEL (see --checkpoint)")
    p.add_argument("--checkpoint", metavar="SEL",
                   help="latest (default), STEP, step=N, epoch=E or val_acc=X (per seed, the "
                        "first checkpoint at or above X)")
    p.add_argument("--all_checkpoints", action="store_true",
                   help="also follow losses, weight and gradient norms, ranks, attention "
                        "entropy and progress measures over every saved checkpoint")
    p.add_argument("--compare", nargs="+", action="extend", default=[], metavar="RUN",
                   help="other runs (RUN_DIR[@SEL]) compared seed by seed on this run's "
                        "validation rows: CKA at matching hook points and hook × hook")
    p.add_argument("--force", action="store_true",
                   help="compare runs of another task or split anyway (on this run's rows)")
    p.add_argument("--hooks", help="representation hook points, comma-separated (default: per "
                                   "block attn_out, mlp post, resid_post)")
    p.add_argument("--position", choices=("last", "all"), default="last",
                   help="a representation is the answer position's activation (last) or every "
                        "position's, flattened (all)")
    p.add_argument("--inputs", help="operand pairs a:b whose attention patterns are drawn, "
                                    "e.g. 3:5,10:20")
    p.add_argument("--key_threshold", type=float, default=2.0, metavar="KAPPA",
                   help="a key frequency holds ≥ KAPPA × the uniform share of the power "
                        "(default 2)")
    p.add_argument("--ig_steps", type=int, default=32,
                   help="integrated-gradient steps (default 32; 0 skips the attribution)")
    p.add_argument("--out", help="output directory (default RUN_DIR/analysis)")
    p.add_argument("--pdf", action="store_true", help="also write the figures as PDF")
    p.add_argument("--quiet", action="store_true",
                   help="print only where the analysis went, not its table")
    p.set_defaults(func=run)


def parse_inputs(text: str | None) -> tuple[tuple[int, int], ...]:
    if not text:
        return ()
    pairs = []
    for item in text.split(","):
        a, sep, b = item.strip().partition(":")
        try:
            if not sep:
                raise ValueError
            pairs.append((int(a), int(b)))
        except ValueError:
            raise ConfigError(f"--inputs {short(item.strip())} is not a pair a:b of integers "
                              "(e.g. --inputs 3:5,10:20)") from None
    return tuple(pairs)


def run(args) -> int:
    if not (math.isfinite(args.key_threshold) and 0 < args.key_threshold <= MAX_KAPPA):
        raise ConfigError(f"--key_threshold {args.key_threshold} must be a number in (0, "
                          f"{MAX_KAPPA:g}] (default 2)")
    if not 0 <= args.ig_steps <= MAX_IG_STEPS:
        raise ConfigError(f"--ig_steps {short(args.ig_steps)} must be in [0, {MAX_IG_STEPS}] "
                          "(default 32; 0 skips the attribution)")
    if args.out is not None:
        from groklab.runs.paths import check_writable

        check_writable(args.out, "--out")
    # a directory that is not a run is refused before the analysis (and JAX) is imported
    from groklab.runs.source import RunRef, read_run

    for text, role in [(args.run_dir, "run"), *((c, "compared run") for c in args.compare)]:
        read_run(RunRef.parse(text, role))
    from groklab.analysis.run import Options, analyze

    hooks = tuple(h.strip() for h in (args.hooks or "").split(",") if h.strip())
    opts = Options(checkpoint=args.checkpoint, all_checkpoints=args.all_checkpoints,
                   compare=tuple(args.compare), hooks=hooks, position=args.position,
                   inputs=parse_inputs(args.inputs), force=args.force,
                   kappa=args.key_threshold, ig_steps=args.ig_steps, pdf=args.pdf)
    out = analyze(args.run_dir, args.out, opts)
    if not args.quiet:
        print((out / "table.md").read_text())
    print(f"analysis: {out} (about.json, representations.json, attention.json, weights.json, "
          f"...; figures/)")
    return 0
