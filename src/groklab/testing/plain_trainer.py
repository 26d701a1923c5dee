"""A deliberately plain trainer: the yardstick the engine is measured and checked against.

Same model, same initial parameters, same data order and dropout keys, same AdamW recipe as the
engine, but written the obvious way: one ``jax.jit`` call per step from a Python loop, batches
gathered on the host, the model's full forward over every position (logits read at the last),
and an evaluation of the whole table every epoch. The benchmark suite runs it side by side with
the engine (so speed-ups are ratios measured in one session), and the tests check that both give
the same results (dropout off: identical batches and updates within float tolerance).

One seed only, plain softmax cross-entropy and AdamW with warmup (the reference workload's
recipe); it refuses anything else.
"""

from __future__ import annotations

import math
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from groklab.engine.program import seed_keys
from groklab.engine.setup import Plan
from groklab.models import build_model


class PlainTrainer:
    def __init__(self, plan: Plan, seed_index: int = 0):
        cfg = plan.config
        o = cfg.optim
        plain = (o.name == "adamw" and o.lr_schedule == "constant" and o.wd_schedule ==
                 "constant" and o.grokfast == "none" and not o.orthograd and o.sam_rho == 0
                 and o.clip_norm is None and not o.constrain_norm and o.init_scale == 1.0
                 and cfg.train.loss == "softmax" and cfg.train.batch_schedule == "constant"
                 and cfg.train.curriculum == "none")
        if not plain:
            raise ValueError("PlainTrainer covers the reference recipe only (AdamW + warmup, "
                             "softmax CE, constant batch, no filters)")
        seed = cfg.seeds[seed_index]
        keys = seed_keys(seed)
        self.plan, self.split = plan, plan.splits[seed_index]
        self.graphdef, self.params = nnx.split(build_model(cfg.model, keys.init))
        self.shuffle_key, self.dropout_key = keys.shuffle, keys.dropout
        warmup = o.warmup_steps

        def lr(count):
            return o.learning_rate * (jnp.minimum(count / warmup, 1.0) if warmup else 1.0)

        self.tx = optax.adamw(lr, b1=o.b1, b2=o.b2, eps=o.eps, weight_decay=o.weight_decay)
        self.opt_state = self.tx.init(self.params)
        task = plan.task
        self.tokens = np.asarray(task.tokens, np.int32)
        self.labels = np.array(task.labels, np.int32)
        self.labels[self.split.train_idx] = self.split.train_labels
        self.is_train = np.zeros(len(self.labels), bool)
        self.is_train[self.split.train_idx] = True
        self.step_count = 0
        self._step = jax.jit(self._step_fn)
        self._eval = jax.jit(self._eval_fn)

    def _logits(self, params, tokens, key=None):
        return nnx.merge(self.graphdef, params)(tokens, key, all_positions=True)[:, -1]

    def _step_fn(self, params, opt_state, tokens, labels, key):
        def loss_fn(p):
            logits = self._logits(p, tokens, key)
            return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = self.tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    def _eval_fn(self, params, tokens, labels):
        logits = self._logits(params, tokens)
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
        return loss, (jnp.argmax(logits, -1) == labels)

    def epoch_batches(self, epoch: int) -> list[np.ndarray]:
        """Row indices of each batch of ``epoch`` (the engine's order)."""
        n, B = len(self.split.train_idx), self.plan.batch_size
        perm = np.asarray(jax.random.permutation(jax.random.fold_in(self.shuffle_key, epoch), n))
        rows = self.split.train_idx[perm]
        return [rows[i:i + B] for i in range(0, n, B)]

    def train_epoch(self, epoch: int) -> None:
        for rows in self.epoch_batches(epoch):
            key = jax.random.fold_in(self.dropout_key, self.step_count)
            self.params, self.opt_state, _ = self._step(
                self.params, self.opt_state, self.tokens[rows], self.labels[rows], key)
            self.step_count += 1

    def evaluate(self) -> dict:
        loss, correct = jax.device_get(self._eval(self.params, self.tokens, self.labels))
        tr, va = self.is_train, ~self.is_train
        return {"train_loss": float(loss[tr].mean()), "train_acc": float(correct[tr].mean()),
                "val_loss": float(loss[va].mean()), "val_acc": float(correct[va].mean())}

    def run_until(self, val_acc: float, max_epochs: int) -> dict:
        """Train epoch by epoch, evaluating after each, until val accuracy ≥ ``val_acc``."""
        t0 = time.perf_counter()
        for epoch in range(max_epochs):
            self.train_epoch(epoch)
            m = self.evaluate()
            if m["val_acc"] >= val_acc:
                return {"epochs": epoch + 1, "seconds": time.perf_counter() - t0, **m}
        return {"epochs": None, "seconds": time.perf_counter() - t0, **m}

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(len(self.split.train_idx) / self.plan.batch_size)
