"""``--backend ray`` on a two-node Ray cluster made on this machine, with a worker killed.

The head node and a second node are started with ``ray start --block``, each with its own Ray
temp dir, ``TMPDIR`` and working directory; the driver is a third process, and its OUT lives in
a directory neither node is told about. Tasks train in a scratch directory of their node and send
the cells back through Ray; the driver alone writes under OUT. One worker is SIGKILLed while it
trains; Ray runs its task again, and the sweep must give the in-process backend's results.

The nodes share one thing with the driver: the session's JAX compilation cache (conftest.py puts
it in the environment of every process of the session), which only saves compile time.
"""

import csv
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest

from groklab.errors import ConfigError
from groklab.runs.results import COST_KEYS
from groklab.sweeps import load_spec
from groklab.sweeps.batch import plan_groups
from groklab.sweeps.ray_backend import _todo, group_to_plain, read_tree, write_cell
from groklab.sweeps.run import run_sweep

SPEC = """
base:
  set: {task.p: 7, model.d_model: 16, model.n_layers: 1, model.dropout: 0.0,
        train.batch_size: 8, train.epochs: 6, train.checkpoint_every: 1000}
seeds: [0, 1]
grid:
  optim.name: [adamw, sgd]
"""  # two groups of one cell: one task per node
KILLED_GROUP = "group_001"
BATCHED_SPEC = SPEC.replace("grid:\n  optim.name: [adamw, sgd]\n", """zip:
  optim.name: [adamw, adamw, sgd]
  optim.weight_decay: [0.1, 1.0, 0.1]
""")  # two groups: the AdamW cells batched in one program, the SGD cell alone

RAY = str(Path(sys.executable).with_name("ray"))
START_TIMEOUT_S = 60
DRIVER_TIMEOUT_S = 240


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ours(marker: str) -> list[int]:
    """PIDs of live processes started for this cluster (they carry ``marker`` in their
    environment, Ray's workers included)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if marker.encode() in (proc / "environ").read_bytes():
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids


class Cluster:
    """A head node and one more node on this machine, each a ``ray start --block`` process
    group with its own temp dir, TMPDIR and working directory."""

    def __init__(self, root: Path):
        self.root, self.port = root, _free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.marker = f"GROKLAB_TEST_CLUSTER={uuid.uuid4().hex}"
        self.token = uuid.uuid4().hex
        self.nodes = {name: root / name for name in ("head", "node")}
        self.procs: list[subprocess.Popen] = []
        # Ray's sockets live in its temp dir, and a socket path has at most 107 bytes
        self.ray_tmp = Path(tempfile.mkdtemp(prefix="glray-", dir="/tmp"))

    def tmp(self, name: str) -> Path:
        return self.nodes[name] / "tmp"

    def env(self, home: Path) -> dict:
        """The environment of a process of this cluster (a node, or the driver): its own TMPDIR,
        the marker, and this cluster's token (explicit token authentication, so neither a
        token in ~/.ray nor another test's Ray settings in this process matter)."""
        key, value = self.marker.split("=")
        env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
        (home / "tmp").mkdir(parents=True, exist_ok=True)
        return env | {"TMPDIR": str(home / "tmp"), key: value, "RAY_AUTH_MODE": "token",
                      "RAY_AUTH_TOKEN": self.token, "RAY_USAGE_STATS_ENABLED": "0"}

    def _start(self, name: str, args: list[str]) -> None:
        home = self.nodes[name]
        env = self.env(home)
        with open(home / "ray_start.log", "w") as log:
            self.procs.append(subprocess.Popen(
                [RAY, "start", "--block", "--num-cpus=1", f"--temp-dir={self.ray_tmp / name}",
                 "--node-ip-address=127.0.0.1", *args],
                cwd=home, env=env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True))

    def start(self) -> None:
        self._start("head", ["--head", f"--port={self.port}", "--include-dashboard=false"])
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:  # the GCS listens: the second node can join
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.procs[0].poll() is not None:
                    log = (self.nodes["head"] / "ray_start.log").read_text()
                    raise RuntimeError(f"the head node did not start: {log}") from None
                time.sleep(0.2)
        self._start("node", [f"--address={self.address}"])

    def stop(self) -> None:
        """Kill both nodes' process groups, then any straggler carrying our marker (by PID);
        never ``ray stop``, which would stop every Ray instance of this machine."""
        for p in self.procs:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for p in self.procs:
            p.wait(timeout=30)
        deadline = time.monotonic() + 30
        while (left := _ours(self.marker)) and time.monotonic() < deadline:
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.2)
        shutil.rmtree(self.ray_tmp, ignore_errors=True)
        assert not _ours(self.marker), "processes of the test cluster are still running"


def _scratches(tmp: Path) -> list[Path]:
    return sorted(tmp.glob("groklab-group_*"))


