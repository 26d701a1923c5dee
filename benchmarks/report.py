"""Turn benchmarks/results.json into the generated tables of BENCHMARKS.md, the scaling figure
and a printed summary."""

from __future__ import annotations

import re
from pathlib import Path

BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def _ratio(a, b) -> str:
    return f"{a / b:.2f}×" if a and b else "—"


def core_table(r: dict) -> list[str]:
    c = r["core"]
    e, p = c["engine"], c["plain"]
    lines = [
        "| figure (1 seed, batch 512) | plain reference | groklab engine | plain / engine |",
        "|---|---|---|---|",
        f"| compile time | {p['compile_s']:.2f} s | {e['compile_s']:.2f} s | |",
        f"| ms per training step | {p['ms_per_step']:.1f} | {e['ms_per_step']:.1f} | "
        f"{_ratio(p['ms_per_step'], e['ms_per_step'])} |",
        f"| ms per full evaluation (9,312 rows) | {p['ms_per_eval']:.0f} | "
        f"{e['ms_per_eval']:.0f} | {_ratio(p['ms_per_eval'], e['ms_per_eval'])} |",
        f"| seconds per epoch (10 steps + 1 evaluation) | {p['s_per_epoch']:.3f} | "
        f"{e['s_per_epoch']:.3f} | {_ratio(p['s_per_epoch'], e['s_per_epoch'])} |",
        f"| useful GFLOP/s ({c['useful_gflop_per_step']:.2f} GFLOP per step) | "
        f"{p['useful_gflops_per_s']:.0f} ({100 * p['fraction_of_peak']:.0f} % of peak) | "
        f"{e['useful_gflops_per_s']:.0f} ({100 * e['fraction_of_peak']:.0f} % of peak) | |",
        f"| peak RSS of the timing process | {c['peak_rss_mb']:.0f} MB (both in one process) "
        f"| | |",
    ]
    t = r.get("to99")
    if t:
        pe = ", ".join(f"{x['epochs']}" for x in t["plain"])
        ee = ", ".join(f"{x['epochs']:g}" for x in t["engine"])
        ps = ", ".join(f"{x['s_incl_compile']:.0f}" for x in t["plain"])
        es = ", ".join(f"{x['s_summary']:.0f}" for x in t["engine"])
        proc = ", ".join(f"{x['s_process']:.0f}" for x in t["engine"])
        ck = ", ".join(f"{x['checkpoint_mb']:.0f}" for x in t["engine"])
        lines += [
            f"| seconds to 99 % val incl. compile, median of seeds 0–2 (each seed) | "
            f"{t['median_s_plain']:.0f} s ({ps}) | {t['median_s_engine']:.0f} s ({es}) | "
            f"{t['speedup_vs_plain']:.2f}× |",
            f"| … the whole `groklab train` process (start, imports, figures) | | "
            f"{t['median_s_engine_process']:.0f} s ({proc}) | |",
            f"| epochs to 99 % val, seeds 0–2 | {pe} | {ee} | |",
            f"| peak RSS of a `groklab train` run to 99 % | | "
            f"{t['engine_peak_rss_mb']:.0f} MB | |",
            f"| checkpoints written by those runs | | {ck} MB | |",
        ]
    lines.append(f"\nMatmul peak measured in the same run: {c['matmul_peak_gflops']:.0f} GFLOP/s "
                 "(float32, 2048³).")
    return lines


def throughput_table(r: dict) -> list[str]:
    one = r["throughput"]["1"]["ms_per_step"]
    plain = r["core"]["plain"]["seed_steps_per_s"]
    lines = ["| seeds S | ms per step | ms per seed-step | seed-steps/s | step cost / (S × 1 seed) "
             "| plain reference seed-steps/s |", "|---|---|---|---|---|---|"]
    for S, x in r["throughput"].items():
        if not S.isdigit():
            continue
        lines.append(f"| {S} | {x['ms_per_step']:.1f} | {x['ms_per_seed_step']:.1f} | "
                     f"{x['seed_steps_per_s']:.1f} | {x['ms_per_step'] / (int(S) * one):.2f} | "
                     f"{plain:.1f} |")
    return lines


