"""Tests for groklab.tasks: every table against an independent pure-Python loop, splits, export."""

from __future__ import annotations

import csv
import itertools
import math
import os

import numpy as np
import pytest

from groklab.errors import ConfigError
from groklab.tasks import (
    LAYOUTS,
    MAX_ROWS,
    describe_tasks,
    export_csv,
    get_spec,
    list_tasks,
    make_split,
    make_task,
    noisy_labels,
    resolve_name,
    split_indices,
)

CANONICAL = [
    "add", "sub", "mul", "div", "div_odd_sub", "x2_y2", "x2_xy_y2", "x2_xy_y2_x", "x3_xy",
    "x3_xy2_y", "s5_compose", "s5_conjugate", "s5_xyx", "pow", "gcd", "parity10",
    "matmul2", "add3", "sparse_parity",
]

# ---------------------------------------------------------------------------------------------
# Reference implementations: plain loops, written independently of the vectorised builders.
# Each returns a list of (operands, label) in the documented row order.


def _inv(b, p):
    return pow(b, p - 2, p)


MODULAR_REFS = {
    "add": lambda a, b, p: (a + b) % p,
    "sub": lambda a, b, p: (a - b) % p,
    "mul": lambda a, b, p: (a * b) % p,
    "div": lambda a, b, p: (a * _inv(b, p)) % p,
    "div_odd_sub": lambda a, b, p: (a * _inv(b, p)) % p if b % 2 == 1 else (a - b) % p,
    "x2_y2": lambda a, b, p: (a**2 + b**2) % p,
    "x2_xy_y2": lambda a, b, p: (a**2 + a * b + b**2) % p,
    "x2_xy_y2_x": lambda a, b, p: (a**2 + a * b + b**2 + a) % p,
    "x3_xy": lambda a, b, p: (a**3 + a * b) % p,
    "x3_xy2_y": lambda a, b, p: (a**3 + a * b**2 + b) % p,
    "pow": lambda a, b, p: pow(a, b, p),
    "gcd": lambda a, b, p: math.gcd(a, b),
}
DIVIDING = {"div", "div_odd_sub"}


def ref_modular(name, p):
    b_start = 1 if name in DIVIDING else 0
    f = MODULAR_REFS[name]
    return [((a, b), f(a, b, p)) for a in range(p) for b in range(b_start, p)]


PERMS = list(itertools.permutations(range(5)))


def _compose(x, y):
    return tuple(x[y[i]] for i in range(5))


def _inverse(x):
    inv = [0] * 5
    for i in range(5):
        inv[x[i]] = i
    return tuple(inv)


S5_REFS = {
    "s5_compose": lambda x, y: _compose(x, y),
    "s5_conjugate": lambda x, y: _compose(_compose(x, y), _inverse(x)),
    "s5_xyx": lambda x, y: _compose(_compose(x, y), x),
}


def ref_s5(name):
    f = S5_REFS[name]
    return [((i, j), PERMS.index(f(x, y))) for i, x in enumerate(PERMS)
            for j, y in enumerate(PERMS)]


def _bits(i):
    return tuple(int(c) for c in format(i, "010b"))


def ref_parity10():
    return [(_bits(i), sum(_bits(i)) % 2) for i in range(1024)]


def ref_sparse_parity():
    return [(_bits(i), (_bits(i)[0] + _bits(i)[3] + _bits(i)[7]) % 2) for i in range(1024)]


def ref_matmul2(q):
    mats = [(m00, m01, m10, m11) for m00 in range(q) for m01 in range(q)
            for m10 in range(q) for m11 in range(q)]
    index = {m: k for k, m in enumerate(mats)}
    rows = []
    for i, (a00, a01, a10, a11) in enumerate(mats):
        for j, (b00, b01, b10, b11) in enumerate(mats):
            c = ((a00 * b00 + a01 * b10) % q, (a00 * b01 + a01 * b11) % q,
                 (a10 * b00 + a11 * b10) % q, (a10 * b01 + a11 * b11) % q)
            rows.append(((i, j), index[c]))
    return rows


