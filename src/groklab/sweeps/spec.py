"""The sweep spec (YAML, TOML or JSON) and its expansion into cells.

    base:                      # the config every cell starts from
      preset: seed-teacher     # model preset (optional)
      config: base.yaml        # a config file, relative to the spec (optional)
      recipe: [grokfast-ema]   # recipe presets (optional)
      set: {task.p: 23, train.epochs: 300}   # key = value overrides
    seeds: [0, 1, 2, 3, 4]     # or num_seeds: 5 — every cell trains these, vmapped
    grid:                      # every combination of these values
      optim.name: [adamw, muon]
      optim.weight_decay: [0.1, 1.0]
    zip:                       # lists of one length, varied together (crossed with the grid)
      optim.learning_rate: [1e-3, 3e-3]
      optim.warmup_steps: [10, 50]
    stop_at: 0.99              # optional stop rule (train.stop_at)
    batch_cells: true          # cells differing only in lr / wd share one program (default)
    max_members: 64            # at most this many (cell, seed) pairs per shared program

Keys are the config's own (``groklab train --set``); a bad key or value is an error naming it,
before anything runs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from groklab.config import MAX_INT, MAX_SEEDS, RunConfig, apply_overrides, load_config_file
from groklab.engine.setup import plan_run
from groklab.errors import ConfigError, short
from groklab.recipes import recipe_overrides

SPEC_KEYS = ("name", "base", "seeds", "num_seeds", "grid", "zip", "stop_at", "batch_cells",
             "max_members")
BASE_KEYS = ("preset", "config", "recipe", "set")


@dataclass(frozen=True)
class Cell:
    index: int
    values: dict  # axis key -> value of this cell
    config: RunConfig

    @property
    def name(self) -> str:
        """A stable directory name: index and the cell's values."""
        parts = [f"{k.split('.')[-1]}={_fmt(v)}" for k, v in self.values.items()]
        slug = re.sub(r"[^A-Za-z0-9_.=,+-]", "_", ",".join(parts)) or "base"
        if len(slug) > MAX_SLUG:  # a file name is at most 255 bytes: shorten, keep it unique
            digest = hashlib.sha256(slug.encode()).hexdigest()[:12]
            slug = f"{slug[:MAX_SLUG - 13]}_{digest}"
        return f"{self.index:03d}_{slug}"


@dataclass(frozen=True)
class SweepSpec:
    name: str
    base: RunConfig
    grid: dict = field(default_factory=dict)
    zipped: dict = field(default_factory=dict)
    raw: dict = field(default_factory=dict)
    batch_cells: bool = True
    max_members: int = 64

    @property
    def axes(self) -> list[str]:
        return [*self.grid, *self.zipped]

    def cells(self) -> list[Cell]:
        grid_rows = [dict(zip(self.grid, combo))
                     for combo in itertools.product(*self.grid.values())]
        n_zip = len(next(iter(self.zipped.values()))) if self.zipped else 1
        zip_rows = [{k: v[i] for k, v in self.zipped.items()} for i in range(n_zip)]
        out = []
        for g, z in itertools.product(grid_rows, zip_rows):
            values = {**g, **z}
            cfg = apply_overrides(self.base, [f"{k}={_yaml(v)}" for k, v in values.items()])
            # a cell's seeds are logged (--log) as runs of one group: the sweep
            cfg = dataclasses.replace(cfg, log=dataclasses.replace(
                cfg.log, group=cfg.log.group or self.name))
            out.append(Cell(len(out), values, cfg))
        return out


# A sweep has at most this many cells (grid combinations × zip rows): every cell is validated
# before anything runs, and each is a run directory; counted from the spec, before expanding it.
MAX_CELLS = 1000
MAX_SLUG = 200  # characters of a cell's values in its directory name


def load_spec(path: str | Path) -> SweepSpec:
    path = Path(path)
    data = load_config_file(path, "sweep spec")
    where = f"sweep spec {short(str(path), 200)}"
    unknown = sorted((k for k in data if k not in SPEC_KEYS), key=str)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(map(str, unknown))[:200]}; "
                          f"allowed: {', '.join(SPEC_KEYS)}")
    if data.get("name") is not None and not isinstance(data["name"], str):
        raise ConfigError(f"{where}: name={short(data['name'])} must be a string")
    grid, zipped = _axis(data, "grid"), _axis(data, "zip")
    lengths = {len(v) for v in zipped.values()}
    if len(lengths) > 1:
        raise ConfigError("sweep spec: the zip lists must have one length; got "
                          + ", ".join(f"{short(k)}: {len(v)}" for k, v in zipped.items()))
    both = sorted(set(grid) & set(zipped))
    if both:
        raise ConfigError(f"sweep spec: {', '.join(both)[:200]} is both a grid and a zip axis")
    n_cells = math.prod(len(v) for v in grid.values()) * (lengths.pop() if lengths else 1)
    if n_cells > MAX_CELLS:
        raise ConfigError(f"{where} has {n_cells:,} cells "
                          f"({' × '.join(str(len(v)) for v in grid.values()) or '1'} grid"
                          f"{f' × {len(next(iter(zipped.values())))} zip' if zipped else ''}); "
                          f"a sweep has at most {MAX_CELLS:,}: split it into several sweeps")
    base = _base_config(data.get("base") or {}, path.parent)
    seeds = _seeds(data)
    if seeds is not None:
        base = dataclasses.replace(base, seeds=seeds)
    if data.get("stop_at") is not None:
        stop_at = data["stop_at"]
        if isinstance(stop_at, bool) or not isinstance(stop_at, (int, float)):
            raise ConfigError(f"sweep spec: stop_at={short(stop_at)} must be a number in (0, 1]")
        base = apply_overrides(base, [f"train.stop_at={stop_at}"])
    batch_cells, max_members = data.get("batch_cells", True), data.get("max_members", 64)
    if not isinstance(batch_cells, bool):
        raise ConfigError(f"sweep spec: batch_cells={short(batch_cells)} must be true or false")
    if isinstance(max_members, bool) or not isinstance(max_members, int) or max_members < 1:
        raise ConfigError(f"sweep spec: max_members={short(max_members)} must be a positive "
                          "integer")
    spec = SweepSpec(str(data.get("name") or path.stem), base, grid, zipped, data,
                     batch_cells, max_members)
    for cell in spec.cells():  # every cell is validated now, before anything runs
        if cell.config.distill.teacher is not None:
            from groklab.distill.setup import prepare

            prepare(cell.config)  # the teacher exists, has the checkpoint, matches the task
        elif cell.config.transfer.source is not None:
            from groklab.transfer.setup import prepare as prepare_transfer

            prepare_transfer(cell.config)  # the source, its checkpoint, patterns, vocabulary
        else:
            plan_run(cell.config)
    return spec


