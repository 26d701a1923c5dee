"""Fourier analysis (Nanda et al. 2023, arXiv:2301.05217): the basis, embedding / neuron / logit
spectra, key frequencies and the restricted / excluded-loss progress measures, each checked on
synthetic inputs whose answer is known by construction."""

from __future__ import annotations

import numpy as np
import pytest

from groklab.analysis.fourier import (
    basis_labels,
    cross_entropy,
    embedding_spectrum,
    excluded_logits,
    fourier_basis,
    frequencies_for_share,
    key_frequencies,
    logit_spectrum,
    neuron_spectrum,
    progress_measures,
    restricted_logits,
)


def grid(p):
    """a (slow) and b (fast) as [p, 1] and [1, p] float arrays."""
    x = np.arange(p, dtype=np.float64)
    return x[:, None], x[None, :]


def circuit_logits(p, freqs, amps, combination, extra=0):
    """Σ_k A_k cos(w_k(a ± b − c)) for c = 0..p−1, then ``extra`` constant columns:
    [p, p, p + extra]."""
    a, b = grid(p)
    ab = a + b if combination == "add" else a - b
    c = np.arange(p, dtype=np.float64)
    out = np.zeros((p, p, p + extra))
    for k, amp in zip(freqs, amps, strict=True):
        out[:, :, :p] += amp * np.cos(2 * np.pi * k / p * (ab[:, :, None] - c))
    out[:, :, p:] = np.arange(1, extra + 1) * 0.7
    return out


def answers(p, combination):
    a, b = np.meshgrid(np.arange(p), np.arange(p), indexing="ij")
    return (a + b) % p if combination == "add" else (a - b) % p


# --------------------------------------------------------------------------------------------------
# Basis
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("p", [7, 11, 13])
def test_basis_orthonormal_and_matches_cos_sin(p):
    B = fourier_basis(p)
    assert B.shape == (p, p)
    np.testing.assert_allclose(B @ B.T, np.eye(p), atol=1e-12)
    labels = basis_labels(p)
    assert len(labels) == p and labels[:3] == ["const", "cos 1", "sin 1"]
    assert labels[-1] == f"sin {(p - 1) // 2}"
    x = np.arange(p)
    np.testing.assert_allclose(B[0], np.ones(p) / np.sqrt(p), atol=1e-12)
    for i, name in enumerate(labels[1:], start=1):
        fn, k = name.split()
        expected = (np.cos if fn == "cos" else np.sin)(2 * np.pi * int(k) * x / p)
        np.testing.assert_allclose(B[i], expected * np.sqrt(2 / p), atol=1e-12)


def test_basis_rejects_even_p():
    with pytest.raises(ValueError):
        fourier_basis(8)


# --------------------------------------------------------------------------------------------------
# Embedding spectrum and key frequencies
# --------------------------------------------------------------------------------------------------


def synthetic_embedding(p, d, freqs, amps, rng):
    """Σ_k A_k (cos(w_k x) u_k + sin(w_k x) v_k) + a constant row, with random unit u_k, v_k: the
    power of frequency k is exactly A_k²·p, so its share is A_k² / Σ A²."""
    x = np.arange(p, dtype=np.float64)[:, None]
    w_e = np.zeros((p, d)) + rng.normal(size=(1, d))  # constant row offset
    for k, amp in zip(freqs, amps, strict=True):
        u, v = rng.normal(size=(2, d))
        u, v = u / np.linalg.norm(u), v / np.linalg.norm(v)
        w_e += amp * (np.cos(2 * np.pi * k * x / p) * u + np.sin(2 * np.pi * k * x / p) * v)
    return w_e


