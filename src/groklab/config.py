"""The run configuration: one frozen dataclass per part, composed into ``RunConfig``.

The config is the single source of truth (docs/architecture.md §1): CLI flags, ``--set key=value``
and TOML/YAML/JSON files all map onto these fields, and the resolved config is saved as
``config.yaml`` in every run so that ``groklab train --config DIR/config.yaml`` reproduces it.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from groklab.errors import ConfigError
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
class RunConfig:
    task: TaskConfig = field(default_factory=TaskConfig)
    model: ModelConfig = field(default_factory=ModelConfig.seed_teacher)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    transfer: TransferConfig = field(default_factory=TransferConfig)
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
            raise ConfigError(f"a config must be a mapping of sections, got {data!r}")
        data = dict(data)
        preset = data.get("preset", "seed-teacher")
        if preset is not None:
            from groklab.models.config import model_preset

            base = _to_plain(model_preset(preset))
            model = data.get("model") or {}
            if not isinstance(model, dict):
                raise ConfigError(f"model must be a mapping, got {model!r}")
            data["model"] = {**base, **model}
        return _from_plain(cls, data, "")


PER_SEED_KEYS = ("learning_rate", "weight_decay", "muon_learning_rate", "muon_weight_decay")


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
        raise ConfigError(f"{prefix or 'config'} must be a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        key = f"{prefix}{unknown[0]}"
        raise ConfigError(f"unknown config key {key!r}; {prefix or 'top-level '}keys are: "
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
            raise ConfigError(f"{key}={value!r} must be a mapping")
        return dict(value)
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise ConfigError(f"{key}={value!r} must be true or false")
    if hint is int:
        if isinstance(value, bool) or not _is_intlike(value):
            raise ConfigError(f"{key}={value!r} must be an integer")
        return int(float(value))
    if hint is float:
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key}={value!r} must be a number") from None
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}={value!r} must be a string")
        return value
    return value


def _is_intlike(value) -> bool:
    try:
        return float(value) == int(float(value))
    except (TypeError, ValueError, OverflowError):  # OverflowError: ±inf
        return False


# ----- overrides and files -----


def apply_overrides(cfg: RunConfig, assignments: list[str]) -> RunConfig:
    """Apply ``key=value`` strings (``model.d_model=64``, ``optim.learning_rate=3e-4``). Values
    are parsed as YAML scalars/lists; unknown keys are refused by name."""
    data = cfg.to_dict()
    for item in assignments:
        if "=" not in item:
            raise ConfigError(f"--set {item!r} must look like key=value (e.g. model.d_model=64)")
        key, raw = item.split("=", 1)
        value = yaml.safe_load(raw) if raw != "" else None
        node, parts = data, key.strip().split(".")
        for i, part in enumerate(parts[:-1]):
            if not isinstance(node.get(part), dict):
                known = ", ".join(sorted(k for k, v in node.items() if isinstance(v, dict)))
                raise ConfigError(f"unknown config key {'.'.join(parts[:i + 1])!r}; "
                                  f"sections are: {known}")
            node = node[part]
        if parts[-1] not in node and key.split(".")[0] != "per_seed":
            raise ConfigError(f"unknown config key {key!r}; keys here are: "
                              f"{', '.join(sorted(node))}")
        node[parts[-1]] = value
    return RunConfig.from_dict(data)


def load_config_file(path: str | Path) -> dict:
    """Read a TOML, YAML or JSON config into a plain dict (no code is executed)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"config file {str(path)!r} is not UTF-8 text; give a TOML, YAML or "
                          "JSON file") from None
    try:
        if path.suffix == ".toml":
            import tomllib

            data = tomllib.loads(text)
        elif path.suffix == ".json":
            data = json.loads(text)
        else:
            data = yaml.safe_load(text)
    except Exception as exc:  # parser errors differ per format; report them in one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"config file {str(path)!r} is malformed: {first}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {str(path)!r} must hold a mapping of sections, "
                          f"got {type(data).__name__}")
    return data


def dump_yaml(cfg: RunConfig) -> str:
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False)
