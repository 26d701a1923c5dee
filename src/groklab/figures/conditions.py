"""Figures that compare conditions: training curves with a confidence band over seeds,
strip + box plots of the steps to a threshold, Kaplan–Meier curves and the phase diagram of a
2-axis sweep. Each function takes data and a path and writes ``path`` (PNG) and the PDF beside
it, atomically; colours follow the order of the conditions, so one condition keeps its colour
across figures.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import NamedTuple

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from scipy import stats  # noqa: E402

from groklab.figures.save import save_figure  # noqa: E402
from groklab.stats import GrokTimes, KaplanMeier, kaplan_meier  # noqa: E402

_COLORS = plt.get_cmap("tab10").colors
_LINESTYLES = ("-", "--", "-.", ":")  # KM curves that coincide (e.g. all censored) stay apart


def seed_matrix(records: list[dict], key: str) -> tuple[np.ndarray, np.ndarray]:
    """Metric ``key`` of one run's records as (steps [step], values [seed, step]); nan where a
    seed has no record at that step or the value is null."""
    steps = sorted({r["step"] for r in records})
    seeds = sorted({r["seed"] for r in records})
    col = {s: j for j, s in enumerate(steps)}
    row = {s: i for i, s in enumerate(seeds)}
    values = np.full((len(seeds), len(steps)), np.nan)
    for r in records:
        if r.get(key) is not None:
            values[row[r["seed"]], col[r["step"]]] = r[key]
    return np.asarray(steps, float), values


class Band(NamedTuple):
    mean: np.ndarray  # [step]
    low: np.ndarray  # [step]; nan where fewer than two seeds have a value
    high: np.ndarray  # [step]
    n: np.ndarray  # [step] seeds with a value


def mean_band(values: np.ndarray, confidence: float = 0.95) -> Band:
    """Mean over seeds and its t-interval at every step, from ``values`` [seed, step].

    At each step only the n seeds with a finite value count (a seed that stopped early or has
    no record there is left out, never carried forward, so no value is made up; the mean can
    jump where seeds drop out): mean ± t_{n−1, (1+c)/2} · s / √n with s the sample standard
    deviation (ddof 1). The interval is nan for n < 2 and the mean for n = 0.
    """
    x = np.asarray(values, float)
    ok = np.isfinite(x)
    n = ok.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(ok, x, 0.0).sum(axis=0) / n
        var = (np.where(ok, x - mean, 0.0) ** 2).sum(axis=0) / (n - 1)
        half = stats.t.ppf((1 + confidence) / 2, n - 1) * np.sqrt(var / n)
    half = np.where(n >= 2, half, np.nan)
    return Band(mean, mean - half, mean + half, n)


def _band_panel(ax, records: list[dict], keys, color, per_seed: bool, confidence: float) -> int:
    """Mean ± t-interval over seeds of ``keys`` (val solid, train dashed) on ``ax``; returns the
    number of seeds."""
    n_seeds = 0
    for key, style, alpha in zip(keys, ("-", "--"), (0.25, 0.12)):
        steps, values = seed_matrix(records, key)
        if per_seed:
            for v in values:
                ax.plot(steps, v, style, color=color, lw=0.6, alpha=0.35)
        band = mean_band(values, confidence)
        ax.fill_between(steps, band.low, band.high, color=color, alpha=alpha, lw=0)
        ax.plot(steps, band.mean, style, color=color, lw=1.6)
        n_seeds = values.shape[0]
    return n_seeds


def plot_condition_curves(curves: dict[str, list[dict]], path: str | Path,
                          per_seed: bool = False, log_x: bool = False,
                          confidence: float = 0.95, loss: bool = False) -> Path | None:
    """One panel per condition (label → its metrics records): the mean over seeds of val
    accuracy (solid) and train accuracy (dashed) vs step, each with the t-interval of the mean
    (``mean_band``); ``per_seed`` adds every seed as a thin translucent line; ``loss`` puts the
    same for the cross-entropy loss (log scale) in a panel beside each condition's accuracy.
    None when no condition has records."""
    curves = {k: v for k, v in curves.items() if v}
    if not curves:
        return None
    n = len(curves)
    ncols = math.ceil(math.sqrt(n))
    nrows = math.ceil(n / ncols)
    per = 2 if loss else 1  # panels per condition
    fig, axs = plt.subplots(nrows, ncols * per,
                            figsize=(max(4.6 * ncols * per, 7.0), 3.2 * nrows + 0.8),
                            sharex=True, squeeze=False, layout="constrained")
    acc_axes, loss_axes = axs[:, ::per].flat, axs[:, 1::per].flat if loss else []
    for i, (label, records) in enumerate(curves.items()):
        color = _COLORS[i % len(_COLORS)]
        ax = acc_axes[i]
        n_seeds = _band_panel(ax, records, ("val_acc", "train_acc"), color, per_seed, confidence)
        ax.set_title(f"{label} ({n_seeds} seeds)", fontsize=9)
        ax.set_ylim(-0.02, 1.02)
        ax.set_ylabel("accuracy")
        if loss:
            lax = loss_axes[i]
            _band_panel(lax, records, ("val_loss", "train_loss"), color, per_seed, confidence)
            lax.set_title(f"{label}: loss", fontsize=9)
            _, val_loss = seed_matrix(records, "val_loss")
            if np.any(np.isfinite(val_loss) & (val_loss > 0)):
                lax.set_yscale("log")
            lax.set_ylabel("cross-entropy loss")
    for ax in axs.flat:
        ax.grid(alpha=0.3)
        if log_x:
            ax.set_xscale("log")
    for ax in list(axs.flat)[n * per:]:
        ax.set_visible(False)
    for ax in axs[-1]:
        ax.set_xlabel("step" + (" (log scale)" if log_x else ""))
    what = "val" + (" acc / loss" if loss else " acc")
    handles = [Line2D([], [], color="k", ls="-", lw=1.6, label=f"{what}, mean over seeds"),
               Line2D([], [], color="k", ls="--", lw=1.6,
                      label=what.replace("val", "train") + ", mean over seeds"),
               Patch(color="k", alpha=0.2, lw=0,
                     label=f"{confidence * 100:g} % CI of the mean (t)")]
    if per_seed:
        handles.append(Line2D([], [], color="k", lw=0.6, alpha=0.5, label="one seed"))
    fig.legend(handles=handles, loc="outside lower center", fontsize=8, frameon=False,
               ncols=len(handles) if ncols * per > 1 else 2)
    return save_figure(fig, path)


def _tick_label(label: str, g: GrokTimes) -> str:
    return label.replace(", ", "\n") + f"\n{g.k_of_n()} reached"


def plot_steps_strip(times: dict[str, GrokTimes], path: str | Path,
                     ylabel: str = "steps to val acc ≥ 99 %") -> Path:
    """Per condition (label → its seeds' times) a box plot of the seeds that reached the
    threshold and every seed as a dot; a seed that never reached it is a hollow triangle at the
    budget it was censored at (its time is only known to exceed it), never a made-up time."""
    n = len(times)
    fig, ax = plt.subplots(figsize=(max(4.5, 1.6 * n + 1.8), 4.4), layout="constrained")
    for i, g in enumerate(times.values()):
        color = _COLORS[i % len(_COLORS)]
        reached, censored = g.times[g.grokked], g.times[~g.grokked]
        if len(reached):
            ax.boxplot([reached], positions=[i], widths=0.5, showfliers=False,
                       medianprops={"color": color, "lw": 2})
        jitter = np.random.default_rng(i).uniform(-0.15, 0.15, g.n)
        ax.scatter(i + jitter[g.grokked], reached, color=color, s=22, zorder=3)
        ax.scatter(i + jitter[~g.grokked], censored, marker="^", facecolors="none",
                   edgecolors=color, s=45, zorder=3)
        if len(censored):
            ax.annotate(f"{len(censored)} censored", (i + 0.2, censored.max()), fontsize=7,
                        color=color, va="center")
    ax.set_xticks(range(n), [_tick_label(k, g) for k, g in times.items()], fontsize=8)
    ax.set_xlim(-0.6, n - 0.4)
    ax.set_ylim(bottom=0)
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)
    fig.legend(handles=[
        Line2D([], [], marker="o", ls="", color="grey", label="reached (one seed)"),
        Line2D([], [], marker="^", ls="", mfc="none", color="grey",
               label="not reached: censored at its budget")],
        loc="outside upper center", ncols=2, fontsize=8, frameon=False)
    return save_figure(fig, path)


def plot_values_strip(values: dict[str, list[float]], path: str | Path,
                      ylabel: str = "final val accuracy") -> Path:
    """Per condition (label → one value per seed, e.g. its final val accuracy) a box plot and
    every seed as a dot: the spread over seeds that a mean ± std hides."""
    n = len(values)
    fig, ax = plt.subplots(figsize=(max(4.5, 1.6 * n + 1.8), 4.0), layout="constrained")
    for i, v in enumerate(values.values()):
        color = _COLORS[i % len(_COLORS)]
        v = np.asarray([x for x in v if x is not None and math.isfinite(x)], float)
        if len(v):
            ax.boxplot([v], positions=[i], widths=0.5, showfliers=False,
                       medianprops={"color": color, "lw": 2})
        jitter = np.random.default_rng(i).uniform(-0.15, 0.15, len(v))
        ax.scatter(i + jitter, v, color=color, s=22, zorder=3)
    ax.set_xticks(range(n), [f"{k.replace(', ', chr(10))}\n{len(v)} seeds"
                             for k, v in values.items()], fontsize=8)
    ax.set_xlim(-0.6, n - 0.4)
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)
    return save_figure(fig, path)


def survival_at(km: KaplanMeier, t) -> np.ndarray:
    """The Kaplan–Meier step function at times ``t`` (1 before the first event)."""
    return np.concatenate([[1.0], km.survival])[np.searchsorted(km.times, t, side="right")]


def _median_text(km: KaplanMeier) -> str:
    return "median not reached" if math.isinf(km.median) else f"median {km.median:.0f}"


def plot_kaplan_meier(times: dict[str, GrokTimes], path: str | Path,
                      ylabel: str = "seeds not yet at val acc ≥ 99 %") -> Path:
    """Kaplan–Meier curves (``groklab.stats.kaplan_meier``): per condition the share of seeds
    not yet at the threshold vs step, a step function drawn to the condition's last time, with
    a tick where seeds were censored (never reached it within their budget)."""
    fig, ax = plt.subplots(figsize=(7, 4.4), layout="constrained")
    for i, (label, g) in enumerate(times.items()):
        color, ls = _COLORS[i % len(_COLORS)], _LINESTYLES[i % len(_LINESTYLES)]
        km = kaplan_meier(g)
        x = np.concatenate([[0.0], km.times, [g.times.max()]])
        y = survival_at(km, x)
        ax.step(x, y, where="post", color=color, ls=ls, lw=1.6,
                label=f"{label} ({g.k_of_n()}, {_median_text(km)})")
        censored = g.times[~g.grokked]
        ax.plot(censored, survival_at(km, censored), "|", color=color, ms=11, mew=1.6)
    ax.axhline(0.5, color="grey", lw=0.8, ls=":")
    ax.plot([], [], "|", color="grey", ms=11, mew=1.6, label="censored (not reached by budget)")
    ax.set_xlim(left=0)
    ax.set_ylim(-0.03, 1.05)
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    fig.legend(loc="outside lower center", fontsize=8, ncols=1 if len(times) < 5 else 2,
               frameon=False)
    return save_figure(fig, path)


def _annotate(ax, image, texts: list[list[str]]) -> None:
    """Write ``texts`` [row][col] on the cells of ``image``, white on dark colours."""
    data = image.get_array()
    masked = np.ma.getmaskarray(data)
    for i, row in enumerate(texts):
        for j, text in enumerate(row):
            r, g, b, _ = (1, 1, 1, 1) if masked[i, j] else image.cmap(image.norm(data[i, j]))
            dark = 0.299 * r + 0.587 * g + 0.114 * b < 0.5
            ax.text(j, i, text, ha="center", va="center", fontsize=9,
                    color="white" if dark else "black")


def plot_phase_diagram(axes: list[str], cells: dict[tuple, GrokTimes], path: str | Path,
                       threshold: str = "0.99") -> Path | None:
    """Phase diagram of a 2-axis sweep (``cells``: (value of axes[0], value of axes[1]) → the
    seeds' times): the share of seeds that reached the threshold (k/N) and the Kaplan–Meier
    median steps to it, over axes[0] (rows) × axes[1] (columns). A median beyond the budget
    (fewer than half reached it) shows as "> budget" on grey; a missing combination as "—".
    None unless there are exactly two axes with at least two values each."""
    if len(axes) != 2:
        return None
    ys = list(dict.fromkeys(k[0] for k in cells))
    xs = list(dict.fromkeys(k[1] for k in cells))
    if len(ys) < 2 or len(xs) < 2:
        return None
    frac = np.full((len(ys), len(xs)), np.nan)
    median = np.full_like(frac, np.nan)
    frac_text = [["—"] * len(xs) for _ in ys]
    median_text = [["—"] * len(xs) for _ in ys]
    for (a, b), g in cells.items():
        i, j = ys.index(a), xs.index(b)
        km = kaplan_meier(g)
        frac[i, j] = g.k / g.n
        frac_text[i][j] = g.k_of_n()
        if math.isinf(km.median):
            median_text[i][j] = f"> {g.times.max():.0f}"
        else:
            median[i, j] = km.median
            median_text[i][j] = f"{km.median:.0f}"
    pct = f"{float(threshold) * 100:g} %"
    fig, (ax_f, ax_m) = plt.subplots(1, 2, figsize=(5.2 + 1.1 * 2 * len(xs),
                                                    1.6 + 0.8 * len(ys)), layout="constrained")
    finite = median[np.isfinite(median)]
    for ax, data, texts, cmap, norm_range, title, bar in (
            (ax_f, frac, frac_text, "viridis", (0, 1), f"seeds reaching val acc ≥ {pct}",
             "share of seeds (k/N)"),
            (ax_m, median, median_text, "viridis_r",
             (finite.min(), finite.max()) if len(finite) else (0, 1),
             f"Kaplan–Meier median steps to val acc ≥ {pct}", "steps")):
        cm = plt.get_cmap(cmap).with_extremes(bad="#d9d9d9")
        image = ax.imshow(np.ma.masked_invalid(data), cmap=cm, vmin=norm_range[0],
                          vmax=norm_range[1], origin="lower", aspect="auto")
        _annotate(ax, image, texts)
        ax.set_xticks(range(len(xs)), xs)
        ax.set_yticks(range(len(ys)), ys)
        ax.set_xlabel(axes[1])
        ax.set_ylabel(axes[0])
        ax.set_title(title, fontsize=10)
        fig.colorbar(image, ax=ax, label=bar, shrink=0.9)
    return save_figure(fig, path)