def test_embedding_key_frequencies_of_synthetic_embedding():
    p, d = 23, 16
    rng = np.random.default_rng(0)
    amps = np.array([1.0, 0.8, 0.7])  # shares 0.47, 0.30, 0.23, all ≥ 2/K = 0.18
    w_e = synthetic_embedding(p, d, [3, 7, 10], amps, rng)
    spec = embedding_spectrum(w_e)
    K = (p - 1) // 2
    np.testing.assert_allclose(spec["share"][[2, 6, 9]], amps**2 / np.sum(amps**2), rtol=1e-9)
    assert spec["power"].shape == spec["share"].shape == (K,)
    np.testing.assert_allclose(spec["share"].sum(), 1.0, atol=1e-12)
    np.testing.assert_allclose(spec["total_power"], np.sum(w_e**2), rtol=1e-12)
    np.testing.assert_allclose(spec["constant_power"], np.sum(w_e.mean(0) ** 2) * p, rtol=1e-12)
    assert sorted(key_frequencies(spec["share"])) == [3, 7, 10]
    assert key_frequencies(spec["share"])[0] == 3  # the largest amplitude comes first
    others = np.delete(spec["share"], [2, 6, 9])
    assert np.all(others < 1e-20)
    # Independent check of the per-frequency power: the DFT of each column at frequency k has
    # |F_k|² = (p/2)·P_k for a real signal (Parseval restricted to ±k).
    F = np.fft.fft(w_e, axis=0)
    dft_power = 2 * np.sum(np.abs(F[1:K + 1]) ** 2, axis=1) / p
    np.testing.assert_allclose(spec["power"], dft_power, rtol=1e-9, atol=1e-12)
    assert frequencies_for_share(spec["share"], 1.0) == 3
    assert frequencies_for_share(spec["share"], 0.0) == 0
    top = spec["share"][2]
    assert frequencies_for_share(spec["share"], top * 0.99) == 1
    assert frequencies_for_share(spec["share"], top * 1.01) >= 2

    noisy = w_e + rng.normal(scale=0.01, size=w_e.shape)
    assert key_frequencies(embedding_spectrum(noisy)["share"]) == [3, 7, 10]

    # Amplitudes 1.0, 0.6, 0.4 give shares 0.66, 0.24, 0.105: the weakest is below 2× uniform
    # (2/11) but above uniform, so kappa decides whether it counts.
    steep = embedding_spectrum(synthetic_embedding(p, d, [3, 7, 10], [1.0, 0.6, 0.4], rng))
    assert key_frequencies(steep["share"]) == [3, 7]
    assert key_frequencies(steep["share"], kappa=1.0) == [3, 7, 10]


def test_random_embedding_has_no_key_frequency():
    rng = np.random.default_rng(1234)
    spec = embedding_spectrum(rng.normal(size=(97, 128)))
    assert key_frequencies(spec["share"]) == []
    assert key_frequencies(spec["share"], kappa=0.5) != []  # below uniform, everything passes
    assert frequencies_for_share(spec["share"], 0.5) > 15  # no concentration


def test_frequencies_for_share_counts_largest_first():
    share = np.array([0.1, 0.5, 0.05, 0.35])
    assert frequencies_for_share(share, 0.5) == 1
    assert frequencies_for_share(share, 0.8) == 2
    assert frequencies_for_share(share, 0.9) == 3
    assert frequencies_for_share(share, 1.0) == 4
    assert key_frequencies(share, kappa=1.0) == [2, 4]


# --------------------------------------------------------------------------------------------------
# Neuron spectrum
# --------------------------------------------------------------------------------------------------


def test_neuron_spectrum_dominant_frequency_and_dead_neuron():
    p = 17
    a, b = grid(p)
    rng = np.random.default_rng(3)
    chosen = [1, 4, 8, 4, 6]
    acts = np.stack(
        [np.cos(2 * np.pi * k / p * (a + b) + rng.uniform(0, 2 * np.pi)) * rng.uniform(0.5, 2)
         + rng.normal() for k in chosen]
        + [np.full((p, p), 2.5), np.zeros((p, p))],
        axis=-1,
    )
    spec = neuron_spectrum(acts)
    K, n = (p - 1) // 2, acts.shape[-1]
    assert spec["power"].shape == spec["share_per_neuron"].shape == (K, n)
    assert all(np.all(np.isfinite(v)) for v in spec.values())
    np.testing.assert_array_equal(spec["dominant"], chosen + [0, 0])
    np.testing.assert_allclose(spec["dominant_share"][:5], 1.0, atol=1e-10)
    assert np.all(spec["dominant_share"][5:] == 0) and np.all(spec["power"][:, 5:] == 0)
    # Power of a live neuron = its variance·p², all at the chosen frequency.
    np.testing.assert_allclose(spec["power"][3, 1], acts[:, :, 1].var() * p * p, rtol=1e-10)
    # Aggregate: neurons 1 and 3 both at k = 4.
    var = acts[:, :, :5].var(axis=(0, 1)) * p * p
    np.testing.assert_allclose(spec["share"][3], (var[1] + var[3]) / var.sum(), rtol=1e-10)
    np.testing.assert_allclose(spec["share"].sum(), 1.0, atol=1e-10)


