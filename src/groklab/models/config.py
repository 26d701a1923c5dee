"""Model configuration: one frozen dataclass, named presets as classmethods.

Dimension names follow TransformerLens (d_model, n_heads, d_head, d_mlp, n_ctx, d_vocab).
``d_vocab`` and ``n_ctx`` usually come from the task (``resolve_for_task``); presets leave them
unset.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from groklab.errors import ConfigError

DROPOUT_RNGS = ("hash", "threefry")  # the mask generators of models/dropout.py

POSITIONS = ("learned", "rope", "alibi", "none")
NORMS = ("rmsnorm", "layernorm", "none")
NORM_POSITIONS = ("pre", "post")
ACTIVATIONS = ("relu", "gelu", "silu", "swiglu")
KINDS = ("transformer", "mlp")
MLP_ACTIVATIONS = ("quadratic", "relu", "gelu", "silu")


@dataclass(frozen=True, slots=True)
class ModelConfig:
    """Everything that decides a model's architecture; nothing about training."""

    kind: str = "transformer"  # "transformer" or "mlp" (the two-hot MLP of Gromov 2023)
    d_vocab: int | None = None  # input/output vocabulary; None = take it from the task
    n_ctx: int | None = None  # sequence length; None = take it from the task
    # transformer
    n_layers: int = 2  # number of blocks
    d_model: int = 128  # residual stream width
    n_heads: int = 1  # attention heads per block
    d_head: int | None = None  # per-head width; None = d_model // n_heads
    d_mlp: int | None = None  # MLP hidden width; None = 4 · d_model
    positions: str = "rope"  # learned / rope / alibi / none
    rope_base: float = 1e6  # RoPE frequency base (the seeds use 1e6, not 1e4)
    norm: str = "rmsnorm"  # rmsnorm / layernorm / none
    norm_eps: float = 1e-6  # epsilon inside the norm
    norm_position: str = "pre"  # pre-norm (x + f(norm(x))) or post-norm (norm(x + f(x)))
    activation: str = "swiglu"  # relu / gelu / silu / swiglu (gated, Shazeer 2020)
    dropout: float = 0.0  # on attention output and MLP hidden activations, train mode only
    dropout_rng: str = "hash"  # keep masks from a keyed integer hash, or "threefry" (dropout.py)
    use_bias: bool = False  # biases in every linear layer
    causal: bool = True  # causal attention mask
    # two-hot MLP (kind == "mlp")
    mlp_width: int = 512  # hidden width N
    mlp_activation: str = "quadratic"  # φ: quadratic (x², Gromov 2023) / relu / gelu / silu
    mlp_output_scale: float | None = None  # multiplies the output; None = 1 / mlp_width
    operand_positions: tuple[int, ...] | None = None  # MLP input positions; None = from the task

    # ----- derived sizes -----
    @property
    def head_dim(self) -> int:
        return self.d_head if self.d_head is not None else self.d_model // self.n_heads

    @property
    def mlp_dim(self) -> int:
        return self.d_mlp if self.d_mlp is not None else 4 * self.d_model

    # ----- presets -----
    @classmethod
    def seed_teacher(cls, **override) -> ModelConfig:
        """The seeds' teacher: 2 layers, d_model 128, 1 head, RoPE base 1e6, pre-RMSNorm eps 1e-6,
        SwiGLU hidden 4·d_model, no biases, dropout 0.2 (550,272 parameters with vocab 99)."""
        base = dict(
            n_layers=2, d_model=128, n_heads=1, positions="rope", rope_base=1e6, norm="rmsnorm",
            norm_eps=1e-6, norm_position="pre", activation="swiglu", dropout=0.2, use_bias=False,
        )
        return cls(**{**base, **override})

    @classmethod
    def power2022(cls, **override) -> ModelConfig:
        """Power et al. 2022 (arXiv:2201.02177, §A.1.2): decoder-only, 2 layers, width 128, 4 heads,
        learned positions; pre-LayerNorm, ReLU MLP of width 4·d_model, biases, no dropout."""
        base = dict(
            n_layers=2, d_model=128, n_heads=4, positions="learned", norm="layernorm",
            norm_eps=1e-5, norm_position="pre", activation="relu", dropout=0.0, use_bias=True,
        )
        return cls(**{**base, **override})

    @classmethod
    def nanda2023(cls, **override) -> ModelConfig:
        """Nanda et al. 2023 (arXiv:2301.05217, progress measures): 1 layer, d_model 128, 4 heads of
        32, d_mlp 512, ReLU, no LayerNorm, learned positions; input [a, b, =] (task layout
        ``no_op``)."""
        base = dict(
            n_layers=1, d_model=128, n_heads=4, d_head=32, d_mlp=512, positions="learned",
            norm="none", activation="relu", dropout=0.0, use_bias=False,
        )
        return cls(**{**base, **override})

    @classmethod
    def gromov_mlp(cls, **override) -> ModelConfig:
        """Gromov 2023 (arXiv:2301.02679): f(a, b) = s · W₂ φ(W₁ [e_a ⊕ e_b]) with φ(x) = x², width
        512 and output scale s = 1/N; the two-hot input concatenates one-hots of the operands."""
        base = dict(kind="mlp", mlp_width=512, mlp_activation="quadratic", use_bias=False)
        return cls(**{**base, **override})

    # ----- validation -----
    def validate(self) -> ModelConfig:
        """Raise ConfigError naming the first bad value; return self so calls chain."""
        _choice("model.kind", self.kind, KINDS)
        if self.kind == "mlp":
            _choice("model.mlp_activation", self.mlp_activation, MLP_ACTIVATIONS)
            _positive("model.mlp_width", self.mlp_width)
            return self
        _choice("model.positions", self.positions, POSITIONS)
        _choice("model.norm", self.norm, NORMS)
        _choice("model.norm_position", self.norm_position, NORM_POSITIONS)
        _choice("model.activation", self.activation, ACTIVATIONS)
        for name in ("n_layers", "d_model", "n_heads"):
            _positive(f"model.{name}", getattr(self, name))
        if self.d_head is None and self.d_model % self.n_heads:
            raise ConfigError(
                f"d_model={self.d_model} is not divisible by n_heads={self.n_heads}; choose "
                f"n_heads among the divisors of {self.d_model} "
                f"({', '.join(str(h) for h in _divisors(self.d_model))}) or set d_head"
            )
        if self.d_head is not None:
            _positive("model.d_head", self.d_head)
        if self.d_mlp is not None:
            _positive("model.d_mlp", self.d_mlp)
        if self.positions == "rope" and self.head_dim % 2:
            raise ConfigError(f"d_head={self.head_dim} is odd; RoPE needs an even head width")
        _choice("model.dropout_rng", self.dropout_rng, DROPOUT_RNGS)
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"model.dropout={self.dropout} is outside [0, 1)")
        if self.rope_base <= 0:
            raise ConfigError(f"model.rope_base={self.rope_base} must be > 0")
        return self

    def resolve_for_task(
        self, d_vocab: int, n_ctx: int, operand_positions: tuple[int, ...]
    ) -> ModelConfig:
        """Fill in the task's vocabulary, length and operand positions; refuse a mismatch with
        values set explicitly."""
        want = dict(d_vocab=d_vocab, n_ctx=n_ctx, operand_positions=tuple(operand_positions))
        for field, value in want.items():
            have = getattr(self, field)
            if have is not None and tuple(_as_tuple(have)) != tuple(_as_tuple(value)):
                raise ConfigError(f"model.{field}={have} does not match the task's {field}={value}")
        return dataclasses.replace(self, **want).validate()