def scaling_tables(r: dict) -> list[str]:
    lines = []
    for axis, rows in r["scaling"].items():
        if not isinstance(rows, list):
            continue
        lines += [f"\n**{axis}** (others at the reference: p 97, d_model 128, 1 seed, batch 512)",
                  "", f"| {axis} | ms per step | ms per evaluation | useful GFLOP/s |",
                  "|---|---|---|---|"]
        for x in rows:
            gf = x["useful_gflop_per_step"] / (x["ms_per_step"] / 1000) if x["ms_per_step"] else 0
            value = x["seeds"] if axis == "seeds" else x["value"]
            lines.append(f"| {value} | {x['ms_per_step']:.1f} | {x['ms_per_eval']:.0f} | "
                         f"{gf:.0f} |")
    return lines


def distill_table(r: dict) -> list[str]:
    d = r.get("distill")
    if not d:
        return []
    lines = ["", "### Distillation: cost per step of each strategy", "",
             "A 0.5×-width student (d_model 64) of the reference teacher (d_model 128), the "
             "reference recipe (batch 512, 1 seed); the teacher's forward runs inside the "
             "student's compiled step. Ratio: to the same student trained without a teacher.",
             "", "| strategy | ms per step | × no teacher | ms per evaluation |",
             "|---|---|---|---|"]
    for name, x in d.items():
        if isinstance(x, dict) and "ms_per_step" in x:
            lines.append(f"| {name} | {x['ms_per_step']:.1f} | {x['vs_scratch']:.2f} | "
                         f"{x['ms_per_eval']:.0f} |")
    return lines


def sweep_table(r: dict) -> list[str]:
    sw = r.get("sweep")
    if not sw:
        return []
    w = sw["walls_s"]
    return [
        "", f"### A sweep: {sw['cells']} cells × {sw['seeds']} seeds, batched vs one compile per "
        "cell", "",
        f"`groklab sweep` on 4 learning rates × 4 weight decays, x+y mod 23 (70 % train), "
        f"d_model 64, batch 64, {sw['epochs']} epochs ({sw['steps_per_cell']} steps) per cell, "
        "no stop rule; whole processes, the two modes alternating.", "",
        "| mode | programs compiled | wall s (each run) | median s |", "|---|---|---|---|",
        f"| cells batched (default, at most 64 members per program) | "
        f"{sw['programs']['batched']} | {', '.join(f'{x:.0f}' for x in w['batched'])} | "
        f"{sw['median_s']['batched']:.0f} |",
        f"| one compile per cell (`batch_cells: false`) | {sw['programs']['per_cell']} | "
        f"{', '.join(f'{x:.0f}' for x in w['per_cell'])} | {sw['median_s']['per_cell']:.0f} |",
        "", f"Batched is **{sw['speedup']:.1f}×** faster; the two results tables are "
        + ("identical." if sw["same_results_table"] else "**not** identical."),
    ]


def analysis_table(r: dict) -> list[str]:
    an = r.get("analysis")
    if not an:
        return []
    runs, med = an["runs"], an["median"]
    return [
        "", "### Analysis over every checkpoint vs training", "",
        f"A `nanda2023` run on x+y mod 59 (40 % train, full batch, {an['seeds']} seeds, "
        f"{an['steps']} steps, a checkpoint every 10 steps: {runs[0]['checkpoints']} "
        "checkpoints), then `groklab analyze` of its latest checkpoint and with "
        "`--all_checkpoints`; whole processes, compile included.", "",
        "| | wall s (each run) | median s |", "|---|---|---|",
        *(f"| {label} | {', '.join(f'{x[k]:.0f}' for x in runs)} | {med[k]:.0f} |"
          for label, k in (("groklab train", "train_s"),
                           ("groklab analyze (one checkpoint)", "analyze_one_s"),
                           ("groklab analyze --all_checkpoints", "analyze_all_s"))),
        "", f"Analysing every checkpoint took **{an['all_vs_train']:.2f}×** the training's "
        "wall time.",
    ]


