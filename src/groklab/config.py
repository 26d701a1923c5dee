"""The run configuration: one frozen dataclass per part, composed into ``RunConfig``.

The config is the single source of truth (docs/architecture.md §1): CLI flags, ``--set key=value``
and TOML/YAML/JSON files all map onto these fields, and the resolved config is saved as
``config.yaml`` in every run so that ``groklab train --config DIR/config.yaml`` reproduces it.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from groklab.errors import ConfigError, short
from groklab.models.config import ModelConfig
from groklab.optim import OptimConfig


@dataclass(frozen=True, slots=True)
class TaskConfig:
    name: str = "div"  # canonical task name (``groklab tasks`` lists them)
    p: int = 97  # modulus
    train_fraction: float = 0.5  # share of the table used for training, in (0, 1)
    label_noise: float = 0.0  # share of training labels replaced by a wrong label, in [0, 1)
    split_seed: int | None = None  # None: each seed splits with its own seed; int: shared split
    layout: str = "default"  # "default" [a, op, b, =] or "no_op" [a, b, =]


@dataclass(frozen=True, slots=True)
class TrainConfig:
    batch_size: int = 512  # rows per step; >= the training set means full-batch
    epochs: int | None = 150  # budget in epochs (ignored when steps is set)
    steps: int | None = None  # budget in optimizer steps
    max_steps: int | None = None  # cap on the budget, whichever comes first (the seed script's)
    eval_every: int | None = None  # steps between full evaluations; None = once per epoch
    stop_at: float | None = None  # stop when every live seed has val_acc >= this
    grokked_threshold: float = 0.99  # val_acc that counts as grokked
    memorized_threshold: float = 0.99  # train_acc that counts as memorized
    checkpoint_every: int | None = None  # steps between periodic checkpoints; None = 1/5 budget
    eval_batch_size: int = 4096  # rows per block of the full evaluation (memory bound only)
    eval_shared_prefix: bool = True  # evaluate each distinct causal prefix once (exact)
    loss: str = "softmax"  # softmax / stablemax / sparsemax (docs/architecture.md §4 "Losses")
    loss_dtype: str = "float32"  # float32 or float64 (64-bit mode for the compiled program)
    batch_schedule: str = "constant"  # constant / increasing / curriculum (engine/phases.py)
    batch_start: int = 64  # increasing/curriculum: the first stage's batch size
    batch_stages: int = 4  # increasing/curriculum: number of distinct batch sizes
    curriculum: str = "none"  # none / operand / loss: grow the training set easiest first
    curriculum_start: float = 0.25  # share of training rows available at epoch 0
    curriculum_epochs: int = 20  # epochs until every training row is available
    detect_gap: float = 0.3  # early-grokking detector: armed once train − val acc ≥ this
    detect_drop: float = 0.3  # ... fires when val loss ≤ (1 − drop) × its peak since arming
    detect_patience: int = 3  # ... for this many consecutive evaluations


@dataclass(frozen=True, slots=True)
class DistillConfig:
    """Distillation from a teacher run (groklab.distill; docs/architecture.md §4 "Distillation")."""

    teacher: str | None = None  # RUN_DIR[@STEP|@step=N|@epoch=E|@val_acc=X]; None: no teacher
    strategies: tuple[str, ...] = ("logit",)  # logit / attention / feature, each NAME[:WEIGHT];
    # () trains the student from scratch on the teacher's task and split (the baseline)
    temperature: float = 2.0  # T of logit KD
    alpha: float = 0.5  # weight of the ground-truth loss; 1 − α on the distillation terms
    ground_truth: bool = True  # False: distillation terms only
    learned_weighting: bool = False  # Kendall et al. 2018 uncertainty weighting of the terms
    student_scale: float | None = None  # width of the teacher's model ×; None: config's model
    depth_scale: float | None = None  # layers of the teacher's model ×


@dataclass(frozen=True, slots=True)
class TransferConfig:
    """Starting from another run's checkpoint (groklab.transfer; docs/transfer.md)."""

    source: str | None = None  # RUN_DIR[@STEP|@step=N|@epoch=E|@val_acc=X]; None: random init
    freeze: tuple[str, ...] = ()  # parameter name patterns kept fixed (``blocks.*.attn``, ...)
    reinit: tuple[str, ...] = ()  # parameter name patterns re-initialized instead of copied
    # when the vocabulary changes between mod-p tasks (p -> p'): "copy" (same token, same row;
    # new numbers fresh), "residue" (number v takes the row of v mod p), "reinit" (all number
    # rows fresh); None: the vocabularies must match (or embed/unembed be re-initialized)
    vocab_map: str | None = None


