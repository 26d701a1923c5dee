"""Compare finished runs of two or more recipes: steps to 95 % and 99 % val per seed, their
spread, a Welch t-test and a Mann–Whitney U test between the first run and each other run, and
(with --curves) validation accuracy and Softmax-Collapse fraction over time.

    .venv/bin/python benchmarks/compare_recipes.py runs/rec_mul_adamw runs/rec_mul_grokfast
    .venv/bin/python benchmarks/compare_recipes.py runs/rec_div_softmax_nowd \
        runs/rec_div_stablemax_nowd --curves 10,25,50,100,150

Seeds that never reached a threshold are censored at the budget: they are counted (k of N
reached), left out of mean/median, and the tests use only seeds that reached it in both arms.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from scipy import stats


def load(run: Path) -> dict:
    summary = json.loads((run / "summary.json").read_text())
    metrics = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if x]
    return {"name": run.name, "summary": summary, "metrics": metrics}


def reached(run: dict, t: str, unit: str) -> list:
    key = "steps_to_val_acc" if unit == "steps" else "epochs_to_val_acc"
    return [s[key][t] for s in run["summary"]["seeds"]]


def describe(values: list) -> str:
    got = [v for v in values if v is not None]
    n = f"{len(got)}/{len(values)}"
    if not got:
        return f"none reached ({n})"
    spread = f" ± {statistics.stdev(got):.0f}" if len(got) > 1 else ""
    return (f"{statistics.mean(got):.0f}{spread} (median {statistics.median(got):.0f}, "
            f"min {min(got)}, max {max(got)}; {n} reached)")


def test(a: list, b: list) -> str:
    a, b = [v for v in a if v is not None], [v for v in b if v is not None]
    if len(a) < 2 or len(b) < 2:
        return "too few seeds reached it for a test"
    t = stats.ttest_ind(a, b, equal_var=False)
    u = stats.mannwhitneyu(a, b, alternative="two-sided")
    return (f"Welch t = {t.statistic:.2f}, p = {t.pvalue:.3g}; "
            f"Mann–Whitney U = {u.statistic:.1f}, p = {u.pvalue:.3g}")


def curves(run: dict, epochs: list[int]) -> list[str]:
    rows = []
    for e in epochs:
        at = [m for m in run["metrics"] if abs(m["epoch"] - e) < 1e-6]
        if not at:
            continue
        va = statistics.median(m["val_acc"] for m in at)
        scs = [m["sc_fraction"] for m in at if m.get("sc_fraction") is not None]
        sc = f"{statistics.median(scs):.3f}" if scs else "—"
        ta = statistics.median(m["train_acc"] for m in at)
        rows.append(f"| {run['name']} | {e} | {ta:.3f} | {va:.3f} | {sc} |")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--unit", choices=("steps", "epochs"), default="steps")
    ap.add_argument("--curves", help="comma-separated epochs for a val-acc / SC-fraction table")
    ap.add_argument("--figure", type=Path, help="write val accuracy and SC fraction vs epoch "
                                                "(one panel each, one line per seed) here")
    ap.add_argument("--detector", action="store_true",
                    help="also list the early-grokking detector's verdict per seed")
    args = ap.parse_args()
    runs = [load(r) for r in args.runs]
    print(f"| run | status | wall s | {args.unit} to 95 % val | {args.unit} to 99 % val |")
    print("|---|---|---|---|---|")
    for r in runs:
        s = r["summary"]
        print(f"| {r['name']} | {s['status']} | {s['wall_time_s']:.0f} | "
              f"{describe(reached(r, '0.95', args.unit))} | "
              f"{describe(reached(r, '0.99', args.unit))} |")
    base = runs[0]
    for r in runs[1:]:
        for t in ("0.95", "0.99"):
            a, b = reached(base, t, args.unit), reached(r, t, args.unit)
            ratio = ""
            ga, gb = [v for v in a if v is not None], [v for v in b if v is not None]
            if ga and gb:
                ratio = f"; median ratio {statistics.median(ga) / statistics.median(gb):.2f}×"
            print(f"- {base['name']} vs {r['name']}, val {t}: {test(a, b)}{ratio}")
    if args.curves:
        epochs = [int(e) for e in args.curves.split(",")]
        print("\n| run | epoch | train acc (median) | val acc (median) | SC fraction (median) |")
        print("|---|---|---|---|---|")
        for r in runs:
            print("\n".join(curves(r, epochs)))
    if args.figure:
        plot(runs, args.figure)
    if args.detector:
        print("\n| run | seed | detector fired (step) | val 0.95 (step) | lead (steps) | outcome |")
        print("|---|---|---|---|---|---|")
        for r in runs:
            for s in r["summary"]["seeds"]:
                d = s.get("early_detection") or {}
                print(f"| {r['name']} | {s['seed']} | {d.get('fired_step')} | "
                      f"{d.get('target_step')} | {d.get('lead_steps')} | {d.get('outcome')} |")


def plot(runs: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_val, ax_sc) = plt.subplots(1, 2, figsize=(10, 3.6), constrained_layout=True)
    for k, r in enumerate(runs):
        color = f"C{k}"
        for i, seed in enumerate(sorted({m["seed"] for m in r["metrics"]})):
            ms = [m for m in r["metrics"] if m["seed"] == seed]
            ep = [m["epoch"] for m in ms]
            label = r["name"] if i == 0 else None
            ax_val.plot(ep, [m["val_acc"] for m in ms], color=color, lw=1, label=label)
            ax_sc.plot(ep, [m.get("sc_fraction") or 0.0 for m in ms], color=color, lw=1,
                       label=label)
    ax_val.set(xlabel="epoch", ylabel="val accuracy", ylim=(0, 1.02))
    ax_sc.set(xlabel="epoch", ylabel="Softmax-Collapse fraction (train rows)", ylim=(0, 1.02))
    ax_val.legend(fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130)
    plt.close(fig)


if __name__ == "__main__":
    main()