def _divisors(n: int) -> list[int]:
    return [h for h in range(1, n + 1) if n % h == 0]


def _as_tuple(x):
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _choice(name: str, value, allowed) -> None:
    if value not in allowed:
        raise ConfigError(f"{name}={value!r} is not allowed; choose one of {', '.join(allowed)}")


def _positive(name: str, value) -> None:
    if not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name}={value!r} must be a positive integer")


MODEL_PRESETS = {
    "seed-teacher": ModelConfig.seed_teacher,
    "power2022": ModelConfig.power2022,
    "nanda2023": ModelConfig.nanda2023,
    "gromov-mlp": ModelConfig.gromov_mlp,
}


def model_preset(name: str, **override) -> ModelConfig:
    """The named preset, with field overrides."""
    if name not in MODEL_PRESETS:
        raise ConfigError(f"unknown preset {name!r}; known presets: {', '.join(MODEL_PRESETS)}")
    return MODEL_PRESETS[name](**override)


def param_count(model: ModelConfig) -> int:
    """Parameters of one seed's model (resolved for its task), from the config alone, without
    JAX: the formula of models.transformer / models.mlp (tests/test_hostile_inputs.py checks it
    against ``count_params`` of every preset and option; the memory estimate and
    ``groklab presets`` use it)."""
    V, b = model.d_vocab, int(model.use_bias)
    if model.kind == "mlp":
        n_in = len(model.operand_positions) * V
        return n_in * model.mlp_width + model.mlp_width * V + b * (model.mlp_width + V)
    D, H, Dh, M, L = model.d_model, model.n_heads, model.head_dim, model.mlp_dim, model.n_layers
    norm = {"rmsnorm": D, "layernorm": D * (1 + b)}.get(model.norm, 0)
    attn = 4 * D * H * Dh + b * (3 * H * Dh + D)
    gated = model.activation == "swiglu"
    mlp = (3 if gated else 2) * D * M + b * ((2 if gated else 1) * M + D)
    pos = model.n_ctx * D if model.positions == "learned" else 0
    final_norm = norm if model.norm_position == "pre" else 0
    return V * D + pos + L * (attn + mlp + 2 * norm) + final_norm + D * V + b * V


def scaled(config: ModelConfig, width: float = 1.0, depth: float = 1.0) -> ModelConfig:
    """A width- and/or depth-scaled copy (for students): d_model, d_mlp (if set), d_head (if set)
    and the MLP width scale by ``width``; n_layers by ``depth``. Head count is kept, so each head
    narrows. 0.5× width of seed-teacher has 144,064 parameters with vocab 99."""
    if width <= 0 or depth <= 0:
        raise ConfigError(f"scale width={width}, depth={depth} must both be > 0")

    def w(x: int | None) -> int | None:
        return None if x is None else max(1, round(x * width))

    return dataclasses.replace(
        config,
        d_model=w(config.d_model),
        d_head=w(config.d_head),
        d_mlp=w(config.d_mlp),
        mlp_width=w(config.mlp_width),
        n_layers=max(1, round(config.n_layers * depth)),
    )
