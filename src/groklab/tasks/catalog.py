"""The built-in tasks: one registry entry each, in the order ``groklab tasks`` lists them.

Names and definitions follow docs/architecture.md §4; the builders live in ``modular``, ``s5`` and
``other``.
"""

from __future__ import annotations

from groklab.tasks import modular, other, s5
from groklab.tasks.registry import TaskSpec, register

POWER_2022 = ("Power, Burda, Edwards, Babuschkin, Misra 2022, 'Grokking: Generalization beyond "
              "overfitting on small algorithmic datasets', arXiv:2201.02177, App. A.1.1")
TVEIT_2025 = ("Tveit, Remseth, Skogvold 2025, 'Muon Optimizer Accelerates Grokking', "
              "arXiv:2504.16041")
BARAK_2022 = ("Barak, Edelman, Goel, Kakade, Malach, Zhang 2022, 'Hidden progress in deep "
              "learning: SGD learns parities near the computational limit', arXiv:2207.08799")
GROKLAB = "groklab extra task (no single source paper)"


def _square(p: int) -> int:
    return p * p


def _square_no_zero(p: int) -> int:
    return p * (p - 1)


def _s5_rows(p: int) -> int:
    return s5.N_ELEMENTS**2


def _bit_rows(p: int) -> int:
    return 2**other.N_BITS


def _modular(name, definition, build, aliases=(), needs_prime=False, rows=_square,
             reference=POWER_2022):
    register(TaskSpec(name=name, definition=definition, kind="modular", reference=reference,
                      rows=rows, build=build, aliases=tuple(aliases), needs_prime=needs_prime))


_modular("add", "(a + b) mod p", modular.build_add, aliases=("+", "x+y"))
_modular("sub", "(a - b) mod p", modular.build_sub, aliases=("-", "x-y"))
_modular("mul", "(a · b) mod p", modular.build_mul, aliases=("*", "x*y"))
_modular("div", "(a · b^(p-2)) mod p, b ≠ 0", modular.build_div, aliases=("/", "x/y"),
         needs_prime=True, rows=_square_no_zero)
_modular("div_odd_sub", "(a · b^(p-2)) mod p if b is odd, else (a - b) mod p; b ≠ 0",
         modular.build_div_odd_sub, needs_prime=True, rows=_square_no_zero)
_modular("x2_y2", "(a² + b²) mod p", modular.build_x2_y2, aliases=("x^2+y^2",))
_modular("x2_xy_y2", "(a² + a·b + b²) mod p", modular.build_x2_xy_y2,
         aliases=("x^2+xy+y^2",))
_modular("x2_xy_y2_x", "(a² + a·b + b² + a) mod p", modular.build_x2_xy_y2_x,
         aliases=("x^2+xy+y^2+x",))
_modular("x3_xy", "(a³ + a·b) mod p", modular.build_x3_xy, aliases=("x^3+xy",))
_modular("x3_xy2_y", "(a³ + a·b² + b) mod p", modular.build_x3_xy2_y,
         aliases=("x^3+xy^2+y",))

for _name, _definition, _build in (
    ("s5_compose", "a ∘ b in S5, (a ∘ b)(i) = a(b(i)); p is ignored", s5.build_compose),
    ("s5_conjugate", "a ∘ b ∘ a⁻¹ in S5; p is ignored", s5.build_conjugate),
    ("s5_xyx", "a ∘ b ∘ a in S5; p is ignored", s5.build_xyx),
):
    register(TaskSpec(name=_name, definition=_definition, kind="s5", reference=POWER_2022,
                      rows=_s5_rows, build=_build, uses_p=False))

_modular("pow", "a^b mod p, a, b in 0..p-1, 0^0 = 1", modular.build_pow, reference=TVEIT_2025)
_modular("gcd", "gcd(a, b), a, b in 0..p-1, gcd(0, 0) = 0", modular.build_gcd,
         reference=TVEIT_2025)
register(TaskSpec(name="parity10", definition="(sum of 10 bits) mod 2; p is ignored",
                  kind="bits", reference=TVEIT_2025, rows=_bit_rows, build=other.build_parity10,
                  uses_p=False))
register(TaskSpec(name="matmul2",
                  definition="A · B mod p for 2×2 matrices over Z_p, "
                             "token = m00·p³ + m01·p² + m10·p + m11",
                  kind="matrix", reference=GROKLAB, rows=lambda p: p**8,
                  build=other.build_matmul2))
register(TaskSpec(name="add3", definition="(a + b + c) mod p, input [a, op, b, op, c, =]",
                  kind="sequence", reference=GROKLAB, rows=lambda p: p**3,
                  build=other.build_add3))
register(TaskSpec(name="sparse_parity",
                  definition="parity of bits 0, 3, 7 of a 10-bit string: (x0 + x3 + x7) mod 2 "
                             "(k = 3, x0 = first token); p is ignored",
                  kind="bits", reference=BARAK_2022, rows=_bit_rows,
                  build=other.build_sparse_parity, uses_p=False))