def ref_add3(p):
    return [((a, b, c), (a + b + c) % p) for a in range(p) for b in range(p) for c in range(p)]


def expected_tokens(rows, n_values, layout, infix=True):
    """Token rows [x0, op, x1, ..., =] (default) or [x0, x1, ..., =] (no_op) from operands."""
    out = []
    for operands, _ in rows:
        if not infix:
            out.append(list(operands))
        elif layout == "default":
            row = []
            for k, x in enumerate(operands):
                if k:
                    row.append(n_values)
                row.append(x)
            out.append(row + [n_values + 1])
        else:
            out.append(list(operands) + [n_values])
    return np.array(out, dtype=np.int64)


def check_against(task, rows, n_values, layout, infix=True):
    np.testing.assert_array_equal(task.tokens, expected_tokens(rows, n_values, layout, infix))
    np.testing.assert_array_equal(task.labels, [label for _, label in rows])
    assert task.tokens.dtype == np.int32 and task.labels.dtype == np.int32
    assert task.labels.min() >= 0 and task.labels.max() < task.d_vocab
    assert task.tokens.min() >= 0 and task.tokens.max() < task.d_vocab
    assert len(task.token_names) == task.d_vocab
    assert task.n_ctx == task.tokens.shape[1]


# ---------------------------------------------------------------------------------------------
# Tables


@pytest.mark.parametrize("p", [2, 3, 5, 7, 11, 97])
@pytest.mark.parametrize("name", sorted(MODULAR_REFS))
@pytest.mark.parametrize("layout", LAYOUTS)
def test_modular_tables_match_reference(name, p, layout):
    task = make_task(name, p, layout)
    check_against(task, ref_modular(name, p), p, layout)
    assert task.p == p and task.name == name
    assert task.d_vocab == (p + 2 if layout == "default" else p + 1)
    assert task.operand_positions == ((0, 2) if layout == "default" else (0, 1))
    assert task.token_names[:p] == tuple(str(v) for v in range(p))
    assert task.token_names[p:] == (("op", "=") if layout == "default" else ("=",))


@pytest.mark.parametrize("p", [4, 6, 9, 10, 15])
@pytest.mark.parametrize("name", sorted(set(MODULAR_REFS) - DIVIDING))
def test_non_dividing_tasks_accept_composite_p(name, p):
    check_against(make_task(name, p), ref_modular(name, p), p, "default")


@pytest.mark.parametrize("name", sorted(S5_REFS))
@pytest.mark.parametrize("layout", LAYOUTS)
def test_s5_tables_match_reference(name, layout):
    task = make_task(name, 97, layout)
    check_against(task, ref_s5(name), 120, layout)
    assert task.n_rows == 14_400
    assert task.d_vocab == (122 if layout == "default" else 121)
    assert task.token_names[0] == "01234" and task.token_names[119] == "43210"
    assert task.token_names[1] == "01243"


def test_s5_ignores_p():
    a, b = make_task("s5_compose", 97), make_task("s5_compose", 2)
    np.testing.assert_array_equal(a.tokens, b.tokens)
    np.testing.assert_array_equal(a.labels, b.labels)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_parity_tables_match_reference(layout):
    for name, rows in (("parity10", ref_parity10()), ("sparse_parity", ref_sparse_parity())):
        task = make_task(name, 97, layout)
        check_against(task, rows, 2, layout, infix=False)
        assert task.d_vocab == 2 and task.n_ctx == 10 and task.n_rows == 1024
        assert task.operand_positions == tuple(range(10))
        assert task.token_names == ("0", "1")
    assert "0, 3, 7" in get_spec("sparse_parity").definition


@pytest.mark.parametrize("q", [2, 3])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_matmul2_matches_reference(q, layout):
    task = make_task("matmul2", q, layout)
    check_against(task, ref_matmul2(q), q**4, layout)
    assert task.d_vocab == q**4 + (2 if layout == "default" else 1)
    assert task.token_names[1] == "[[0,0],[0,1]]"