@dataclass(frozen=True, slots=True)
class LogConfig:
    """Where a run's records go besides metrics.jsonl (groklab.experiments.sinks). Changing it
    on --resume is allowed: it sets where records are copied, not what is trained."""

    sinks: tuple[str, ...] = ()  # tensorboard, wandb
    wandb_mode: str = "offline"  # offline (no login, no network; `wandb sync` later) or online
    wandb_project: str = "groklab"
    group: str | None = None  # the W&B group; None: the run directory's name (a sweep: its name)


@dataclass(frozen=True, slots=True)
class RunConfig:
    task: TaskConfig = field(default_factory=TaskConfig)
    model: ModelConfig = field(default_factory=ModelConfig.seed_teacher)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    transfer: TransferConfig = field(default_factory=TransferConfig)
    log: LogConfig = field(default_factory=LogConfig)
    seeds: tuple[int, ...] = (0,)  # one vmapped training run per seed
    # per-seed hyperparameters: {"learning_rate": [..one per seed..], "weight_decay": [...]}
    per_seed: dict = field(default_factory=dict)
    # the seed whose random streams (split, init, data order, dropout) each seed uses; () = its
    # own. A sweep that batches cells sharing seeds 0..4 into one program names its members
    # 0..N-1 and sets rng_seeds = (0..4, 0..4, ...), so every member equals its unbatched run.
    rng_seeds: tuple[int, ...] = ()
    preset: str | None = "seed-teacher"  # the model preset this config started from (a label)
    recipes: tuple[str, ...] = ()  # recipe presets applied (labels; their values are above)

    def to_dict(self) -> dict:
        return _to_plain(self)

    @classmethod
    def from_dict(cls, data: dict) -> RunConfig:
        """A config from plain data (a file's contents). Missing fields take their defaults; a
        partial ``model`` section is laid over the named ``preset`` (seed-teacher by default)."""
        if not isinstance(data, dict):
            raise ConfigError(f"a config must be a mapping of sections, got {short(data)}")
        check_bounded(data, "the config")
        data = dict(data)
        preset = data.get("preset", "seed-teacher")
        if preset is not None:
            from groklab.models.config import model_preset

            if not isinstance(preset, str):
                raise ConfigError(f"preset={short(preset)} must be a preset name (a string)")
            base = _to_plain(model_preset(preset))
            model = data.get("model") or {}
            if not isinstance(model, dict):
                raise ConfigError(f"model must be a mapping, got {short(model)}")
            data["model"] = {**base, **model}
        cfg = _from_plain(cls, data, "")
        check_numbers(cfg.to_dict())
        return cfg


PER_SEED_KEYS = ("learning_rate", "weight_decay", "muon_learning_rate", "muon_weight_decay")

# ----- bounds every config obeys (docs/reliability.md §4) -----

MAX_INT = 2**31 - 1  # every integer setting: steps, sizes and seeds fit the int32 step counters
MAX_FLOAT = 3.4e38  # every real setting: finite and within float32 (the compiled program's type)
MAX_SEEDS = 10_000  # seeds of one run (each is a row of every per-seed array)
MAX_CONFIG_BYTES = 1 << 20  # a config or sweep file is at most 1 MiB
MAX_CONFIG_NODES = 100_000  # values in a config once YAML aliases are expanded
MAX_CONFIG_DEPTH = 32  # nesting of mappings and lists


def check_numbers(tree, key: str = "") -> None:
    """Every number of a config (plain data) is usable: no NaN or ±inf (one would train, then
    fail writing strict JSON), reals within float32, integers within int32. Raises ConfigError
    naming the key (``per_seed.learning_rate[1]=nan``)."""
    stack = [(key, tree)]
    while stack:
        key, value = stack.pop()
        if isinstance(value, dict):
            stack += [(f"{key}.{k}" if key else str(k), v) for k, v in value.items()]
        elif isinstance(value, (list, tuple)):
            stack += [(f"{key}[{i}]", v) for i, v in enumerate(value)]
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise ConfigError(f"{key}={value} is not a finite number; give a finite value")
            if abs(value) > MAX_FLOAT:
                raise ConfigError(f"{key}={value:g} is outside the float32 range "
                                  f"(|x| <= {MAX_FLOAT:g}); give a smaller value")
        elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
            raise ConfigError(f"{key}={short(value)} is too large; integer settings are at most "
                              f"{MAX_INT:,}")


def check_bounded(data, where: str) -> None:
    """Refuse plain data (a parsed file) that is too big once YAML aliases are expanded, nested
    too deeply, or refers to itself. Shared values are counted as often as they are used,
    without expanding them."""
    _check_graph(data, lambda x: list(x.keys()) + list(x.values()) if isinstance(x, dict)
                 else list(x) if isinstance(x, (list, tuple)) else None, where)


