"""Post-training weight quantization: which tensors, how many bits, which scales.

Symmetric round-to-nearest (RTN), the baseline of every post-training quantization paper (e.g.
Frantar et al. 2023, GPTQ, arXiv:2210.17323, §2; Dettmers et al. 2022, LLM.int8(),
arXiv:2208.07339, §2): a group of weights ``w`` shares one scale ``s = max|w| / B`` and is
stored as the integers ``q = round(w / s)`` clipped to b bits; the model then runs on the
dequantized weights ``ŵ = s·q``. With qwix's bound ``B = 2^(b−1) − ½`` (the largest bucket is
a full bucket wide), every weight keeps ``|w − ŵ| ≤ s/2``.

The arithmetic is qwix's (``qwix.quantize`` / ``qwix.dequantize``, Google's maintained JAX
quantization library), used on the parameter arrays themselves rather than through its model
interception (``qwix.quantize_model``): groklab's models compute some projections as
elementwise products and index the embedding, so intercepting matmuls would quantize some
weights and silently skip others, while quantizing the arrays covers every weight the same way
and leaves the evaluation exactly the engine's.

Scales (``--scheme``):
- ``per-tensor``: one scale per tensor;
- ``per-channel``: one per output channel (per column of a ``kernel`` [d_in, d_out], per row —
  per token — of an ``embedding`` [rows, d_model]);
- ``group:G``: per output channel and per run of G consecutive inputs (G must divide the input
  dimension).

Which tensors: every 2-D weight matrix (attention, MLP, the two-hot MLP's layers); the token
and position embeddings and the unembedding only with ``embeddings=True``. Biases and norm
scales stay float32 (a few hundred numbers; quantizing them saves nothing worth the error).
Scales are stored as float32.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from groklab.errors import ConfigError, short

BITS_ALLOWED = (2, 3, 4, 5, 6, 7, 8)
SCHEME_NAMES = ("per-channel", "per-tensor", "group:G")
EMBEDDINGS = ("embed.embedding", "pos_embed.embedding", "unembed.kernel")
FLOAT_BYTES = 4


@dataclass(frozen=True)
class Scheme:
    """How weights share scales: ``kind`` is per-tensor, per-channel or group (of ``group``)."""

    kind: str
    group: int | None = None

    @property
    def label(self) -> str:
        return f"group:{self.group}" if self.kind == "group" else self.kind

    @classmethod
    def parse(cls, text: str) -> Scheme:
        text = str(text).strip()
        if text in ("per-channel", "per-tensor"):
            return cls(text)
        kind, sep, size = text.partition(":")
        if kind == "group" and sep:
            try:
                g = int(size)
            except ValueError:
                g = 0
            if g >= 1:
                return cls("group", g)
        raise ConfigError(f"--scheme {short(text)} is not allowed; use per-channel, per-tensor "
                          "or group:G with a whole number G ≥ 1 (e.g. group:32)")


def parse_schemes(text: str) -> tuple[Scheme, ...]:
    """A comma-separated list of schemes, each once."""
    schemes = tuple(Scheme.parse(t) for t in str(text).split(","))
    if len(set(schemes)) != len(schemes):
        raise ConfigError(f"--scheme lists a scheme twice: {short(text)}")
    return schemes


def parse_bits(text: str) -> tuple[int, ...]:
    """A comma-separated list of bit widths from ``BITS_ALLOWED``, each once."""
    try:
        bits = tuple(int(b) for b in str(text).split(","))
    except ValueError:
        bits = ()
    if not bits or any(b not in BITS_ALLOWED for b in bits):
        raise ConfigError(f"--bits {short(text)} is not allowed; give bit widths from "
                          f"{BITS_ALLOWED[0]} to {BITS_ALLOWED[-1]}, comma-separated (e.g. 8,4)")
    if len(set(bits)) != len(bits):
        raise ConfigError(f"--bits lists a width twice: {short(text)}")
    return bits


def is_embedding(name: str) -> bool:
    return name in EMBEDDINGS


def quantized_names(shapes: dict[str, tuple[int, ...]], embeddings: bool) -> list[str]:
    """The tensors that are quantized: 2-D weights, the embeddings only when asked."""
    return sorted(n for n, shape in shapes.items()
                  if len(shape) == 2 and (embeddings or not is_embedding(n)))


def axes(name: str) -> tuple[int, int]:
    """(channel axis, input axis) of a 2-D tensor: a ``kernel`` [d_in, d_out] has its output
    channels on axis 1, an ``embedding`` [rows, d_model] one row per token on axis 0."""
    return (0, 1) if name.endswith(".embedding") else (1, 0)


def check_scheme(scheme: Scheme, shapes: dict[str, tuple[int, ...]], names: list[str]) -> None:
    """A group size must divide the input dimension of every quantized tensor."""
    if scheme.kind != "group":
        return
    for name in names:
        n = shapes[name][axes(name)[1]]
        if n % scheme.group:
            fits = [g for g in (8, 16, 32, 64, 128) if n % g == 0]
            raise ConfigError(f"--scheme group:{scheme.group} does not divide {name}'s input "
                              f"dimension {n}; group sizes that do: "
                              f"{', '.join(map(str, fits)) or 'none of 8–128'}")


def qwix_options(name: str, scheme: Scheme) -> dict:
    """qwix's ``channelwise_axes`` / ``tiled_axes`` for ``name`` under ``scheme``."""
    channel, inputs = axes(name)
    if scheme.kind == "per-tensor":
        return {}
    if scheme.kind == "per-channel":
        return {"channelwise_axes": (channel,)}
    return {"channelwise_axes": (channel,), "tiled_axes": {inputs: scheme.group}}


