"""``groklab sweep SPEC --out DIR``: every cell of a sweep spec, resumable (groklab.sweeps)."""

from __future__ import annotations

from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser("sweep", help="run every cell of a sweep spec (YAML/TOML)",
                       description="Run every cell of a sweep spec into DIR/cells/, write "
                       "DIR/results.csv (one row per cell and seed) and DIR/manifest.json. "
                       "Re-running the same command skips finished cells and resumes an "
                       "interrupted one.")
    p.add_argument("spec", help="the sweep spec file (see groklab/sweeps/spec.py)")
    p.add_argument("--out", required=True, help="the sweep directory")
    p.add_argument("--backend", default="local", choices=("local", "ray"),
                   help="local: groups one after another in this process (default); ray: each "
                   "group a Ray task (pip install 'groklab[ray]'; results come back through "
                   "Ray, no shared storage needed)")
    p.add_argument("--address", default=None,
                   help="Ray cluster address (e.g. ray://head:10001 or auto); default: start a "
                   "local Ray instance")
    p.add_argument("--quiet", action="store_true",
                   help="print nothing but errors and the final line")
    from groklab.cli.train_cmd import add_log_argument

    add_log_argument(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from groklab.errors import ConfigError, short
    from groklab.runs.paths import check_writable
    from groklab.runs.rundir import read_json_file
    from groklab.sweeps import load_spec
    from groklab.sweeps.group import Interrupted
    from groklab.sweeps.run import run_sweep

    if args.address is not None and args.backend != "ray":
        raise ConfigError(f"--address {short(args.address)} needs --backend ray")
    check_writable(args.out, "--out")
    manifest = Path(args.out) / "manifest.json"
    if manifest.exists():  # an earlier run of this sweep: it must be readable to continue it
        read_json_file(manifest)
    spec = load_spec(args.spec)
    if args.log is not None:  # every cell logs; each (cell, seed) is a run in the sweep's group
        import dataclasses

        from groklab.cli.train_cmd import log_sinks_yaml
        from groklab.config import apply_overrides

        base = apply_overrides(spec.base, [f"log.sinks={log_sinks_yaml(args.log)}"])
        spec = dataclasses.replace(spec, base=base)
    try:
        rows = run_sweep(spec, args.out,
                         log=(lambda line: None) if args.quiet else
                         (lambda line: print(line, flush=True)),
                         backend=args.backend, address=args.address)
    except Interrupted as e:
        print(f"interrupted ({e}); run the same command again to resume", flush=True)
        return e.code
    print(f"results: {args.out}/results.csv ({len(rows)} rows)")
    return 0