def _base_config(base: dict, root: Path) -> RunConfig:
    if not isinstance(base, dict):
        raise ConfigError(f"sweep spec: base must be a mapping, got {base!r}")
    unknown = sorted((k for k in base if k not in BASE_KEYS), key=str)
    if unknown:
        raise ConfigError(f"sweep spec: unknown base key(s) {', '.join(map(str, unknown))[:200]}"
                          f"; allowed: {', '.join(BASE_KEYS)}")
    if base.get("config") is not None and not isinstance(base["config"], str):
        raise ConfigError(f"sweep spec: base.config={short(base['config'])} must be a file name")
    if base.get("preset") is not None and not isinstance(base["preset"], str):
        raise ConfigError(f"sweep spec: base.preset={short(base['preset'])} must be a preset "
                          "name")
    data = load_config_file(root / base["config"]) if base.get("config") else {}
    if isinstance(data.get("model"), dict):  # a run's config.yaml: sizes follow each cell's task
        data["model"] = {**data["model"], "d_vocab": None, "n_ctx": None,
                         "operand_positions": None}
    if base.get("preset"):
        data = {**data, "preset": base["preset"]}
        if not base.get("config"):
            data.pop("model", None)
    cfg = RunConfig.from_dict(data)
    recipes = base.get("recipe") or []
    recipes = [recipes] if isinstance(recipes, str) else recipes
    if not isinstance(recipes, list) or not all(isinstance(r, str) for r in recipes):
        raise ConfigError(f"sweep spec: base.recipe={short(recipes)} must be a recipe name or a "
                          "list of them")
    sets = base.get("set") or {}
    if not isinstance(sets, dict) or not all(isinstance(k, str) for k in sets):
        raise ConfigError(f"sweep spec: base.set must map keys to values, got {short(sets)}")
    cfg = apply_overrides(cfg, recipe_overrides(recipes)
                          + [f"{k}={_yaml(v)}" for k, v in sets.items()])
    if recipes:
        cfg = dataclasses.replace(cfg, recipes=tuple(recipes))
    return cfg


def _seeds(data: dict):
    if "seeds" in data and "num_seeds" in data:
        raise ConfigError("sweep spec: give seeds or num_seeds, not both")
    if "seeds" in data:
        seeds = data["seeds"]
        if not (isinstance(seeds, list) and seeds and all(
                isinstance(s, int) and not isinstance(s, bool) and 0 <= s <= MAX_INT
                for s in seeds)):
            raise ConfigError(f"sweep spec: seeds={short(seeds)} must be a non-empty list of "
                              f"integers in [0, {MAX_INT:,}]")
        if len(seeds) > MAX_SEEDS:
            raise ConfigError(f"sweep spec: seeds lists {len(seeds):,} seeds; at most "
                              f"{MAX_SEEDS:,}")
        return tuple(seeds)
    if "num_seeds" in data:
        n = data["num_seeds"]
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_SEEDS:
            raise ConfigError(f"sweep spec: num_seeds={short(n)} must be an integer in [1, "
                              f"{MAX_SEEDS:,}]")
        return tuple(range(n))
    return None


def _axis(data: dict, name: str) -> dict:
    axis = data.get(name) or {}
    if not isinstance(axis, dict):
        raise ConfigError(f"sweep spec: {name} must map config keys to lists of values")
    for key, values in axis.items():
        if not isinstance(key, str):
            raise ConfigError(f"sweep spec: {name} key {short(key)} must be a config key, e.g. "
                              "optim.weight_decay")
        if not isinstance(values, list) or not values:
            raise ConfigError(f"sweep spec: {name}.{short(key)}={short(values)} must be a "
                              "non-empty list")
    return dict(axis)


def _yaml(v) -> str:
    """A value as the YAML scalar/list text ``apply_overrides`` parses."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_yaml(x) for x in v) + "]"
    return str(v)


def _fmt(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)