def test_neuron_spectrum_counts_single_input_and_cross_terms():
    p = 11
    a, b = grid(p)
    w = 2 * np.pi / p
    # A neuron reading only a (freq 2) plus a cross-frequency product cos(2a)·cos(3b) of equal
    # power: half its variance is at k = 2, the cross term belongs to no frequency.
    only_a = np.cos(2 * w * a) * np.ones((1, p))
    cross = np.cos(2 * w * a) * np.cos(3 * w * b)
    acts = np.stack([only_a, only_a + cross * np.sqrt(2)], axis=-1)
    spec = neuron_spectrum(acts)
    np.testing.assert_array_equal(spec["dominant"], [2, 2])
    np.testing.assert_allclose(spec["dominant_share"], [1.0, 0.5], atol=1e-10)
    np.testing.assert_allclose(spec["share_per_neuron"][:, 1].sum(), 0.5, atol=1e-10)


# --------------------------------------------------------------------------------------------------
# Restricted and excluded logits
# --------------------------------------------------------------------------------------------------


def test_restricted_and_excluded_logits_add():
    p, keys = 13, [2, 5]
    logits = circuit_logits(p, keys, [3.0, 1.5], "add", extra=2)
    assert logits.shape == (p, p, p + 2)
    np.testing.assert_allclose(restricted_logits(logits, keys, p), logits, atol=1e-9)
    excl = excluded_logits(logits, keys, p, "add")
    # Nothing but a per-class constant remains (here 0 for answers, the constants for extras).
    np.testing.assert_allclose(excl, np.broadcast_to(logits.mean(axis=(0, 1)), logits.shape),
                               atol=1e-9)
    np.testing.assert_allclose(excl[:, :, :p], 0.0, atol=1e-9)
    # Removing only one key frequency leaves the other intact.
    only5 = circuit_logits(p, [5], [1.5], "add", extra=2)
    np.testing.assert_allclose(excluded_logits(logits, [2], p, "add"), only5, atol=1e-9)
    # No key frequency: excluded is the identity, restricted is the per-class mean.
    np.testing.assert_array_equal(excluded_logits(logits, [], p, "add"), logits)
    np.testing.assert_allclose(restricted_logits(logits, [], p),
                               np.broadcast_to(logits.mean(axis=(0, 1)), logits.shape), atol=1e-12)


def test_restricted_removes_non_key_frequency_exactly():
    p = 13
    a, b = grid(p)
    circuit = circuit_logits(p, [2, 5], [3.0, 1.5], "add", extra=2)
    rng = np.random.default_rng(7)
    # A non-key frequency 4 in every form: a-only, b-only, product and sum direction.
    w = 2 * np.pi * 4 / p
    junk = (np.cos(w * a) + 0.5 * np.sin(w * b) + np.sin(w * a) * np.cos(w * b)
            + np.cos(w * (a + b)))[:, :, None] * rng.normal(size=p + 2)
    np.testing.assert_allclose(restricted_logits(circuit + junk, [2, 5], p), circuit, atol=1e-9)
    # Single-input terms of key frequencies are ablated too (only the 2-D block + const is kept).
    w2 = 2 * np.pi * 2 / p
    one_sided = np.broadcast_to((np.cos(w2 * a) * np.ones((1, p)))[:, :, None], circuit.shape)
    np.testing.assert_allclose(restricted_logits(circuit + one_sided, [2, 5], p), circuit,
                               atol=1e-9)
    # Cross-frequency products between two key frequencies are not in any block either.
    cross = np.cos(w2 * a) * np.sin(2 * np.pi * 5 / p * b)
    np.testing.assert_allclose(restricted_logits(circuit + cross[:, :, None], [2, 5], p), circuit,
                               atol=1e-9)


def test_restricted_and_excluded_logits_sub():
    p, keys = 11, [3]
    logits = circuit_logits(p, keys, [2.0], "sub", extra=1)
    np.testing.assert_allclose(restricted_logits(logits, keys, p), logits, atol=1e-9)
    np.testing.assert_allclose(excluded_logits(logits, keys, p, "sub")[:, :, :p], 0.0, atol=1e-9)
    # The "add" directions are orthogonal to the a − b circuit: nothing removed.
    np.testing.assert_allclose(excluded_logits(logits, keys, p, "add"), logits, atol=1e-9)
    spec = logit_spectrum(logits, p, "sub")
    assert key_frequencies(spec["share"]) == [3]
    np.testing.assert_allclose(spec["variance_fraction"][2], 1.0, atol=1e-10)
    assert logit_spectrum(logits, p, "add")["power"].max() < 1e-18