def require_qwix():
    """The qwix module, or a one-line error naming the extra that installs it."""
    try:
        import qwix
    except ImportError:
        raise ConfigError("groklab quantize needs qwix: pip install 'groklab[quantize]'") from None
    return qwix


def qtype(bits: int):
    import jax.numpy as jnp

    return {8: jnp.int8, 4: jnp.int4}.get(bits, f"int{bits}")


def n_scales(name: str, shape: tuple[int, ...], scheme: Scheme) -> int:
    channel, inputs = axes(name)
    if scheme.kind == "per-tensor":
        return 1
    if scheme.kind == "per-channel":
        return shape[channel]
    return shape[channel] * (shape[inputs] // scheme.group)


def size_bytes(shapes: dict[str, tuple[int, ...]], names: list[str], bits: int | None,
               scheme: Scheme | None) -> int:
    """Bytes of one model's weights: the quantized tensors as packed ``bits``-bit integers
    plus float32 scales, everything else float32 (``bits=None``: all float32)."""
    total = 0
    for name, shape in shapes.items():
        n = math.prod(shape)
        if bits is None or name not in names:
            total += n * FLOAT_BYTES
        else:
            total += math.ceil(n * bits / 8) + n_scales(name, shape, scheme) * FLOAT_BYTES
    return total


def fake_quantize(w, name: str, bits: int, scheme: Scheme):
    """The dequantized ``ŵ`` of one tensor ``w`` (a JAX array, traceable)."""
    qwix = require_qwix()
    return qwix.dequantize(qwix.quantize(w, qtype(bits), **qwix_options(name, scheme)))


def expected_scales(w: np.ndarray, name: str, bits: int, scheme: Scheme) -> np.ndarray:
    """Each weight's scale ``max|w| / (2^(b−1) − ½)`` over its group, computed in NumPy
    (independent of qwix: the tests check qwix's result against it)."""
    channel, inputs = axes(name)
    a = np.abs(np.asarray(w, np.float64))
    if scheme.kind == "per-tensor":
        m = np.full(a.shape, a.max())
    elif scheme.kind == "per-channel":
        m = np.broadcast_to(a.max(axis=inputs, keepdims=True), a.shape)
    else:
        moved = np.moveaxis(a, inputs, 0)
        g = moved.reshape(moved.shape[0] // scheme.group, scheme.group, *moved.shape[1:])
        m = np.moveaxis(np.broadcast_to(g.max(axis=1, keepdims=True), g.shape)
                        .reshape(moved.shape), 0, inputs)
    return m / (2 ** (bits - 1) - 0.5)
