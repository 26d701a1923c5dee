"""Group operations in the symmetric group S5 (Power et al. 2022, arXiv:2201.02177, App. A.1.1).

Elements are the 120 permutations of {0, 1, 2, 3, 4}, indexed 0..119 in the lexicographic order of
``itertools.permutations(range(5))``. A permutation x is the tuple (x(0), ..., x(4)) and its token
is named by that one-line notation, e.g. ``"01234"`` for the identity. Composition is
``(x ∘ y)(i) = x(y(i))``. Rows run over x (slow) then y (fast). The modulus p plays no role.
"""

from __future__ import annotations

import itertools

import numpy as np

from groklab.tasks.table import RawTable

N_ELEMENTS = 120

# [120, 5]: row k is permutation k in lexicographic order.
PERMUTATIONS = np.array(list(itertools.permutations(range(5))), dtype=np.int64)
PERMUTATIONS.flags.writeable = False

# A permutation read as a base-5 number is unique, so a 5^5 lookup table maps it back to its index.
_POWERS_OF_5 = 5 ** np.arange(4, -1, -1, dtype=np.int64)
_INDEX_OF_CODE = np.full(5**5, -1, dtype=np.int64)
_INDEX_OF_CODE[PERMUTATIONS @ _POWERS_OF_5] = np.arange(N_ELEMENTS)

ELEMENT_NAMES: tuple[str, ...] = tuple("".join(map(str, perm)) for perm in PERMUTATIONS)


def compose(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Row-wise ``x ∘ y`` for permutation arrays of shape [N, 5]: ``out[n, i] = x[n, y[n, i]]``."""
    return np.take_along_axis(x, y, axis=1)


def invert(x: np.ndarray) -> np.ndarray:
    """Row-wise inverse permutation: ``out[n, x[n, i]] = i``."""
    return np.argsort(x, axis=1)


def index_of(perms: np.ndarray) -> np.ndarray:
    """Indices (0..119) of the permutations in the rows of ``perms`` [N, 5]."""
    return _INDEX_OF_CODE[perms @ _POWERS_OF_5]


def _pairs() -> tuple[np.ndarray, np.ndarray]:
    xi, yi = np.meshgrid(np.arange(N_ELEMENTS), np.arange(N_ELEMENTS), indexing="ij")
    return xi.ravel(), yi.ravel()


def _table(xi: np.ndarray, yi: np.ndarray, result: np.ndarray) -> RawTable:
    return RawTable(operands=(xi, yi), labels=index_of(result), value_names=ELEMENT_NAMES)


def build_compose(p: int) -> RawTable:
    """x ∘ y for all x, y in S5 (14,400 rows); ``p`` is ignored."""
    xi, yi = _pairs()
    x, y = PERMUTATIONS[xi], PERMUTATIONS[yi]
    return _table(xi, yi, compose(x, y))


def build_conjugate(p: int) -> RawTable:
    """x ∘ y ∘ x⁻¹ for all x, y in S5 (14,400 rows); ``p`` is ignored."""
    xi, yi = _pairs()
    x, y = PERMUTATIONS[xi], PERMUTATIONS[yi]
    return _table(xi, yi, compose(compose(x, y), invert(x)))


def build_xyx(p: int) -> RawTable:
    """x ∘ y ∘ x for all x, y in S5 (14,400 rows); ``p`` is ignored."""
    xi, yi = _pairs()
    x, y = PERMUTATIONS[xi], PERMUTATIONS[yi]
    return _table(xi, yi, compose(compose(x, y), x))