def _check_graph(root, children_of, where: str) -> None:
    """``check_bounded`` over any graph: ``children_of(node)`` is a list for a container, None
    for a leaf. Iterative, so no depth of nesting exhausts the Python stack."""
    size: dict[int, int] = {}  # id -> expanded count of values (containers done)
    depth: dict[int, int] = {}
    on_path: set[int] = set()
    stack = [(root, None)]
    while stack:
        node, children = stack.pop()
        if children is None:
            children = children_of(node)
            if children is None or id(node) in size:
                continue
            if id(node) in on_path:
                raise ConfigError(f"{where} refers to itself (a recursive YAML alias); write "
                                  "the values out")
            on_path.add(id(node))
            stack.append((node, children))
            stack += [(c, None) for c in children if id(c) not in size]
            continue
        on_path.discard(id(node))
        size[id(node)] = 1 + sum(size.get(id(c), 1) for c in children)
        depth[id(node)] = 1 + max((depth.get(id(c), 0) for c in children), default=0)
        if size[id(node)] > MAX_CONFIG_NODES:
            raise ConfigError(f"{where} holds more than {MAX_CONFIG_NODES:,} values once its "
                              "YAML aliases are expanded; a config is at most that big")
        if depth[id(node)] > MAX_CONFIG_DEPTH:
            raise ConfigError(f"{where} nests mappings and lists more than "
                              f"{MAX_CONFIG_DEPTH} levels deep; a config nests at most that "
                              "deep")


# libyaml's loader when PyYAML has it (ten times faster on a large file; same safe semantics)
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str, where: str):
    """``yaml.safe_load`` bounded: the document's node graph is checked (``check_bounded``'s
    limits, aliases and merge keys counted as expanded) before any value is constructed, so a
    few hundred bytes of nested aliases cannot expand into gigabytes."""
    loader = _SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None

        def children_of(n):
            if isinstance(n, yaml.MappingNode):
                return [x for pair in n.value for x in pair]
            if isinstance(n, yaml.SequenceNode):
                return list(n.value)
            return None

        _check_graph(node, children_of, where)
        return loader.construct_document(node)
    finally:
        loader.dispose()


# ----- plain dict <-> dataclasses -----


def _to_plain(obj):
    if dataclasses.is_dataclass(obj):
        return {f.name: _to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (tuple, list)):
        return [_to_plain(x) for x in obj]
    if isinstance(obj, dict):
        return {k: _to_plain(v) for k, v in obj.items()}
    return obj


def _from_plain(cls, data, prefix: str):
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'} must be a mapping, got "
                          f"{short(data)}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted((k for k in data if k not in names), key=str)
    if unknown:
        key = f"{prefix}{unknown[0]}"
        raise ConfigError(f"unknown config key {short(key)}; {prefix or 'top-level '}keys are: "
                          f"{', '.join(sorted(names))}")
    kwargs = {k: _coerce(hints[k], v, f"{prefix}{k}") for k, v in data.items()}
    return cls(**kwargs)


def _coerce(hint, value, key: str):
    """Turn a plain value into the field's declared type, or say which key is wrong."""
    if dataclasses.is_dataclass(hint):
        return _from_plain(hint, value, key + ".")
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(inner[0], value, key)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            value = [value]
        return tuple(_coerce(args[0], v, key) for v in value)
    if hint is dict or origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}={short(value)} must be a mapping")
        return _per_seed(value, key) if key == "per_seed" else dict(value)
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise ConfigError(f"{key}={short(value)} must be true or false")
    if hint is int:
        if isinstance(value, bool) or not _is_intlike(value):
            raise ConfigError(f"{key}={short(value)} must be an integer")
        number = value if isinstance(value, int) else int(float(value))
        if abs(number) > MAX_INT:
            raise ConfigError(f"{key}={short(value)} is too large; integer settings are at most "
                              f"{MAX_INT:,}")
        return number
    if hint is float:
        if isinstance(value, bool):
            raise ConfigError(f"{key}={short(value)} must be a number")
        try:
            return float(value)
        except (TypeError, ValueError, OverflowError):  # OverflowError: an int beyond float
            raise ConfigError(f"{key}={short(value)} must be a number") from None
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}={short(value)} must be a string")
        return value
    return value


def _per_seed(value: dict, key: str) -> dict:
    """``per_seed``: names to lists of numbers (their names and lengths are checked when the run
    is planned, against the allowed keys and the seeds)."""
    out = {}
    for name, values in value.items():
        if not isinstance(name, str):
            raise ConfigError(f"{key} key {short(name)} must be a name, e.g. learning_rate")
        if isinstance(values, (list, tuple)):
            for i, v in enumerate(values):
                if isinstance(v, bool) or not isinstance(v, (int, float)):
                    raise ConfigError(f"{key}.{name}[{i}]={short(v)} must be a number")
        out[name] = values
    return out