def generated_markdown(r: dict) -> str:
    lines = [BEGIN, "", f"Generated by `make bench` on {r['date']} ({r['machine']['cpu']}, "
             f"{r['machine']['cores']} cores, JAX {r['jax']}); total {r['total_s']:.0f} s. "
             "Raw figures: `benchmarks/results.json`." + "".join(
                 f" Re-measured on {x['date']} with `--parts {','.join(x['parts'])}`"
                 + (f" ({x['machine']['cpu']}, {x['machine']['cores']} cores)"
                    if "machine" in x else "") + "."
                 for x in r.get("reruns", [r["rerun"]] if "rerun" in r else []))]
    lines += seeds_table(r)
    lines += ["", "### Reference workload: engine next to the plain reference", ""]
    lines += core_table(r)
    lines += ["", "### Throughput over vmapped seeds", ""] + throughput_table(r)
    lines += ["", "### Scaling", "", "![scaling](docs/figures/scaling.png)"] + scaling_tables(r)
    lines += distill_table(r)
    lines += sweep_table(r)
    lines += analysis_table(r)
    lines += ["", END]
    return "\n".join(lines)


def update_benchmarks_md(r: dict, path: Path) -> None:
    text = path.read_text()
    block = generated_markdown(r)
    if BEGIN in text:
        text = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: block, text,
                      flags=re.S)
    else:
        text = text.rstrip() + "\n\n## `make bench` (generated)\n\n" + block + "\n"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def write_figure(r: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    axes = [a for a, rows in r["scaling"].items() if isinstance(rows, list)]
    fig, ax = plt.subplots(1, len(axes), figsize=(4 * len(axes), 3.4))
    for a, name in zip(ax, axes):
        rows = r["scaling"][name]
        xs = [float(x["seeds"] if name == "seeds" else x["value"]) for x in rows]
        a.loglog(xs, [x["ms_per_step"] for x in rows], "o-", label="ms per step")
        a.loglog(xs, [x["ms_per_eval"] for x in rows], "s--", label="ms per evaluation")
        a.set_xlabel(name)
        a.set_xticks(xs, [f"{x:g}" for x in xs])
        a.minorticks_off()
        a.grid(alpha=0.3)
    ax[0].set_ylabel("milliseconds")
    ax[0].legend(fontsize=8)
    fig.suptitle("groklab engine cost vs problem size (2-core CPU; reference: p 97, "
                 "d_model 128, 1 seed, batch 512)", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


def print_summary(r: dict) -> None:
    c = r.get("core")
    if c:
        e, p = c["engine"], c["plain"]
        print(f"matmul peak {c['matmul_peak_gflops']:.0f} GFLOP/s")
        print(f"engine: {e['ms_per_step']:.1f} ms/step, {e['ms_per_eval']:.0f} ms/eval, "
              f"{e['s_per_epoch']:.3f} s/epoch, {100 * e['fraction_of_peak']:.0f} % of peak")
        print(f"plain:  {p['ms_per_step']:.1f} ms/step, {p['ms_per_eval']:.0f} ms/eval, "
              f"{p['s_per_epoch']:.3f} s/epoch  → engine "
              f"{p['s_per_epoch'] / e['s_per_epoch']:.2f}× per epoch")
    for S, x in r.get("throughput", {}).items():
        if S.isdigit():
            print(f"S={S}: {x['seed_steps_per_s']:.1f} seed-steps/s")
    t = r.get("to99")
    if t:
        print(f"to 99 %: engine median {t['median_s_engine']:.0f} s (process "
              f"{t['median_s_engine_process']:.0f} s), plain "
              f"{t['median_s_plain']:.0f} s → {t['speedup_vs_plain']:.2f}× vs plain")
    for line in seeds_summary(r):
        print(line)
    if "total_s" in r:
        print(f"total {r['total_s']:.0f} s")


def _peaks(x: dict) -> str:
    p = x["matmul_peak_gflops"]
    p = p if isinstance(p, list) else [p]
    lo, hi = f"{min(p):.0f}", f"{max(p):.0f}"
    return lo if lo == hi else f"{lo}–{hi}"


def seeds_summary(r: dict) -> list[str]:
    """Printed lines of the side-by-side parts."""
    out = []
    sd = r.get("seeds")
    if sd and "skipped" in sd:
        out.append(f"seeds: skipped ({sd['skipped']})")
    elif sd:
        s, g = sd["seeds"], sd["groklab"]
        out.append(f"side by side on {sd['machine']['cpu']} (matmul peak {_peaks(sd)} GFLOP/s): "
                   f"s/epoch seeds' code {s['s_per_epoch_min']:.2f} (median "
                   f"{s['s_per_epoch_median']:.2f}), groklab {g['s_per_epoch_min']:.3f} (median "
                   f"{g['s_per_epoch_median']:.3f}) → {sd['ratio']['s_per_epoch_min']:.1f}× "
                   f"(medians {sd['ratio']['s_per_epoch_median']:.1f}×)")
    s99 = r.get("seeds99")
    if s99 and "skipped" in s99:
        out.append(f"seeds99: skipped ({s99['skipped']})")
    elif s99:
        s, g, q = s99["seeds"], s99["groklab"], s99["ratio"]
        out.append(f"to 99 % (whole processes, peak {_peaks(s99)} GFLOP/s): seeds' code "
                   f"{_s(s['s_to_99'])} s at epoch {_e(s['epoch_to_99'])} (seed "
                   f"{s99['seeds_seed']}), groklab {_s(g['s_to_99'])} s at epoch "
                   f"{_e(g['epoch_to_99'])} (seed {s99['groklab_seed']}) → "
                   f"{_x(q.get('s_to_99'))}; per epoch {_x(q.get('s_per_epoch_to_99'))}; "
                   f"at equal epochs {_x(q.get('s_to_99_equal_epochs'))}")
    return out


def _e(v) -> str:
    return "not reached" if v is None else f"{v:g}"


def _s(v) -> str:
    return "—" if v is None else f"{v:.0f}"


def _x(v) -> str:
    return "—" if v is None else f"{v:.1f}×"


def seeds_table(r: dict) -> list[str]:
    """The side-by-side section: the seeds' own implementation and groklab, same machine."""
    sd, s99 = r.get("seeds"), r.get("seeds99")
    if not sd and not s99:
        return []
    lines = ["", "### Side by side: the seeds' own implementation and groklab", ""]
    for name, x in (("seeds", sd), ("seeds99", s99)):
        if x and "skipped" in x:
            lines += [f"The `{name}` part was skipped: {x['skipped']}.", ""]
    sd = sd if sd and "skipped" not in sd else None
    s99 = s99 if s99 and "skipped" not in s99 else None
    if not sd and not s99:
        return lines
    lines += [
        "The seeds' `train_nnx.py` (../shared/reference/seed-implementation, unmodified, in its "
        "own environment: jax 0.7.1, flax 0.11.2) and `groklab train --preset seed-teacher`, "
        "both on x/y mod 97, 50 % split, the teacher recipe, batch 512, each as a whole process "
        "as a user runs it (the seeds' script checkpoints every epoch, groklab at its default "
        "log-spaced steps). Per-epoch seconds are (T(long) − T(short)) / (long − short) of "
        "whole processes, so start-up, imports and compilation cancel; the two codes' runs "
        "alternate. Seconds to 99 % are whole-process wall times, from launch until the "
        "epoch that reached 99 % val was recorded (groklab: `--stop_at 0.99`; the seeds' "
        "script has no stop rule, so its training_history.json is polled and the process "
        "ended there).", ""]
    if sd:
        s, g, q = sd["seeds"], sd["groklab"], sd["ratio"]
        m = sd["machine"]
        n = {c: (sd[c]["epochs_short"], sd[c]["epochs_long"]) for c in ("seeds", "groklab")}
        lines += [
            f"Measured {sd.get('date', r['date'])} on **{m['cpu']}, {m['cores']} cores**"
            + (f" (groklab at {m['commit']})" if m.get("commit") else "") + "; "
            f"float32 matmul peak measured in the same part, before and after: "
            f"**{_peaks(sd)} GFLOP/s**" + _load_note(sd) + ".", "",
            "| figure | the seeds' implementation | groklab | seeds / groklab |",
            "|---|---|---|---|",
            f"| epochs of the short / long processes | {n['seeds'][0]} / {n['seeds'][1]} | "
            f"{n['groklab'][0]} / {n['groklab'][1]} | |",
            f"| seconds per epoch, (T(long) − T(short)) / (long − short), from the minima | "
            f"{s['s_per_epoch_min']:.2f} | {g['s_per_epoch_min']:.3f} | "
            f"**{q['s_per_epoch_min']:.1f}×** |",
            f"| seconds per epoch, from the medians | {s['s_per_epoch_median']:.2f} | "
            f"{g['s_per_epoch_median']:.3f} | {q['s_per_epoch_median']:.1f}× |",
            f"| whole process, short run (each repeat), s | "
            f"{', '.join(f'{v:.1f}' for v in s['s_process_short'])} | "
            f"{', '.join(f'{v:.1f}' for v in g['s_process_short'])} | |",
            f"| whole process, long run (each repeat), s | "
            f"{', '.join(f'{v:.1f}' for v in s['s_process_long'])} | "
            f"{', '.join(f'{v:.1f}' for v in g['s_process_long'])} | |",
            f"| fixed cost of a process (start-up, imports, compile; short run minus its "
            f"epochs), s | {s['fixed_s_min']:.1f} | {g['fixed_s_min']:.1f} | |",
        ]
    if s99:
        s, g, q = s99["seeds"], s99["groklab"], s99["ratio"]
        m = s99["machine"]
        if not sd:
            lines += ["| figure | the seeds' implementation | groklab | seeds / groklab |",
                      "|---|---|---|---|"]
        lines += [
            f"| seconds to 99 % val, whole process (seed; epoch reached) | {_s(s['s_to_99'])} "
            f"(seed {s99['seeds_seed']}; epoch {_e(s['epoch_to_99'])}) | {_s(g['s_to_99'])} "
            f"(seed {s99['groklab_seed']}; epoch {_e(g['epoch_to_99'])}) | "
            f"**{_x(q.get('s_to_99'))}** |",
            f"| … per epoch (seconds to 99 % / epochs to 99 %) | "
            f"{_f(s.get('s_per_epoch_to_99'))} | {_f(g.get('s_per_epoch_to_99'))} | "
            f"{_x(q.get('s_per_epoch_to_99'))} |",
        ]
        if "groklab_s_at_seeds_epoch" in s99:
            lines.append(
                f"| … groklab moved to the seeds' epoch ({_e(s['epoch_to_99'])}) at its "
                f"per-epoch median | {_s(s['s_to_99'])} | {s99['groklab_s_at_seeds_epoch']:.0f} "
                f"| {_x(q.get('s_to_99_equal_epochs'))} |")
        at = f" (groklab at {m['commit']})" if m.get("commit") else ""
        lines += ["", f"The to-99 % runs: measured {s99.get('date', r['date'])} on {m['cpu']}, "
                  f"{m['cores']} cores{at}, matmul peak {_peaks(s99)} GFLOP/s (measured "
                  "between the two runs)" + _load_note(s99) + ". The seeds' script shuffles "
                  "its batches with NumPy's unseeded global generator, so its epoch of 99 % "
                  "varies from run to run even at seed 42; groklab's seeds are other random "
                  "streams, so the two runs grok at different epochs and the per-epoch rows "
                  "are the like-for-like ones."]
    return lines


def _load_note(x: dict) -> str:
    load = [v for v in x.get("load_average_1min") or [] if v is not None]
    return (f"; 1-minute load average {min(load):.1f}–{max(load):.1f} on "
            f"{x['machine']['cores']} cores" if load else "")


def _f(v) -> str:
    return "—" if v is None else f"{v:.2f}"