def test_matmul2_p3_size():
    task = make_task("matmul2", 3)
    assert task.n_rows == 6_561 and task.d_vocab == 83


@pytest.mark.parametrize("p", [2, 3, 5, 11])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_add3_matches_reference(p, layout):
    task = make_task("add3", p, layout)
    check_against(task, ref_add3(p), p, layout)
    assert task.operand_positions == ((0, 2, 4) if layout == "default" else (0, 1, 2))
    assert task.n_ctx == (6 if layout == "default" else 4)


def test_division_97():
    task = make_task("x/y", 97)
    assert task.n_rows == 9_312 and task.d_vocab == 99
    a, b = task.tokens[:, 0].astype(np.int64), task.tokens[:, 2].astype(np.int64)
    c = task.labels.astype(np.int64)
    assert np.all(b != 0)
    assert np.all(b * c % 97 == a)


def test_large_p_is_fast_and_consistent():
    # p = 997: spot-check rows of the vectorised tables against Python arithmetic.
    rng = np.random.default_rng(0)
    for name in ("div", "pow", "x3_xy2_y", "div_odd_sub"):
        task = make_task(name, 997)
        for i in rng.integers(0, task.n_rows, size=200):
            a, b = int(task.tokens[i, 0]), int(task.tokens[i, 2])
            assert task.labels[i] == MODULAR_REFS[name](a, b, 997)


def test_arrays_are_read_only():
    task = make_task("add", 5)
    for arr in (task.tokens, task.labels):
        assert not arr.flags.writeable
        with pytest.raises(ValueError):
            arr[0] = 1


def test_make_task_is_cached_and_aliases_share_it():
    assert make_task("div", 7) is make_task("/", 7) is make_task("x/y", 7)


@pytest.mark.parametrize(("alias", "name"), [
    ("+", "add"), ("-", "sub"), ("*", "mul"), ("/", "div"),
    ("x+y", "add"), ("x-y", "sub"), ("x*y", "mul"), ("x/y", "div"), ("ADD", "add"),
])
def test_aliases(alias, name):
    assert resolve_name(alias) == name
    assert make_task(alias, 5).name == name


# ---------------------------------------------------------------------------------------------
# Registry and errors


def test_registry_lists_all_tasks_in_order():
    specs = list_tasks()
    assert [s.name for s in specs] == CANONICAL
    by_name = {s.name: s for s in specs}
    assert {n for n, s in by_name.items() if s.needs_prime} == DIVIDING
    assert by_name["s5_xyx"].kind == "s5" and by_name["parity10"].kind == "bits"
    assert by_name["div"].n_rows(97) == 9_312 and by_name["add"].n_rows(97) == 9_409
    assert by_name["matmul2"].n_rows(3) == 6_561 and by_name["add3"].n_rows(5) == 125
    assert by_name["s5_compose"].n_rows(97) == 14_400
    for spec in specs:
        assert "\n" not in spec.definition and spec.definition


@pytest.mark.parametrize("name", CANONICAL)
def test_spec_row_count_matches_table(name):
    p = 5 if name in ("matmul2", "add3") else 11
    assert make_task(name, p).n_rows == get_spec(name).n_rows(p)


def test_unknown_task():
    with pytest.raises(ConfigError, match=r"unknown task 'foo'; known tasks: add, sub, mul"):
        make_task("foo")


@pytest.mark.parametrize("name", ["div", "div_odd_sub", "/"])
def test_division_needs_prime(name):
    canonical = resolve_name(name)
    msg = f"p=96 is not prime; task '{canonical}' needs a prime modulus \\(e.g. 97\\)"
    with pytest.raises(ConfigError, match=msg):
        make_task(name, 96)


@pytest.mark.parametrize("p", [1, 0, -5])
def test_p_too_small(p):
    with pytest.raises(ConfigError, match=f"p={p} is too small"):
        make_task("add", p)


@pytest.mark.parametrize("p", [97.0, "97", True, None])
def test_p_not_integer(p):
    with pytest.raises(ConfigError, match="is not an integer"):
        make_task("add", p)