def _kill_a_training_worker(cluster: Cluster, killed: list, stop: threading.Event) -> None:
    """SIGKILL the worker training ``KILLED_GROUP`` once it has metrics on disk (it is found by
    its scratch directory, which carries its PID), on whichever node it runs."""
    while not stop.is_set():
        for scratch in _scratches(cluster.tmp("head")) + _scratches(cluster.tmp("node")):
            if (scratch.name.split("-")[1] == KILLED_GROUP
                    and any(m.stat().st_size > 0 for m in scratch.rglob("metrics.jsonl"))):
                pid = int(scratch.name.split("-")[2])
                os.kill(pid, signal.SIGKILL)
                killed.append((scratch, pid))
                return
        time.sleep(0.05)


def _fingerprint(out: Path):
    """The results table, and per cell: metrics, status, stop step, per-seed milestones, and
    the steps and array digests of every parameter and state checkpoint."""
    table = [{k: v for k, v in row.items() if k not in COST_KEYS}  # measured, not reproduced
             for row in csv.DictReader((out / "results.csv").open())]
    cells = {}
    for d in sorted((out / "cells").iterdir()):
        s = json.loads((d / "summary.json").read_text())
        digests = {}
        for kind in ("params", "state"):
            for step in sorted((d / "checkpoints" / kind).iterdir(), key=lambda p: int(p.name)):
                meta = json.loads((step / "metadata" / "metadata").read_text())
                digests[f"{kind}/{step.name}"] = meta[f"{kind}_sha256"]
        cells[d.name] = ((d / "metrics.jsonl").read_text(), s["status"], s["step"], s["seeds"],
                         (d / "split.npz").read_bytes(), digests)
    return table, cells


# The driver: a process of its own (as `groklab sweep --backend ray --address ...` would be),
# which records what it writes under OUT (path -> SHA-256) and its log.
DRIVER = """
import hashlib, json, sys, time
import ray
from groklab.sweeps import load_spec, ray_backend
from groklab.sweeps.run import run_sweep

spec, out, address, report = sys.argv[1:]
written = {}
real_write = ray_backend.write_atomic

def recording_write(path, data):
    written[str(path)] = hashlib.sha256(data).hexdigest()
    real_write(path, data)

ray_backend.write_atomic = recording_write
ray.init(address=address, include_dashboard=False, log_to_driver=False)
deadline = time.monotonic() + 60
while len([n for n in ray.nodes() if n.get("Alive")]) < 2:
    assert time.monotonic() < deadline, "the second node did not join"
    time.sleep(0.2)
logs = []
try:
    run_sweep(load_spec(spec), out, log=logs.append, backend="ray")
finally:
    ray.shutdown()
    with open(report, "w") as f:
        json.dump({"written": written, "logs": logs}, f)
"""


@pytest.mark.slow
def test_two_node_sweep_with_a_killed_worker_gives_the_local_table(tmp_path):
    pytest.importorskip("ray")
    cluster = Cluster(tmp_path / "cluster")
    spec_path = _write(tmp_path / "spec.yaml", SPEC)
    out = tmp_path / "driver" / "out"  # a path no node is given
    report = tmp_path / "driver" / "report.json"
    out.parent.mkdir()
    cluster.start()  # boots while the in-process reference trains
    try:
        local_out = tmp_path / "local"
        run_sweep(load_spec(spec_path), local_out, log=lambda line: None)

        killed: list = []
        stop = threading.Event()
        killer = threading.Thread(target=_kill_a_training_worker, args=(cluster, killed, stop),
                                  daemon=True)
        killer.start()
        try:
            driver = subprocess.run(
                [sys.executable, "-c", DRIVER, str(spec_path), str(out), cluster.address,
                 str(report)], cwd=out.parent, env=cluster.env(tmp_path / "driver"),
                capture_output=True, text=True, timeout=DRIVER_TIMEOUT_S)
        finally:
            stop.set()
            killer.join(timeout=10)
    finally:
        cluster.stop()
    assert driver.returncode == 0, driver.stderr[-3000:]
    logs = json.loads(report.read_text())["logs"]
    written = json.loads(report.read_text())["written"]

    assert killed, "no worker was killed: the groups trained too fast to catch"
    scratch, pid = killed[0]
    assert scratch.exists()  # the killed attempt never reached its cleanup
    again = [line for line in logs if line.startswith(f"[{KILLED_GROUP}] trained on ")]
    assert len(again) == 1 and f"(pid {pid})" not in again[0]  # Ray ran it again elsewhere
    assert "2 cells × 2 seeds in 2 compiled program(s)" in logs[0]
    assert any("2 task(s) submitted to 2 CPU(s) on 2 node(s)" in line for line in logs)

    # the same results as in-process: table, metrics, milestones, statuses, checkpoints
    assert _fingerprint(out) == _fingerprint(local_out)

    # nothing under OUT/cells that the driver did not write itself; no group trained there
    assert not (out / "groups").exists()
    staged = {_renamed(Path(p), out / "cells"): digest for p, digest in written.items()}
    assert {p for p in (out / "cells").rglob("*") if p.is_file()} == set(staged)
    assert all(hashlib.sha256(p.read_bytes()).hexdigest() == d for p, d in staged.items())
    # the nodes trained in their own scratch: only the killed attempt's is left
    assert _scratches(cluster.tmp("head")) + _scratches(cluster.tmp("node")) == [scratch]