def _is_intlike(value) -> bool:
    if isinstance(value, int):
        return True
    if isinstance(value, str) and len(value) > 64:  # no number is written that long
        return False
    try:
        return float(value) == int(float(value))
    except (TypeError, ValueError, OverflowError):  # OverflowError: ±inf
        return False


# ----- overrides and files -----


def apply_overrides(cfg: RunConfig, assignments: list[str]) -> RunConfig:
    """Apply ``key=value`` strings (``model.d_model=64``, ``optim.learning_rate=3e-4``). Values
    are parsed as YAML scalars/lists (bounded, ``load_yaml``); unknown keys are refused by
    name."""
    data = cfg.to_dict()
    for item in assignments:
        if "=" not in item:
            raise ConfigError(f"--set {short(item)} must look like key=value (e.g. "
                              "model.d_model=64)")
        key, raw = item.split("=", 1)
        value = _parse_value(raw, key) if raw != "" else None
        node, parts = data, key.strip().split(".")
        for i, part in enumerate(parts[:-1]):
            if not isinstance(node.get(part), dict):
                known = ", ".join(sorted(k for k, v in node.items() if isinstance(v, dict)))
                raise ConfigError(f"unknown config key {short('.'.join(parts[:i + 1]))}; "
                                  f"sections are: {known}")
            node = node[part]
        if parts[-1] not in node and key.split(".")[0] != "per_seed":
            raise ConfigError(f"unknown config key {short(key)}; keys here are: "
                              f"{', '.join(sorted(node))}")
        node[parts[-1]] = value
    return RunConfig.from_dict(data)


def _parse_value(raw: str, key: str):
    where = f"--set {short(key)}"
    if len(raw.encode("utf-8", "replace")) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{where}: the value is longer than {MAX_CONFIG_BYTES:,} bytes")
    try:
        return load_yaml(raw, f"the value of {where}")
    except ConfigError:
        raise
    except RecursionError:
        raise ConfigError(f"{where}: the value is nested too deeply") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: the value {short(raw)} is not a YAML value "
                          f"({_first_line(exc)})") from None


def read_text_file(path: str | Path, what: str = "config file") -> str:
    """The text of a small file the user gave (a config, a sweep spec, a run's config.yaml):
    refused in one line when it is missing, not a regular file, over ``MAX_CONFIG_BYTES``, or
    not UTF-8 text. Only that many bytes are ever read (``/dev/zero`` cannot fill memory)."""
    path = Path(path)
    name = f"{what} {short(str(path), 200)}"
    if not path.exists():
        raise ConfigError(f"{name} does not exist")
    if not path.is_file():
        raise ConfigError(f"{name} is not a regular file; give a TOML, YAML or JSON file")
    with path.open("rb") as f:
        raw = f.read(MAX_CONFIG_BYTES + 1)
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{name} is larger than {MAX_CONFIG_BYTES:,} bytes; a config is at "
                          "most that big")
    if b"\x00" in raw:
        raise ConfigError(f"{name} is not UTF-8 text (it holds NUL bytes); give a TOML, YAML "
                          "or JSON file")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError(f"{name} is not UTF-8 text; give a TOML, YAML or JSON file") from None


def parse_config_text(text: str, suffix: str, where: str):
    """Plain data of a TOML (``.toml``), JSON (``.json``) or YAML (anything else) text, bounded
    (``check_bounded``); no code is executed. ``where`` names the file in errors."""
    try:
        if suffix == ".toml":
            import tomllib

            data = tomllib.loads(text)
        elif suffix == ".json":
            data = json.loads(text)
        else:
            data = load_yaml(text, where)
    except ConfigError:
        raise
    except RecursionError:
        raise ConfigError(f"{where} is malformed: it nests mappings and lists more than "
                          f"{MAX_CONFIG_DEPTH} levels deep") from None
    except Exception as exc:  # parser errors differ per format; report them in one line
        raise ConfigError(f"{where} is malformed: {_first_line(exc)}") from None
    check_bounded(data, where)
    return data


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    return first if len(first) <= 200 else first[:200] + "…"


def load_config_file(path: str | Path, what: str = "config file") -> dict:
    """Read a TOML, YAML or JSON config into a plain dict (no code is executed; bounded in
    size, nesting and alias expansion: ``read_text_file``, ``parse_config_text``)."""
    path = Path(path)
    where = f"{what} {short(str(path), 200)}"
    data = parse_config_text(read_text_file(path, what), path.suffix, where)
    if not isinstance(data, dict):
        raise ConfigError(f"{where} must hold a mapping of sections, got "
                          f"{type(data).__name__}")
    return data


def dump_yaml(cfg: RunConfig) -> str:
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False)