@pytest.mark.parametrize(("name", "p", "limit"), [
    ("add", 1415, "p ≤ 1414"), ("div", 1415, "p ≤ 1409"), ("add3", 126, "p ≤ 125"),
    ("matmul2", 7, "p ≤ 6"), ("pow", 10**40, "p ≤ 1414"),
])
def test_too_many_rows(name, p, limit):
    with pytest.raises(ConfigError, match=f"p={p} gives .* rows .*2,000,000; use {limit}"):
        make_task(name, p)
    assert get_spec(name).n_rows(p) > MAX_ROWS


def test_bad_layout():
    with pytest.raises(ConfigError, match="unknown layout 'infix'; known layouts: default, no_op"):
        make_task("add", 97, layout="infix")


def test_config_error_is_value_error():
    with pytest.raises(ValueError):
        make_task("nope")


def test_describe_tasks():
    rows = {d["name"]: d for d in describe_tasks(97)}
    assert list(rows) == CANONICAL
    assert rows["div"]["rows"] == 9_312 and rows["add"]["rows"] == 9_409
    assert rows["matmul2"]["rows"] == "too large"
    assert rows["add"]["aliases"] == ("+", "x+y")
    assert rows["div"]["definition"] == "(a · b^(p-2)) mod p, b ≠ 0"
    rows96 = {d["name"]: d["rows"] for d in describe_tasks(96)}
    assert rows96["div"] == rows96["div_odd_sub"] == "n/a (needs prime p)"
    assert rows96["add"] == 9_216 and rows96["s5_compose"] == 14_400
    rows1 = {d["name"]: d["rows"] for d in describe_tasks(1)}
    assert rows1["add"].startswith("n/a") and rows1["parity10"] == 1024


# ---------------------------------------------------------------------------------------------
# Splits and label noise


def test_split_sizes_match_seed_implementation():
    train, val = split_indices(9_312, 0.5, seed=0)
    assert len(train) == 4_656 and len(val) == 4_656
    assert train.dtype == np.int32 and val.dtype == np.int32
    perm = np.random.default_rng(0).permutation(9_312)
    np.testing.assert_array_equal(np.concatenate([train, val]), perm)


def test_split_floor():
    train, val = split_indices(10, 0.35, seed=1)
    assert len(train) == 3 and len(val) == 7


def test_split_deterministic_disjoint_covering():
    a_train, a_val = split_indices(1000, 0.3, seed=7)
    b_train, b_val = split_indices(1000, 0.3, seed=7)
    c_train, _ = split_indices(1000, 0.3, seed=8)
    np.testing.assert_array_equal(a_train, b_train)
    np.testing.assert_array_equal(a_val, b_val)
    assert not np.array_equal(a_train, c_train)
    assert len(np.intersect1d(a_train, a_val)) == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([a_train, a_val])), np.arange(1000))


@pytest.mark.parametrize("fraction", [0.0, 1.0, 1.5, -0.1, float("nan"), "0.5", True])
def test_split_bad_fraction(fraction):
    with pytest.raises(ConfigError, match="train_fraction=.* is outside \\(0, 1\\)"):
        split_indices(100, fraction, seed=0)


def test_split_empty_side():
    with pytest.raises(ConfigError, match="at least 1 row"):
        split_indices(10, 0.05, seed=0)
    with pytest.raises(ConfigError, match="too small to split"):
        split_indices(1, 0.5, seed=0)
    with pytest.raises(ConfigError, match="seed=-1"):
        split_indices(10, 0.5, seed=-1)


