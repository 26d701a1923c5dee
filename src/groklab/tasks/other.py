"""Tasks that are not a binary operation on Z_p: bit parities, 2×2 matrix products, 3-term sums.

* ``parity10`` — Tveit, Remseth, Skogvold 2025, "Muon Optimizer Accelerates Grokking",
  arXiv:2504.16041: row i is the 10 binary digits of i (most significant first), label = their
  sum mod 2.
* ``sparse_parity`` — Barak, Edelman, Goel, Kakade, Malach, Zhang 2022, "Hidden progress in deep
  learning: SGD learns parities near the computational limit", arXiv:2207.08799: the same 1,024
  bit strings, label = parity of the k = 3 fixed positions ``SPARSE_PARITY_BITS``.
* ``matmul2`` — A · B mod q for 2×2 matrices over Z_q (q = p): a non-commutative task whose values
  are matrices rather than numbers. Each matrix is one token with index
  m00·q³ + m01·q² + m10·q + m11.
* ``add3`` — (a + b + c) mod p: a sequence task with three operands.
"""

from __future__ import annotations

import numpy as np

from groklab.tasks.table import RawTable

N_BITS = 10
# Positions in the token row (position 0 = most significant bit) whose parity is the label.
SPARSE_PARITY_BITS: tuple[int, ...] = (0, 3, 7)


def _bit_strings() -> np.ndarray:
    """[1024, 10]: row i holds the binary digits of i, most significant first."""
    i = np.arange(2**N_BITS, dtype=np.int64)[:, None]
    shifts = np.arange(N_BITS - 1, -1, -1, dtype=np.int64)[None, :]
    return (i >> shifts) & 1


def _bits_table(bits: np.ndarray, labels: np.ndarray) -> RawTable:
    return RawTable(operands=tuple(bits.T), labels=labels, value_names=("0", "1"), infix=False)


def build_parity10(p: int) -> RawTable:
    """Parity (sum mod 2) of all 10 bits, over all 1,024 bit strings; ``p`` is ignored."""
    bits = _bit_strings()
    return _bits_table(bits, bits.sum(axis=1) % 2)


def build_sparse_parity(p: int) -> RawTable:
    """Parity of the bits at ``SPARSE_PARITY_BITS`` over all 1,024 10-bit strings; ``p`` ignored."""
    bits = _bit_strings()
    return _bits_table(bits, bits[:, list(SPARSE_PARITY_BITS)].sum(axis=1) % 2)


def matrix_entries(index: np.ndarray, q: int) -> tuple[np.ndarray, ...]:
    """(m00, m01, m10, m11) of the matrices with token ids ``index`` (row-major base-q digits)."""
    index = np.asarray(index, dtype=np.int64)
    return tuple(index // q**k % q for k in (3, 2, 1, 0))


def matrix_index(m00, m01, m10, m11, q: int) -> np.ndarray:
    """Token index m00·q³ + m01·q² + m10·q + m11 of a 2×2 matrix over Z_q."""
    return ((m00 * q + m01) * q + m10) * q + m11


def _matrix_name(index: int, q: int) -> str:
    m00, m01, m10, m11 = (int(v) for v in matrix_entries(np.int64(index), q))
    return f"[[{m00},{m01}],[{m10},{m11}]]"


def build_matmul2(p: int) -> RawTable:
    """A · B mod q (q = p) for all pairs of 2×2 matrices over Z_q: q⁸ rows, q⁴ value tokens."""
    q = p
    n = q**4
    ai, bi = np.meshgrid(np.arange(n, dtype=np.int64), np.arange(n, dtype=np.int64),
                         indexing="ij")
    ai, bi = ai.ravel(), bi.ravel()
    a00, a01, a10, a11 = matrix_entries(ai, q)
    b00, b01, b10, b11 = matrix_entries(bi, q)
    labels = matrix_index(
        (a00 * b00 + a01 * b10) % q,
        (a00 * b01 + a01 * b11) % q,
        (a10 * b00 + a11 * b10) % q,
        (a10 * b01 + a11 * b11) % q,
        q,
    )
    names = tuple(_matrix_name(k, q) for k in range(n))
    return RawTable(operands=(ai, bi), labels=labels, value_names=names)


def build_add3(p: int) -> RawTable:
    """(a + b + c) mod p for a, b, c in 0..p-1 (a slowest, c fastest): p³ rows."""
    r = np.arange(p, dtype=np.int64)
    a, b, c = (g.ravel() for g in np.meshgrid(r, r, r, indexing="ij"))
    return RawTable(operands=(a, b, c), labels=(a + b + c) % p,
                    value_names=tuple(str(v) for v in range(p)))