def test_logit_spectrum_add():
    p = 13
    logits = circuit_logits(p, [2, 5], [3.0, 1.0], "add", extra=2)
    spec = logit_spectrum(logits, p, "add")
    assert spec["power"].shape == (6,)
    # Power of A cos(w(a+b−c)) over c and the p² grid is A²·p³/2; shares 9 : 1.
    np.testing.assert_allclose(spec["power"][[1, 4]], np.array([9.0, 1.0]) * p**3 / 2, rtol=1e-10)
    np.testing.assert_allclose(spec["share"][[1, 4]], [0.9, 0.1], atol=1e-10)
    assert key_frequencies(spec["share"]) == [2]


# --------------------------------------------------------------------------------------------------
# Cross-entropy and progress measures
# --------------------------------------------------------------------------------------------------


def test_cross_entropy_matches_hand_computation_and_is_stable():
    z = np.array([[0.0, np.log(3.0)], [1000.0, 0.0]])
    # Row 0: p(label 1) = 3/4; row 1: label 1 has log p = −1000 − log(1 + e^−1000) ≈ −1000.
    expected = (-np.log(0.75) + 1000.0) / 2
    np.testing.assert_allclose(cross_entropy(z, np.array([1, 1])), expected, rtol=1e-12)
    np.testing.assert_allclose(cross_entropy(np.zeros((4, 5)), np.arange(4)), np.log(5), rtol=1e-12)


def test_progress_measures_masks_and_tiny_hand_example():
    p = 3
    logits = np.zeros((p, p, p))
    logits[0, 0, 0] = np.log(2.0)  # p(label 0) = 2/4 at (0, 0)
    logits[1, 2, 1] = np.log(5.0)  # p(label 0) = 1/7 at (1, 2)
    labels = np.zeros((p, p), dtype=int)
    train = np.zeros((p, p), dtype=bool)
    train[0, 0] = train[1, 2] = True
    out = progress_measures(logits, labels, train, [], p, "add")
    np.testing.assert_allclose(out["train_loss"], (np.log(2.0) + np.log(7.0)) / 2, rtol=1e-12)
    np.testing.assert_allclose(out["val_loss"], np.log(3.0), rtol=1e-12)
    # No key frequency: excluded = original (train rows), restricted = per-class mean everywhere.
    np.testing.assert_allclose(out["excluded_loss"], out["train_loss"], rtol=1e-12)
    mean = logits.mean(axis=(0, 1))
    np.testing.assert_allclose(out["restricted_loss"], np.log(np.exp(mean).sum()) - mean[0],
                               rtol=1e-12)
    assert out["key_freqs"] == []


def test_progress_measures_on_perfect_circuit():
    p, keys = 13, [2, 5, 6]
    logits = circuit_logits(p, keys, [20.0, 15.0, 10.0], "add", extra=2)
    logits[:, :, p:] = -50.0  # non-answer tokens never win
    labels = answers(p, "add")
    rng = np.random.default_rng(0)
    train = rng.random((p, p)) < 0.3
    out = progress_measures(logits, labels, train, keys, p, "add")
    assert out["restricted_loss"] < 0.1
    assert out["train_loss"] < 0.1 and out["val_loss"] < 0.1
    assert out["excluded_loss"] > np.log(p) - 1e-6  # uniform over the answers at best
    assert out["excluded_loss"] > 10 * out["restricted_loss"]
    assert out["key_freqs"] == keys
    # Removing a non-key frequency from the set makes the restricted loss worse.
    partial = progress_measures(logits, labels, train, [2], p, "add")
    assert partial["restricted_loss"] > out["restricted_loss"]


def test_invalid_arguments_raise():
    p = 7
    logits = np.zeros((p, p, p))
    with pytest.raises(ValueError):
        restricted_logits(logits, [4], p)  # K = 3
    with pytest.raises(ValueError):
        excluded_logits(logits, [1], p, "mul")
    with pytest.raises(ValueError):
        cross_entropy(np.zeros((2, 3)), np.array([0, 3]))
