"""Fourier analysis of modular-arithmetic circuits: the embedding, neuron and logit spectra, key
frequencies, and the restricted / excluded-loss progress measures of Nanda, Chan, Lieberum, Smith,
Steinhardt 2023, "Progress measures for grokking via mechanistic interpretability",
arXiv:2301.05217.

Notation: ``p`` is an odd prime (every function here only needs ``p`` odd), ``K = (p − 1) / 2``
frequencies ``k = 1..K`` with ``w_k = 2πk/p``. Grids over inputs ``(a, b)`` are indexed
``[a, b]`` (``a`` slow, ``b`` fast, the row order of the task tables). Everything runs on the host
in float64 numpy; the arrays are small (``p ≤ ~113``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

COMBINATIONS = ("add", "sub")

# A neuron whose non-constant power is at most this fraction of its total power is treated as dead:
# for a constant neuron the non-constant coefficients are float64 rounding noise, about
# (p · 1e-16)² of the total, far below this threshold.
_DEAD_RTOL = 1e-20


# --------------------------------------------------------------------------------------------------
# The basis
# --------------------------------------------------------------------------------------------------


def _check_p(p: int) -> int:
    if isinstance(p, bool) or int(p) != p or p < 3 or p % 2 == 0:
        raise ValueError(f"p must be an odd integer ≥ 3, got {p!r}")
    return int(p)


def n_frequencies(p: int) -> int:
    """K = (p − 1) / 2, the number of non-constant frequencies over Z_p."""
    return (_check_p(p) - 1) // 2


def cos_row(k: int) -> int:
    """Row of cos(w_k x) in ``fourier_basis`` (k ≥ 1)."""
    return 2 * k - 1


def sin_row(k: int) -> int:
    """Row of sin(w_k x) in ``fourier_basis`` (k ≥ 1)."""
    return 2 * k


def fourier_basis(p: int) -> np.ndarray:
    """The orthonormal real Fourier basis over Z_p, [p, p] float64, one basis function per row.

    Row 0 is the constant 1/√p; rows 2k − 1 and 2k (k = 1..K) are √(2/p)·cos(w_k x) and
    √(2/p)·sin(w_k x) for x = 0..p − 1. For odd p, Σ_x cos²(w_k x) = Σ_x sin²(w_k x) = p/2 and all
    cross sums vanish, so B Bᵀ = I (the basis of Nanda et al. 2023, §4)."""
    p = _check_p(p)
    x = np.arange(p, dtype=np.float64)
    rows = [np.full(p, 1.0 / np.sqrt(p))]
    scale = np.sqrt(2.0 / p)
    for k in range(1, (p - 1) // 2 + 1):
        w = 2.0 * np.pi * k / p
        rows.append(scale * np.cos(w * x))
        rows.append(scale * np.sin(w * x))
    return np.stack(rows)


def basis_labels(p: int) -> list[str]:
    """Names of the rows of ``fourier_basis(p)``: "const", "cos 1", "sin 1", ..., "sin K"."""
    labels = ["const"]
    for k in range(1, n_frequencies(p) + 1):
        labels += [f"cos {k}", f"sin {k}"]
    return labels


def _safe_ratio(num: np.ndarray, den) -> np.ndarray:
    """num / den with 0 where den is 0 (broadcasting)."""
    num = np.asarray(num, dtype=np.float64)
    den = np.broadcast_to(np.asarray(den, dtype=np.float64), num.shape)
    out = np.zeros_like(num)
    np.divide(num, den, out=out, where=den > 0)
    return out


# --------------------------------------------------------------------------------------------------
# Embedding spectrum and key frequencies
# --------------------------------------------------------------------------------------------------


def embedding_spectrum(w_e) -> dict:
    """Power of the embedding per frequency.

    ``w_e`` is [p, d], the embedding rows of the number tokens 0..p − 1. With C = B w_e ([p, d],
    B = ``fourier_basis(p)``), the power of frequency k is P_k = ‖C[cos k]‖² + ‖C[sin k]‖²
    (k = 1..K), the constant power is ‖C[const]‖², and since B is orthonormal
    Σ_k P_k + constant = ‖w_e‖²_F (Nanda et al. 2023, Fig. 3: the norms of the Fourier components
    of W_E).

    Returns {"power": [K], "share": [K] P_k / Σ_k P_k (zeros if that sum is 0),
    "constant_power": float, "total_power": float}."""
    w_e = np.asarray(w_e, dtype=np.float64)
    if w_e.ndim != 2:
        raise ValueError(f"w_e must be [p, d], got shape {w_e.shape}")
    p = w_e.shape[0]
    K = n_frequencies(p)
    coeff = fourier_basis(p) @ w_e
    row_power = np.sum(coeff**2, axis=1)
    power = row_power[1::2] + row_power[2::2]
    assert power.shape == (K,)
    non_constant = float(power.sum())
    constant = float(row_power[0])
    return {
        "power": power,
        "share": _safe_ratio(power, non_constant),
        "constant_power": constant,
        "total_power": non_constant + constant,
    }


def key_frequencies(share, kappa: float = 2.0) -> list[int]:
    """The frequencies k (1-based) whose share of the non-constant power is at least ``kappa``
    times the uniform share 1/K, sorted by decreasing share (ties by increasing k).

    Rationale: a random embedding spreads its power about evenly over the K frequencies (each share
    ≈ 1/K, fluctuating by a few per cent for d ≈ 128, by √(1/d) relative to 1/K), so no frequency
    reaches 2× uniform and it has no key frequency; a grokked embedding concentrates its power in a
    handful (Nanda et al. 2023 find 5 of 56 at p = 113, each at ~10× uniform). ``share`` may be the
    "share" of ``embedding_spectrum``, ``neuron_spectrum`` or ``logit_spectrum``."""
    share = np.asarray(share, dtype=np.float64)
    if share.ndim != 1 or share.size == 0:
        raise ValueError(f"share must be a non-empty 1-D array, got shape {share.shape}")
    if not kappa > 0:
        raise ValueError(f"kappa must be positive, got {kappa!r}")
    threshold = kappa / share.size
    order = np.argsort(-share, kind="stable")
    return [int(i) + 1 for i in order if share[i] >= threshold]


def frequencies_for_share(share, q: float) -> int:
    """The smallest m such that the m largest shares sum to at least q (0 ≤ q ≤ 1): how many
    frequencies are needed to explain a fraction q of the power. A tolerance of 1e-12 absorbs
    rounding (shares summing to 1 reach q = 1); if the shares never reach q (e.g. all zero), K."""
    share = np.asarray(share, dtype=np.float64)
    if share.ndim != 1:
        raise ValueError(f"share must be 1-D, got shape {share.shape}")
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"q must be in [0, 1], got {q!r}")
    if q == 0:
        return 0
    cumulative = np.cumsum(np.sort(share)[::-1])
    reached = np.nonzero(cumulative >= q - 1e-12)[0]
    return int(reached[0]) + 1 if reached.size else int(share.size)


# --------------------------------------------------------------------------------------------------
# Neuron spectrum
# --------------------------------------------------------------------------------------------------


def fourier_2d(grid) -> np.ndarray:
    """2-D Fourier coefficients over the two input axes of ``grid`` [p, p, ...]:
    C[i, j, ...] = Σ_{a, b} B[i, a] B[j, b] grid[a, b, ...] (C = B X Bᵀ per trailing index), the
    coefficient of basis_i(a)·basis_j(b)."""
    grid = np.asarray(grid, dtype=np.float64)
    if grid.ndim < 2 or grid.shape[0] != grid.shape[1]:
        raise ValueError(f"grid must be [p, p, ...], got shape {grid.shape}")
    basis = fourier_basis(grid.shape[0])
    return np.einsum("ia,jb,ab...->ij...", basis, basis, grid)


def neuron_spectrum(acts) -> dict:
    """Frequency content of neurons over the input grid.

    ``acts`` is [p, p, n]: neuron activations on every input (a, b). With the 2-D coefficients
    C = B acts Bᵀ ([p, p, n], see ``fourier_2d``), the power of frequency k in neuron n is
    P_k(n) = Σ C[i, j, n]² over i, j ∈ {const, cos k, sin k} except (const, const): the 8 terms
    that depend on a and b only through w_k (the neuron-frequency clusters of Nanda et al. 2023,
    §4.1/Fig. 5, where each neuron is well explained by a single frequency). The neuron's total
    non-constant power is Σ_{(i, j) ≠ (const, const)} C², its variance times p², so cross-frequency
    terms count in the denominator and Σ_k share ≤ 1.

    Returns {"power": [K, n], "share_per_neuron": [K, n], "dominant": [n] int (1-based, 0 for a
    dead neuron), "dominant_share": [n], "share": [K] = Σ_n P_k(n) / Σ_n total(n)}. A dead
    neuron (non-constant power ≤ 1e-20 of its total power, i.e. constant up to rounding) gets zero
    power, share 0 and dominant 0."""
    acts = np.asarray(acts, dtype=np.float64)
    if acts.ndim != 3 or acts.shape[0] != acts.shape[1]:
        raise ValueError(f"acts must be [p, p, n], got shape {acts.shape}")
    p = acts.shape[0]
    K = n_frequencies(p)
    sq = fourier_2d(acts) ** 2  # [p, p, n]
    constant = sq[0, 0].copy()
    sq[0, 0] = 0.0  # summed directly rather than subtracted, so no cancellation
    total = sq.sum(axis=(0, 1))
    power = np.stack([
        sq[np.ix_([0, cos_row(k), sin_row(k)], [0, cos_row(k), sin_row(k)])].sum(axis=(0, 1))
        for k in range(1, K + 1)
    ])  # [K, n]
    dead = total <= _DEAD_RTOL * (total + constant)
    total = np.where(dead, 0.0, total)
    power = np.where(dead[None, :], 0.0, power)
    share_per_neuron = _safe_ratio(power, total[None, :])
    dominant_idx = np.argmax(share_per_neuron, axis=0)
    dominant_share = share_per_neuron[dominant_idx, np.arange(acts.shape[2])]
    dominant = np.where(dead, 0, dominant_idx + 1).astype(np.int64)
    return {
        "power": power,
        "share_per_neuron": share_per_neuron,
        "dominant": dominant,
        "dominant_share": np.where(dead, 0.0, dominant_share),
        "share": _safe_ratio(power.sum(axis=1), total.sum()),
    }


# --------------------------------------------------------------------------------------------------
# Logit ablations and progress measures
# --------------------------------------------------------------------------------------------------


def _check_combination(combination: str) -> str:
    if combination not in COMBINATIONS:
        raise ValueError(f"combination must be one of {COMBINATIONS}, got {combination!r}")
    return combination


def _check_logits(logits, p: int | None = None) -> np.ndarray:
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim != 3 or logits.shape[0] != logits.shape[1]:
        raise ValueError(f"logits must be [p, p, V], got shape {logits.shape}")
    if p is not None and logits.shape[0] != p:
        raise ValueError(f"logits are over a {logits.shape[0]}×{logits.shape[0]} grid, not p = {p}")
    _check_p(logits.shape[0])
    return logits


def _check_key_freqs(key_freqs: Iterable[int], p: int) -> list[int]:
    """Key frequencies as a list of distinct ints in 1..K, first occurrence order."""
    K = n_frequencies(p)
    out: list[int] = []
    for k in key_freqs:
        if isinstance(k, bool) or int(k) != k or not 1 <= k <= K:
            raise ValueError(f"key frequency {k!r} outside 1..{K} for p = {p}")
        if int(k) not in out:
            out.append(int(k))
    return out


def sum_directions(k: int, p: int, combination: str) -> np.ndarray:
    """The two "sum directions" of frequency k as unit-norm [p, p] grids over (a, b), stacked
    [2, p, p]: cos(w_k(a ± b)) and sin(w_k(a ± b)) (+ for "add", − for "sub"), each divided by its
    norm over the p² grid (√(p²/2)). They are orthogonal to each other and to every other
    frequency's directions (Nanda et al. 2023, §5.1: the logits of the trained network are
    ≈ Σ_k α_k cos(w_k(a + b − c)), which lie in this span for every output c)."""
    p = _check_p(p)
    sign = 1.0 if _check_combination(combination) == "add" else -1.0
    if not 1 <= k <= n_frequencies(p):
        raise ValueError(f"frequency {k!r} outside 1..{n_frequencies(p)} for p = {p}")
    x = np.arange(p, dtype=np.float64)
    phase = 2.0 * np.pi * k / p * (x[:, None] + sign * x[None, :])
    dirs = np.stack([np.cos(phase), np.sin(phase)])
    return dirs / np.linalg.norm(dirs.reshape(2, -1), axis=1)[:, None, None]


def restricted_logits(logits, key_freqs: Sequence[int], p: int) -> np.ndarray:
    """Logits with every non-key frequency ablated, [p, p, V].

    For every output class c separately, the [p, p] grid of logits is projected onto the constant
    plus, for each key frequency k, the 2-D block {u(a) v(b) : u, v ∈ {cos k, sin k}} of
    orthonormal products of ``fourier_basis`` rows (4 terms per key frequency). These blocks span
    both sum directions cos/sin(w_k(a ± b)). This is the input to the restricted loss of Nanda et
    al. 2023, §5.1. With no key frequency the result is the per-class mean over (a, b)."""
    logits = _check_logits(logits, p)
    keys = _check_key_freqs(key_freqs, p)
    basis = fourier_basis(p)
    out = np.broadcast_to(logits.mean(axis=(0, 1)), logits.shape).copy()
    for k in keys:
        rows = basis[[cos_row(k), sin_row(k)]]  # [2, p]
        coeff = np.einsum("ia,jb,abc->ijc", rows, rows, logits)
        out += np.einsum("ia,jb,ijc->abc", rows, rows, coeff)
    return out


def excluded_logits(logits, key_freqs: Sequence[int], p: int, combination: str) -> np.ndarray:
    """Logits with the key frequencies' sum directions removed, [p, p, V].

    For every output class c, subtract the projection of the [p, p] grid of logits onto the two
    unit sum directions cos(w_k(a ± b)), sin(w_k(a ± b)) of each key frequency k (2 terms per key
    frequency; see ``sum_directions``). This is the input to the excluded loss of Nanda et al.
    2023, §5.1. With no key frequency the logits are returned unchanged (as a float64 copy)."""
    logits = _check_logits(logits, p)
    keys = _check_key_freqs(key_freqs, p)
    out = logits.copy()
    for k in keys:
        dirs = sum_directions(k, p, combination)  # [2, p, p]
        coeff = np.einsum("dab,abc->dc", dirs, logits)
        out -= np.einsum("dab,dc->abc", dirs, coeff)
    return out


def cross_entropy(logits_NV, labels_N) -> float:
    """Mean cross-entropy −(1/N) Σ_n log softmax(logits_n)[label_n] in float64, with the
    log-softmax computed stably as z − max z − log Σ exp(z − max z)."""
    z = np.asarray(logits_NV, dtype=np.float64)
    labels = np.asarray(labels_N)
    if z.ndim != 2 or labels.shape != (z.shape[0],):
        raise ValueError(f"need logits [N, V] and labels [N], got {z.shape} and {labels.shape}")
    if z.shape[0] == 0:
        raise ValueError("cross_entropy of zero rows")
    if (not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0
            or labels.max() >= z.shape[1]):
        raise ValueError(f"labels must be integers in [0, {z.shape[1]})")
    shifted = z - z.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(shifted).sum(axis=1))
    picked = shifted[np.arange(z.shape[0]), labels]
    return float(np.mean(log_norm - picked))


def _masked_ce(logits_ppV: np.ndarray, labels_pp: np.ndarray, mask_pp: np.ndarray) -> float:
    """Mean CE over the grid cells where mask is true; nan if there are none."""
    if not mask_pp.any():
        return float("nan")
    return cross_entropy(logits_ppV[mask_pp], labels_pp[mask_pp])


def progress_measures(logits, labels_pp, train_mask_pp, key_freqs: Sequence[int], p: int,
                      combination: str) -> dict:
    """The progress measures of Nanda et al. 2023, §5.1, on the full [p, p, V] grid of logits.

    * "restricted_loss": CE of ``restricted_logits`` (only the constant and the key frequencies'
      2-D blocks kept) over all p² inputs — falls once the circuit has formed;
    * "excluded_loss": CE of ``excluded_logits`` (the key frequencies' sum directions removed) over
      the training inputs only — rises as the network stops relying on memorisation;
    * "train_loss" / "val_loss": CE of the unablated logits on the training inputs
      (``train_mask_pp``) and the rest (nan for an empty set);
    * "key_freqs": the (deduplicated) key frequencies used.

    ``labels_pp`` [p, p] holds the answer class of every input (a, b)."""
    logits = _check_logits(logits, p)
    _check_combination(combination)
    labels = np.asarray(labels_pp)
    train = np.asarray(train_mask_pp, dtype=bool)
    if labels.shape != (p, p) or train.shape != (p, p):
        raise ValueError(f"labels and train mask must be [{p}, {p}], got {labels.shape} and "
                         f"{train.shape}")
    keys = _check_key_freqs(key_freqs, p)
    everywhere = np.ones((p, p), dtype=bool)
    return {
        "restricted_loss": _masked_ce(restricted_logits(logits, keys, p), labels, everywhere),
        "excluded_loss": _masked_ce(excluded_logits(logits, keys, p, combination), labels, train),
        "train_loss": _masked_ce(logits, labels, train),
        "val_loss": _masked_ce(logits, labels, ~train),
        "key_freqs": keys,
    }


def logit_spectrum(logits, p: int, combination: str) -> dict:
    """Power of the answer logits along each frequency's sum directions.

    Uses the answer classes c = 0..p − 1 (the value tokens; any further classes such as "=" are
    ignored). For frequency k, power_k = Σ_c (⟨L_c, cos_k⟩² + ⟨L_c, sin_k⟩²) with L_c the [p, p]
    grid of class c's logits and cos_k, sin_k the unit sum directions cos/sin(w_k(a ± b)) (see
    ``sum_directions``; Nanda et al. 2023, Fig. 7 / §5.1).

    Returns {"power": [K], "share": [K] power_k / Σ_k power_k, "variance_fraction": [K] power_k /
    Σ_c ‖L_c − mean L_c‖² (the fraction of the answer logits' variance over (a, b) along the
    frequency's sum directions)}; zeros where a denominator is 0."""
    logits = _check_logits(logits, p)
    if logits.shape[2] < p:
        raise ValueError(f"need at least p = {p} output classes, got {logits.shape[2]}")
    answer = logits[:, :, :p]
    K = n_frequencies(p)
    power = np.array([
        float(np.sum(np.einsum("dab,abc->dc", sum_directions(k, p, combination), answer) ** 2))
        for k in range(1, K + 1)
    ])
    variance = float(np.sum((answer - answer.mean(axis=(0, 1))) ** 2))
    return {
        "power": power,
        "share": _safe_ratio(power, power.sum()),
        "variance_fraction": _safe_ratio(power, variance),
    }
