"""One compiled program per run: every seed's model evaluated in float32 and with each
quantization variant's dequantized weights, on the seed's recorded train and validation rows
(together the whole task table). One compiled program maps over the seeds; the same program
serves every checkpoint of ``--all_checkpoints``."""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
from flax import nnx

from groklab.objectives.losses import per_row_loss
from groklab.params import param_name
from groklab.quantize.schemes import Scheme, fake_quantize

# rows per forward pass: bounds the activations' memory on large tables (p = 113: 12,769 rows)
CHUNK = 4096


@dataclass(frozen=True)
class Variant:
    bits: int
    scheme: Scheme

    @property
    def label(self) -> str:
        return f"int{self.bits} {self.scheme.label}"


def quantize_tree(params, names: frozenset[str], variant: Variant):
    """``params`` (one seed) with every tensor in ``names`` replaced by its dequantized
    version."""
    def one(path, leaf):
        name = param_name(path)
        return fake_quantize(leaf, name, variant.bits, variant.scheme) if name in names else leaf

    return jax.tree_util.tree_map_with_path(one, params)


def _relative_error(params, quantized, names: frozenset[str]):
    """‖W − Ŵ‖ / ‖W‖ over all quantized tensors together (Frobenius)."""
    num = den = jnp.float32(0)
    flat = jax.tree_util.tree_leaves_with_path(params)
    flat_q = jax.tree_util.tree_leaves(quantized)
    for (path, w), wq in zip(flat, flat_q):
        if param_name(path) in names:
            num += jnp.sum((w - wq) ** 2)
            den += jnp.sum(w ** 2)
    return jnp.sqrt(num / jnp.maximum(den, 1e-30))


def _scores(graphdef, loss: str, params, tokens_NT, labels_N):
    model = nnx.merge(graphdef, params)
    n = tokens_NT.shape[0]
    correct = total = jnp.float32(0)
    for start in range(0, n, CHUNK):  # unrolled at trace time: shapes are static
        logits = model(tokens_NT[start:start + CHUNK])
        y = labels_N[start:start + CHUNK]
        correct += jnp.sum(jnp.argmax(logits, -1) == y)
        total += jnp.sum(per_row_loss(logits, y, loss))
    return {"acc": correct / n, "loss": total / n}


def evaluation(graphdef, loss: str, names: frozenset[str], variants: tuple[Variant, ...]):
    """``f(params_S, train_tokens, train_labels, val_tokens, val_labels)`` → per seed, for
    ``"float32"`` and each variant's label: train/val accuracy and loss, and for the variants
    the relative weight error. Arrays carry a leading seed axis."""

    def one_seed(params, tr_x, tr_y, va_x, va_y):
        def measure(p):
            tr = _scores(graphdef, loss, p, tr_x, tr_y)
            va = _scores(graphdef, loss, p, va_x, va_y)
            return {"train_acc": tr["acc"], "train_loss": tr["loss"],
                    "val_acc": va["acc"], "val_loss": va["loss"]}

        out = {"float32": measure(params)}
        for v in variants:
            q = quantize_tree(params, names, v)
            out[v.label] = measure(q) | {"weight_error": _relative_error(params, q, names)}
        return out

    # seeds one after another (lax.map, compiled once): the activations of one seed's rows at
    # a time, not of every seed at once
    return jax.jit(lambda *args: jax.lax.map(lambda a: one_seed(*a), args))