def _renamed(path: Path, cells: Path) -> Path:
    """Where a file written into ``cells/.<cell>.partial/`` ends up."""
    first, *rest = path.relative_to(cells).parts
    assert first.startswith(".") and first.endswith(".partial")
    return cells.joinpath(first[1:-len(".partial")], *rest)


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# ----- the pieces, without a cluster -----

def test_a_cell_travels_as_plain_data_and_lands_whole(tmp_path):
    src = tmp_path / "worker" / "cells" / "000_a"
    (src / "checkpoints" / "params" / "3").mkdir(parents=True)
    (src / "checkpoints" / "empty").mkdir()
    (src / "metrics.jsonl").write_text('{"step": 1}\n')
    (src / "checkpoints" / "params" / "3" / "blob").write_bytes(bytes(range(256)))
    tree = read_tree(src)
    assert all(isinstance(k, str) and isinstance(v, bytes) for k, v in tree["files"].items())
    assert "checkpoints/empty" in tree["dirs"]
    out = tmp_path / "out"
    (out / "cells" / ".000_a.partial").mkdir(parents=True)  # a driver killed while writing
    (out / "cells" / "000_a").mkdir()  # an unfinished copy from an earlier attempt
    (out / "cells" / "000_a" / "stale").write_text("x")
    write_cell(out, "000_a", tree)
    assert read_tree(out / "cells" / "000_a") == tree
    assert sorted(p.name for p in (out / "cells").iterdir()) == ["000_a"]


@pytest.mark.parametrize("bad", ["../escape", "/abs/path", "a/../../b", "."])
def test_a_returned_path_outside_its_cell_is_refused(tmp_path, bad):
    with pytest.raises(ConfigError, match="path outside it"):
        write_cell(tmp_path / "out", "000_a", {"files": {bad: b"x"}, "dirs": []})
    assert not (tmp_path / "escape").exists() and not (tmp_path / "out").exists()


def test_tasks_get_only_unfinished_cells_and_no_driver_path(tmp_path):
    spec = load_spec(_write(tmp_path / "spec.yaml", BATCHED_SPEC))
    groups = plan_groups(spec.cells(), spec.axes, spec.batch_cells, spec.max_members)
    assert [len(g.cells) for g in groups] == [2, 1]
    out = tmp_path / "out"
    first, second = groups[0].cells
    (out / "cells" / first.name).mkdir(parents=True)
    (out / "cells" / first.name / "summary.json").write_text('{"status": "completed"}')
    todo = _todo(groups[0], out)
    assert todo.name == groups[0].name and todo.cells == (second,)
    (out / "cells" / second.name).mkdir()
    (out / "cells" / second.name / "summary.json").write_text('{"status": "interrupted"}')
    assert _todo(groups[0], out).cells == (second,)  # an interrupted cell is trained again
    (out / "cells" / second.name / "summary.json").write_text('{"status": "stopped_early"}')
    assert _todo(groups[0], out) is None
    payload = json.dumps(group_to_plain(groups[1]))  # what a task receives: plain JSON data
    assert str(tmp_path) not in payload


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:os.fork:RuntimeWarning")  # ray.init: fork + exec
def test_a_group_whose_worker_always_dies_fails_alone(tmp_path, monkeypatch):
    """Retries used up: the other group's cells are saved, the error is one line naming the
    group, and nothing of the failed group is under OUT."""
    ray = pytest.importorskip("ray")
    from groklab.sweeps import ray_backend

    def fake_task(data):  # defined here, so Ray ships it by value to the worker
        if data["index"] == 1:
            os._exit(1)  # as if killed, on every attempt
        summary = json.dumps({"status": "completed", "seeds": []}).encode()
        group = ray_backend.group_from_plain(data)
        return {"lines": [], "host": "h", "pid": 0,
                "cells": {c.name: {"files": {"summary.json": summary}, "dirs": []}
                          for c in group.cells}}

    spec = load_spec(_write(tmp_path / "spec.yaml", BATCHED_SPEC))
    monkeypatch.setattr(ray_backend, "train_group", fake_task)
    monkeypatch.setattr(ray_backend, "MAX_RETRIES", 1)
    logs = []
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        with pytest.raises(ConfigError) as err:
            run_sweep(spec, tmp_path / "out", log=logs.append, backend="ray")
    finally:
        ray.shutdown()
    assert "\n" not in str(err.value)
    assert str(err.value).startswith("ray: group_001: WorkerCrashedError after 1 retries")
    assert "run the same command again" in str(err.value)
    cells = spec.cells()
    assert (tmp_path / "out" / "cells" / cells[0].name / "summary.json").exists()
    assert not (tmp_path / "out" / "cells" / cells[2].name).exists()
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert [c["status"] for c in manifest["cells"]] == ["completed", "completed", None]
