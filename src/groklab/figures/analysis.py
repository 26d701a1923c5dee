"""Figures of an analysis (PNG + PDF in ``OUT/figures/``, written atomically): attention
patterns, Fourier spectra, CKA matrices, integrated-gradient attributions, and across
checkpoints the weight and gradient norms and the progress measures over the phases."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from groklab.figures.save import save_figure, suptitle  # noqa: E402

PHASE_COLORS = {"memorization": "#f4cccc", "circuit_formation": "#fff2cc", "cleanup": "#d9ead3"}


def _arr(x):
    return np.asarray([np.nan if v is None else v for v in np.ravel(x)], float).reshape(
        np.shape(x))


def _first(seeds: dict):
    key = next(iter(seeds))
    return key, seeds[key]


def attention_figure(att: dict, path: Path, title: str, names: list[str] | None = None,
                     pdf: bool = False) -> Path | None:
    seed, res = _first(att["seeds"])
    hooks = att["patterns"]
    if not hooks:
        return None
    pats = [_arr(res["mean_pattern"][h]) for h in hooks]  # [H, T, T] each
    heads = max(p.shape[0] for p in pats)
    fig, axes = plt.subplots(len(hooks), heads, figsize=(2.6 * heads + 1, 2.4 * len(hooks)),
                             squeeze=False)
    for i, (h, pat) in enumerate(zip(hooks, pats)):
        ent = res["entropy"][h]["per_head"]
        for j in range(heads):
            ax = axes[i, j]
            if j >= pat.shape[0]:
                ax.axis("off")
                continue
            ax.imshow(pat[j], vmin=0, vmax=1, cmap="viridis")
            if names and len(names) == pat.shape[-1]:
                ax.set_xticks(range(len(names)), names)
                ax.set_yticks(range(len(names)), names)
            e = ent[j]
            ax.set_title(f"{h.split('.attn')[0]} head {j}\n"
                         f"H = {'—' if e is None else f'{e:.2f}'} bits", fontsize=8)
            ax.set_xlabel("key position", fontsize=7)
            ax.set_ylabel("query position", fontsize=7)
    suptitle(fig, f"{title}: mean attention pattern over validation rows (seed {seed})")
    fig.tight_layout()
    return save_figure(fig, path, pdf)


def inputs_figure(att: dict, path: Path, pdf: bool = False) -> Path | None:
    if "inputs" not in att:
        return None
    seed, res = _first(att["inputs"]["seeds"])
    ops = att["inputs"]["operands"]
    panels = [(h, j) for h in att["patterns"] for j in range(_arr(res[h]).shape[1])]
    fig, axes = plt.subplots(len(ops), len(panels), squeeze=False,
                             figsize=(2.4 * len(panels) + 1, 2.2 * len(ops)))
    for r, (a, b) in enumerate(ops):
        for c, (h, j) in enumerate(panels):
            axes[r, c].imshow(_arr(res[h])[r, j], vmin=0, vmax=1, cmap="viridis")
            axes[r, c].set_title(f"({a}, {b}) {h.split('.attn')[0]} h{j}", fontsize=8)
    suptitle(fig, f"attention patterns of chosen inputs (seed {seed})")
    fig.tight_layout()
    return save_figure(fig, path, pdf)


def fourier_figure(four: dict, path: Path, pdf: bool = False) -> Path | None:
    seeds = four["seeds"]
    panels = []
    if four["parts"].get("embedding"):
        panels.append(("embedding", lambda r: r["embedding"]["share"]))
    hooks = list(next(iter(seeds.values())).get("neurons", {}))
    for h in hooks:
        panels.append((f"neurons {h}", lambda r, h=h: r["neurons"][h]["share"]))
    if four["parts"].get("progress"):
        panels.append(("logits along cos/sin w(a±b)", lambda r: r["logits"]["share"]))
    if not panels:
        return None
    fig, axes = plt.subplots(len(panels), 1, figsize=(8, 2.4 * len(panels)), squeeze=False)
    for ax, (name, get) in zip(axes[:, 0], panels):
        for s, r in seeds.items():
            share = _arr(get(r))
            ax.plot(np.arange(1, len(share) + 1), share, marker="o", ms=3, lw=1,
                    label=f"seed {s}: key {r.get('key_frequencies')}")
        k = len(share)
        ax.axhline(four["kappa"] / k, color="grey", ls="--", lw=0.8)
        ax.set_ylabel("power share")
        ax.set_title(f"{name} (dashed: κ × uniform share = key-frequency threshold)",
                     fontsize=9)
    axes[-1, 0].set_xlabel("frequency k (w = 2πk/p)")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, path, pdf)


def cka_figure(matrix, hooks_a, hooks_b, path: Path, title: str, pdf: bool = False) -> Path:
    m = _arr(matrix)
    fig, ax = plt.subplots(figsize=(1.0 + 0.9 * len(hooks_b), 1.0 + 0.7 * len(hooks_a)))
    ax.imshow(m, vmin=0, vmax=1, cmap="magma")
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            ax.text(j, i, "—" if np.isnan(m[i, j]) else f"{m[i, j]:.2f}", ha="center",
                    va="center", fontsize=7, color="white" if m[i, j] < 0.6 else "black")
    ax.set_xticks(range(len(hooks_b)), hooks_b, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(len(hooks_a)), hooks_a, fontsize=7)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path, pdf)


def attribution_figure(attr: dict, path: Path, token_names: list[str], pdf: bool = False) -> Path:
    fig, ax = plt.subplots(figsize=(6, 3))
    seeds = attr["seeds"]
    width = 0.8 / len(seeds)
    for i, (s, r) in enumerate(seeds.items()):
        share = _arr(r["share_abs"])
        ax.bar(np.arange(len(share)) + i * width, share, width, label=f"seed {s}")
    ax.set_xticks(np.arange(len(share)) + 0.4 - width / 2, token_names)
    ax.set_ylabel("share of |attribution|")
    ax.set_title(f"integrated gradients of the correct logit ({attr['rows']} validation rows)",
                 fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, path, pdf)


def _by_seed(records: list[dict]) -> dict:
    out: dict = {}
    for r in records:
        out.setdefault(r["seed"], []).append(r)
    return out


def evolution_figure(evo: dict, path: Path, pdf: bool = False) -> Path:
    seeds = _by_seed(evo["records"])
    layers = [k for k in seeds[next(iter(seeds))][0]["weight_norm"] if k != "total"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    colors = plt.get_cmap("tab10").colors
    for seed, recs in list(seeds.items())[:1]:
        steps = [max(r["step"], 1) for r in recs]
        for i, layer in enumerate(layers + ["total"]):
            style = dict(color="black", lw=2) if layer == "total" else dict(
                color=colors[i % 10], lw=1)
            axes[0].plot(steps, [r["weight_norm"][layer] for r in recs], label=layer, **style)
            axes[1].plot(steps, [r["grad"][layer] for r in recs], label=layer, **style)
        axes[0].set_title(f"weight norm per layer (seed {seed})", fontsize=9)
        axes[1].set_title(f"gradient norm per layer, training loss (seed {seed})", fontsize=9)
    for ax in axes:
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("step")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, path, pdf)


def progress_figure(evo: dict, metrics: list[dict], phases: dict, path: Path,
                    pdf: bool = False) -> Path:
    """Per seed (a row each, at most 3): train/val loss from metrics.jsonl, restricted and
    excluded loss and the sum of squared weights at the checkpoints, ``phases`` (per seed, as
    ``analysis.phases.phases_by_seed`` gives them) shaded."""
    seeds = _by_seed(evo["records"])
    shown = list(seeds)[:3]
    fig, axes = plt.subplots(len(shown), 1, figsize=(9, 3.2 * len(shown)), squeeze=False)
    for ax, seed in zip(axes[:, 0], shown):
        recs = seeds[seed]
        ms = sorted((r for r in metrics if r["seed"] == seed), key=lambda r: r["step"])
        st = [r["step"] for r in ms]
        ph = phases.get(str(seed))
        for name, (a, b) in (ph or {}).items():
            ax.axvspan(max(a, 1), max(b, 1), color=PHASE_COLORS[name], alpha=0.6, lw=0,
                       label=name.replace("_", " "))
        x = [max(s, 1) for s in st]
        ax.plot(x, [r["train_loss"] for r in ms], color="tab:blue", label="train loss")
        ax.plot(x, [r["val_loss"] for r in ms], color="tab:red", label="val loss")
        cx = [max(r["step"], 1) for r in recs]
        if recs and "progress" in recs[0]:
            ax.plot(cx, [r["progress"]["restricted_loss"] for r in recs], "o-", ms=3,
                    color="tab:green", label="restricted loss")
            ax.plot(cx, [r["progress"]["excluded_loss"] for r in recs], "s-", ms=3,
                    color="tab:purple", label="excluded loss")
        ax.set_yscale("log")
        ax.set_xscale("log")
        ax.set_ylabel("loss")
        ax2 = ax.twinx()
        ax2.plot(cx, [r["weight_norm"]["total"] ** 2 for r in recs], "k--", lw=1,
                 label="Σ w² (right)")
        ax2.set_ylabel("sum of squared weights")
        ax.set_title(f"seed {seed}: key frequencies {evo['key_frequencies'].get(str(seed))}",
                     fontsize=9)
        handles = ax.get_legend_handles_labels()
        h2 = ax2.get_legend_handles_labels()
        ax.legend(handles[0] + h2[0], handles[1] + h2[1], fontsize=7, loc="lower left")
    axes[-1, 0].set_xlabel("step")
    fig.tight_layout()
    return save_figure(fig, path, pdf)


def write_figures(out: Path, files: dict, metrics: list[dict], token_names: list[str],
                  pdf: bool = False) -> dict:
    """Every figure that applies; returns {name: path}. ``metrics``: the analysed run's
    metrics.jsonl records (the progress figure's loss curves)."""
    fig_dir = out / "figures"
    label = files["about"]["label"]
    made: dict = {}

    def keep(name, path):
        if path is not None:
            made[name] = path

    keep("attention", attention_figure(files["attention"], fig_dir / "attention_patterns.png",
                                       label, token_names, pdf=pdf))
    keep("inputs", inputs_figure(files["attention"], fig_dir / "attention_inputs.png", pdf=pdf))
    rep = files["representations"]
    within = np.nanmean(np.stack([_arr(r["cka_within"]) for r in rep["seeds"].values()]), 0)
    keep("cka_within", cka_figure(within, rep["hooks"], rep["hooks"],
                                  fig_dir / "cka_within.png",
                                  f"{label}: linear CKA between hook points (mean over seeds)",
                                  pdf=pdf))
    if "fourier" in files:
        keep("fourier", fourier_figure(files["fourier"], fig_dir / "fourier.png", pdf=pdf))
    if "attribution" in files:
        keep("attribution", attribution_figure(files["attribution"],
                                               fig_dir / "attribution.png", token_names, pdf=pdf))
    for i, c in enumerate((files.get("compare") or {}).get("runs", [])):
        mats = np.stack([_arr(r["matrix"]) for r in c["seeds_results"].values()])
        keep(f"cka_{i}", cka_figure(np.nanmean(mats, 0), c["hooks_a"], c["hooks_b"],
                                    fig_dir / f"cka_{i}_{c['label']}.png",
                                    f"linear CKA: {label} (rows) vs {c['label']} (columns), "
                                    "mean over seeds", pdf=pdf))
    if "evolution" in files:
        keep("evolution", evolution_figure(files["evolution"], fig_dir / "evolution.png", pdf=pdf))
        keep("progress", progress_figure(files["evolution"], metrics,
                                         files["evolution"].get("phases", {}),
                                         fig_dir / "progress_measures.png", pdf=pdf))
    return made
