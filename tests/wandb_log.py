"""Reading an offline W&B run back (tests only): the ``run-<id>.wandb`` file is W&B's record log
(a 7-byte header ``:W&B`` + magic + version, then 32 KiB blocks of LevelDB-style chunks: CRC-32,
length, type FULL/FIRST/MIDDLE/LAST), each record a ``wandb_internal_pb2.Record`` protobuf,
parsed with W&B's own message definitions."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

BLOCK = 32768
HEADER = 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def raw_records(path: Path) -> list[bytes]:
    data = Path(path).read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B run log"
    records, pending, pos = [], b"", HEADER
    while pos + HEADER <= len(data):
        if BLOCK - pos % BLOCK < HEADER:  # a block's tail too short for a header is padding
            pos += BLOCK - pos % BLOCK
            continue
        crc, length, kind = struct.unpack("<IHB", data[pos:pos + HEADER])
        chunk = data[pos + HEADER:pos + HEADER + length]
        pos += HEADER + length
        if kind == 0 and length == 0:
            continue
        assert zlib.crc32(bytes([kind]) + chunk) == crc, f"bad checksum in {path}"
        if kind == FULL:
            records.append(chunk)
        elif kind == FIRST:
            pending = chunk
        elif kind == MIDDLE:
            pending += chunk
        elif kind == LAST:
            records.append(pending + chunk)
    return records


def read_run(run_dir: Path) -> dict:
    """{"name", "group", "config": {...}, "history": [{key: value, "_step": n}], "summary"}"""
    from wandb.proto import wandb_internal_pb2 as pb

    (log,) = Path(run_dir).glob("run-*.wandb")
    out = {"config": {}, "history": [], "summary": {}}
    for raw in raw_records(log):
        rec = pb.Record()
        rec.ParseFromString(raw)
        kind = rec.WhichOneof("record_type")
        if kind == "run":
            out["name"], out["group"] = rec.run.display_name, rec.run.run_group
            out["id"] = rec.run.run_id
            for item in rec.run.config.update:
                out["config"][item.key] = json.loads(item.value_json)
        elif kind == "config":
            for item in rec.config.update:
                out["config"][item.key] = json.loads(item.value_json)
        elif kind == "history":
            out["history"].append({(i.key or "/".join(i.nested_key)): json.loads(i.value_json)
                                   for i in rec.history.item})
        elif kind == "summary":
            for item in rec.summary.update:
                out["summary"][item.key or "/".join(item.nested_key)] = \
                    json.loads(item.value_json)
    return out


def offline_runs(root: Path) -> dict[str, dict]:
    """Every offline run under ``root/wandb``, by display name."""
    runs = [read_run(d) for d in sorted(Path(root, "wandb").glob("offline-run-*"))]
    return {r["name"]: r for r in runs}
