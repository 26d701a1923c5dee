"""``groklab sweep SPEC --out DIR``: every cell of a sweep spec, resumable (groklab.sweeps)."""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("sweep", help="run every cell of a sweep spec (YAML/TOML)",
                       description="Run every cell of a sweep spec into DIR/cells/, write "
                       "DIR/results.csv (one row per cell and seed) and DIR/manifest.json. "
                       "Re-running the same command skips finished cells and resumes an "
                       "interrupted one.")
    p.add_argument("spec", help="the sweep spec file (see groklab/sweeps/spec.py)")
    p.add_argument("--out", required=True, help="the sweep directory")
    p.set_defaults(func=run)


def run(args) -> int:
    from groklab.sweeps import load_spec
    from groklab.sweeps.run import run_sweep

    spec = load_spec(args.spec)
    rows = run_sweep(spec, args.out, log=lambda line: print(line, flush=True))
    print(f"results: {args.out}/results.csv ({len(rows)} rows)")
    return 0
