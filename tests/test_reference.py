"""The reference runs (tests/scripts/reference_runs.py: a plain run, a distilled student, a
transfer run and a batched sweep) write byte-identical metrics to the stored ones, so a refactor
that changes any number is caught. XLA's CPU code is deterministic for one jaxlib on one kind of
processor; on another processor or jaxlib the same records must agree to float32 rounding."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent / "scripts"))
import reference_runs  # noqa: E402

pytestmark = pytest.mark.slow


def _close(got: dict, want: dict) -> None:
    assert got.keys() == want.keys()
    for k, v in want.items():
        if isinstance(v, float):
            np.testing.assert_allclose(got[k], v, rtol=1e-4, atol=1e-6, err_msg=k)
        else:
            assert got[k] == v, k


def test_reference_runs_write_the_stored_metrics(tmp_path):
    # in a fresh process with the XLA flags a user gets (conftest lowers the optimization level)
    from conftest import TEST_XLA_FLAG

    env = dict(os.environ)
    env["XLA_FLAGS"] = env.get("XLA_FLAGS", "").replace(TEST_XLA_FLAG, "").strip()
    done = subprocess.run([sys.executable, reference_runs.__file__, str(tmp_path)], env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    paths = reference_runs.paths(tmp_path)
    stored = reference_runs.STORED
    same_machine = json.loads((stored / "machine.json").read_text()) == reference_runs.machine()
    for name, path in paths.items():
        want = (stored / f"{name}.jsonl").read_text()
        got = path.read_text()
        if same_machine:
            assert got == want, f"{name}: metrics differ from tests/data/reference/{name}.jsonl"
        else:
            g, w = got.splitlines(), want.splitlines()
            assert len(g) == len(w), name
            for a, b in zip(g, w):
                _close(json.loads(a), json.loads(b))