def test_noisy_labels_exact_count_and_wrong():
    task = make_task("add", 97)
    train_idx, _ = split_indices(task.n_rows, 0.5, seed=3)
    true = task.labels[train_idx]
    noisy, positions = noisy_labels(task.labels, train_idx, 0.1, seed=3, n_classes=task.d_vocab)
    assert len(positions) == round(0.1 * len(train_idx))
    assert positions.dtype == np.int32 and np.all(np.diff(positions) > 0)
    assert np.all(noisy[positions] != true[positions])
    assert np.all(np.isin(noisy[positions], np.unique(task.labels)))
    mask = np.ones(len(true), dtype=bool)
    mask[positions] = False
    np.testing.assert_array_equal(noisy[mask], true[mask])
    again, positions2 = noisy_labels(task.labels, train_idx, 0.1, seed=3,
                                     n_classes=task.d_vocab)
    np.testing.assert_array_equal(again, noisy)
    np.testing.assert_array_equal(positions2, positions)
    other, _ = noisy_labels(task.labels, train_idx, 0.1, seed=4, n_classes=task.d_vocab)
    assert not np.array_equal(other, noisy)


def test_noisy_labels_uses_only_labels_that_occur():
    # With only two labels in the table, the one allowed wrong label is the other one.
    task = make_task("parity10")
    train_idx, _ = split_indices(task.n_rows, 0.5, seed=0)
    noisy, positions = noisy_labels(task.labels, train_idx, 0.5, seed=0, n_classes=2)
    np.testing.assert_array_equal(noisy[positions], 1 - task.labels[train_idx][positions])


def test_noisy_labels_zero_and_errors():
    labels = np.arange(10) % 3
    idx = np.arange(5, dtype=np.int32)
    noisy, positions = noisy_labels(labels, idx, 0.0, seed=0, n_classes=3)
    np.testing.assert_array_equal(noisy, labels[:5])
    assert positions.shape == (0,) and positions.dtype == np.int32
    for bad in (1.0, -0.5, 2):
        with pytest.raises(ConfigError, match="label_noise=.* is outside \\[0, 1\\)"):
            noisy_labels(labels, idx, bad, seed=0, n_classes=3)
    with pytest.raises(ConfigError, match="n_classes=2"):
        noisy_labels(labels, idx, 0.5, seed=0, n_classes=2)
    with pytest.raises(ConfigError, match="2 distinct labels"):
        noisy_labels(np.zeros(10, dtype=np.int32), idx, 0.5, seed=0, n_classes=3)


def test_make_split():
    task = make_task("div", 97)
    clean = make_split(task, 0.5, seed=0)
    assert clean.n_train == 4_656 and clean.n_val == 4_656
    np.testing.assert_array_equal(clean.train_labels, task.labels[clean.train_idx])
    assert clean.noisy_positions.size == 0
    assert (clean.seed, clean.train_fraction, clean.label_noise) == (0, 0.5, 0.0)
    for arr in (clean.train_idx, clean.val_idx, clean.train_labels, clean.noisy_positions):
        assert not arr.flags.writeable

    noisy = make_split(task, 0.5, seed=0, label_noise=0.2)
    np.testing.assert_array_equal(noisy.train_idx, clean.train_idx)
    assert len(noisy.noisy_positions) == round(0.2 * 4_656)
    changed = np.flatnonzero(noisy.train_labels != clean.train_labels)
    np.testing.assert_array_equal(changed, noisy.noisy_positions)


# ---------------------------------------------------------------------------------------------
# Export


@pytest.mark.parametrize(("name", "p", "layout"), [("div", 7, "default"), ("add3", 3, "no_op"),
                                                   ("parity10", 97, "default")])
def test_export_csv_round_trip(tmp_path, name, p, layout):
    task = make_task(name, p, layout)
    path = tmp_path / "table.csv"
    path.write_text("stale content\n")
    export_csv(task, path)
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["tokens", "label"]
    tokens = np.array([[int(t) for t in r[0].split(" ")] for r in rows[1:]])
    labels = np.array([int(r[1]) for r in rows[1:]])
    np.testing.assert_array_equal(tokens, task.tokens)
    np.testing.assert_array_equal(labels, task.labels)
    assert os.listdir(tmp_path) == ["table.csv"]  # no temp file left behind


def test_export_csv_failure_leaves_no_temp(tmp_path):
    with pytest.raises(AttributeError):
        export_csv("not a task", tmp_path / "x.csv")
    assert os.listdir(tmp_path) == []
