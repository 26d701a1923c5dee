"""Binary operations on Z_p = {0, ..., p-1}: the modular tasks of Power et al. 2022 and Tveit et al.

Every builder takes ``p`` and returns a ``RawTable`` whose rows run over ``a`` (slow) then ``b``
(fast), exactly the order of ``for a in A: for b in B:``. Arithmetic is int64 with a reduction
mod p after every product, so nothing overflows for any p the registry admits (p ≤ 1414, so every
intermediate stays below p² < 2^21).

Sources:
  Power, Burda, Edwards, Babuschkin, Misra 2022, "Grokking: Generalization beyond overfitting on
  small algorithmic datasets", arXiv:2201.02177, Appendix A.1.1 (add ... x3_xy2_y).
  Tveit, Remseth, Skogvold 2025, "Muon Optimizer Accelerates Grokking", arXiv:2504.16041
  (pow, gcd).
"""

from __future__ import annotations

import numpy as np

from groklab.tasks.table import RawTable


def is_prime(n: int) -> bool:
    """True when ``n`` is a prime number (trial division; n is at most a few thousand here)."""
    if n < 2:
        return False
    if n % 2 == 0:
        return n == 2
    d = 3
    while d * d <= n:
        if n % d == 0:
            return False
        d += 2
    return True


def mod_pow(base: np.ndarray, exp: np.ndarray | int, p: int) -> np.ndarray:
    """Element-wise ``base^exp mod p`` by binary exponentiation, with ``x^0 = 1`` (also 0^0).

    Matches Python's ``pow(base, exp, p)`` for non-negative ``exp`` and ``p ≥ 2``.
    """
    base = np.asarray(base, dtype=np.int64) % p
    exp = np.broadcast_to(np.asarray(exp, dtype=np.int64), base.shape).copy()
    result = np.ones_like(base)
    while np.any(exp > 0):
        odd = (exp & 1).astype(bool)
        result = np.where(odd, result * base % p, result)
        base = base * base % p
        exp >>= 1
    return result


def _grid(p: int, b_from: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Flattened operand columns for ``a in 0..p-1`` (slow) and ``b in b_from..p-1`` (fast)."""
    a, b = np.meshgrid(np.arange(p, dtype=np.int64), np.arange(b_from, p, dtype=np.int64),
                       indexing="ij")
    return a.ravel(), b.ravel()


def _table(p: int, a: np.ndarray, b: np.ndarray, labels: np.ndarray) -> RawTable:
    return RawTable(operands=(a, b), labels=labels, value_names=tuple(str(v) for v in range(p)))


def inverse(b: np.ndarray, p: int) -> np.ndarray:
    """Multiplicative inverse ``b^(p-2) mod p`` (Fermat's little theorem; needs prime p, b ≠ 0)."""
    return mod_pow(b, p - 2, p)


def build_add(p: int) -> RawTable:
    """(a + b) mod p for a, b in 0..p-1."""
    a, b = _grid(p)
    return _table(p, a, b, (a + b) % p)


def build_sub(p: int) -> RawTable:
    """(a - b) mod p for a, b in 0..p-1."""
    a, b = _grid(p)
    return _table(p, a, b, (a - b) % p)


def build_mul(p: int) -> RawTable:
    """(a · b) mod p for a, b in 0..p-1."""
    a, b = _grid(p)
    return _table(p, a, b, a * b % p)


def build_div(p: int) -> RawTable:
    """(a · b^(p-2)) mod p for a in 0..p-1, b in 1..p-1; p prime, so c·b ≡ a (mod p)."""
    a, b = _grid(p, b_from=1)
    return _table(p, a, b, a * inverse(b, p) % p)


def build_div_odd_sub(p: int) -> RawTable:
    """(a · b^(p-2)) mod p if b is odd, else (a - b) mod p; a in 0..p-1, b in 1..p-1, p prime."""
    # Power et al. draw y from 1..p-1 for every row, including the even (subtraction) ones.
    a, b = _grid(p, b_from=1)
    labels = np.where(b % 2 == 1, a * inverse(b, p) % p, (a - b) % p)
    return _table(p, a, b, labels)


def build_x2_y2(p: int) -> RawTable:
    """(a² + b²) mod p for a, b in 0..p-1."""
    a, b = _grid(p)
    return _table(p, a, b, (a * a % p + b * b % p) % p)


def build_x2_xy_y2(p: int) -> RawTable:
    """(a² + a·b + b²) mod p for a, b in 0..p-1."""
    a, b = _grid(p)
    return _table(p, a, b, (a * a % p + a * b % p + b * b % p) % p)


def build_x2_xy_y2_x(p: int) -> RawTable:
    """(a² + a·b + b² + a) mod p for a, b in 0..p-1."""
    a, b = _grid(p)
    return _table(p, a, b, (a * a % p + a * b % p + b * b % p + a) % p)


def build_x3_xy(p: int) -> RawTable:
    """(a³ + a·b) mod p for a, b in 0..p-1."""
    a, b = _grid(p)
    return _table(p, a, b, (a * a % p * a % p + a * b % p) % p)


def build_x3_xy2_y(p: int) -> RawTable:
    """(a³ + a·b² + b) mod p for a, b in 0..p-1."""
    a, b = _grid(p)
    return _table(p, a, b, (a * a % p * a % p + a * (b * b % p) % p + b) % p)


def build_pow(p: int) -> RawTable:
    """a^b mod p for a, b in 0..p-1, with 0^0 = 1 (as Python's ``pow``); any p ≥ 2."""
    a, b = _grid(p)
    return _table(p, a, b, mod_pow(a, b, p))


def build_gcd(p: int) -> RawTable:
    """gcd(a, b) for a, b in 0..p-1, with gcd(0, 0) = 0; labels lie in 0..p-1."""
    a, b = _grid(p)
    return _table(p, a, b, np.gcd(a, b))
