"""The compiled training program: S seeds × a chunk of steps, then one full evaluation.

One ``jax.jit`` of ``vmap(seed) ∘ scan(steps)`` (docs/architecture.md §6). Everything a step needs
lives on
the device: the task table, each seed's split and labels, and keys derived from the seed, so the
host only dispatches chunks. The objective, initial parameters and trainable mask are inputs, so
distillation and transfer reuse this program unchanged (docs/architecture.md §1 "One engine").

Data order: at epoch e seed s visits its training rows in the order
``jax.random.permutation(fold_in(shuffle_key_s, e), n_train)``, in batches of B; the last batch of
an epoch may be short (it is padded and the padding weighted 0, so it is the same update as an
unpadded short batch). Dropout at step t uses ``fold_in(dropout_key_s, t)``. Both depend only on
(seed, epoch, step), so a resumed run replays exactly the same data and noise. A ``Program``
covers one batch-size phase (engine/phases.py); with a curriculum (engine/curriculum.py) the
batch is drawn from the available rows while the training set grows.

Per step the hyperparameters come from ``Recipe.schedule`` (lr/wd schedules and the adaptive
weight-decay multiplier) and are set in the state of ``Recipe.tx``, the optax chain of
groklab.optim under ``optax.inject_hyperparams``; after each chunk the evaluation also updates
the adaptive weight decay and the self-paced curriculum order, both carried in ``TrainState``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from groklab.engine.curriculum import available, loss_order, sample_available
from groklab.engine.phases import Phase
from groklab.objectives import per_row_loss_and_correct, softmax_collapsed
from groklab.optim import plateau_scale

# objective(model, tokens_BT, labels_B, weights_B, key, inputs, extra) -> (loss, aux scalars);
# it also has ``aux_keys`` (aux entries reported, averaged over a chunk's steps) and
# ``init_extra(key)`` (its own trainable parameters, e.g. a distillation projector)
Objective = Callable[..., tuple[jax.Array, dict]]


class SeedKeys(NamedTuple):
    init: jax.Array
    shuffle: jax.Array
    dropout: jax.Array
    objective: jax.Array  # the objective's own parameters (e.g. a distillation projector)


def seed_keys(seed: int) -> SeedKeys:
    """Independent streams for one seed, derived from the seed value alone (not its index), so
    seed k of a multi-seed run equals a one-seed run with seed k."""
    root = jax.random.key(seed)
    return SeedKeys(*(jax.random.fold_in(root, i) for i in range(4)))


def _extra_tx(learning_rate):
    return optax.adam(learning_rate)


def with_hyperparams(opt_state, hp: dict):
    """An ``optax.inject_hyperparams`` state with this step's hyperparameters."""
    return opt_state._replace(hyperparams={**opt_state.hyperparams, **hp})


class TrainState(NamedTuple):
    """Per-seed state (every leaf has a leading seed axis when vmapped)."""

    params: Any  # nnx.State of nnx.Param
    opt_state: Any
    alive: jax.Array  # bool: False once the seed diverged (its updates are then dropped)
    diverged_step: jax.Array  # int32: step at which it diverged, -1 if never
    grad_norm: jax.Array  # float32: global gradient norm at the last step
    wd_scale: jax.Array  # float32: adaptive weight-decay multiplier (1 unless adaptive)
    order: jax.Array  # int32 [n_train] curriculum order (positions into train_idx), or [1]
    extra: Any = None  # the objective's own trainable parameters (objective.init_extra)
    extra_opt: Any = None  # their Adam state
    aux_sum: Any = None  # sums over the chunk's steps of the objective's aux scalars


@dataclass(frozen=True)
class SharedData:
    """Device arrays every seed reads: the task table."""

    tokens: jax.Array  # [N, T] int32, the full task table
    true_labels: jax.Array  # [N] int32
    # shared-prefix evaluation (engine/prefix.py); an empty prefix [1, 0] turns it off
    prefix_tokens: jax.Array  # [U, P] int32 distinct prefixes of the table
    prefix_index: jax.Array  # [N] int32 each row's prefix
    suffix_tokens: jax.Array  # [N, T − P] int32


@dataclass(frozen=True)
class SeedData:
    """Device arrays of each seed: a leading seed axis [S, …] (inside the vmap, one seed's)."""

    labels: jax.Array  # [S, N] int32, with each seed's label noise applied on its train rows
    train_idx: jax.Array  # [S, n_train] int32
    is_train: jax.Array  # [S, N] bool
    shuffle_key: jax.Array  # [S] keys
    dropout_key: jax.Array  # [S] keys
    order0: jax.Array  # [S, n_train] int32 initial curriculum order, or [S, 1]
    objective_inputs: Any = None  # per-seed inputs of the objective (a teacher's parameters)

    def seed(self, i: int) -> SeedData:
        """Seed ``i``'s slice (what the program's per-seed functions see)."""
        return jax.tree.map(lambda x: x[i], self)


@dataclass(frozen=True)
class Data:
    """Device arrays of a run: the shared task table and the per-seed arrays."""

    shared: SharedData
    seeds: SeedData


for _cls in (SharedData, SeedData, Data):
    jax.tree_util.register_dataclass(
        _cls, data_fields=[f.name for f in dataclasses.fields(_cls)], meta_fields=[])


@dataclass(frozen=True)
class Recipe:
    """The host-built callables a step needs (closures: compared by identity, built once per
    engine). ``schedule(hparams, step, wd_scale)`` gives this step's hyperparameters;
    ``adapt_wd(scale, train_acc, val_acc)`` is the adaptive weight-decay rule or None;
    ``share(epoch)`` the curriculum's available share."""

    # the optimizer: optax.inject_hyperparams of the chain (groklab.optim), whose state holds
    # the learning rates and weight decays that ``with_hyperparams`` sets at every step
    tx: Any
    schedule: Callable
    adapt_wd: Callable | None = None
    share: Callable | None = None
    curriculum: str = "none"
    sam: bool = False


@dataclass(frozen=True)
class Program:
    """Static description of one compiled program (hashable pieces only): one batch-size phase
    of a run."""

    graphdef: Any
    recipe: Recipe
    objective: Objective
    phase: Phase
    n_train: int
    eval_batch_size: int = 4096
    eval_loss: str = "softmax"
    loss_dtype: str = "float32"
    eval_seeds: str = "map"  # "map": one seed after another (CPU); "vmap": batched (devices)

    # ----- one seed -----

    def init_state(self, params, hparams, order0, extra_key) -> TrainState:
        hp = self.recipe.schedule(hparams, 0, jnp.float32(1.0))
        opt_state = with_hyperparams(self.recipe.tx.init(params), hp)
        extra = self.objective.init_extra(extra_key)
        return TrainState(params, opt_state, jnp.array(True), jnp.array(-1, jnp.int32),
                          jnp.array(0.0, jnp.float32), jnp.array(1.0, jnp.float32), order0,
                          extra, _extra_tx(1.0).init(extra), self._zero_aux())

    def _zero_aux(self):
        return {k: jnp.zeros((), jnp.float32) for k in self.objective.aux_keys}

    def _epoch_of(self, step):
        ph = self.phase
        local = step - ph.start_step
        return ph.start_epoch + local // ph.steps_per_epoch, local % ph.steps_per_epoch

    def epoch_order(self, seed: SeedData, epoch):
        """The seed's order of its training rows in ``epoch`` (padded to whole batches)."""
        ph, n = self.phase, self.n_train
        epoch_key = jax.random.fold_in(seed.shuffle_key, epoch)
        return jnp.pad(jax.random.permutation(epoch_key, n).astype(jnp.int32),
                       (0, ph.steps_per_epoch * ph.batch_size - n))

    def _batch(self, seed: SeedData, order, step, perm=None):
        """Positions into train_idx and weights of the batch taken at global step ``step``
        (``perm``: that epoch's ``epoch_order`` if already computed)."""
        ph, n = self.phase, self.n_train
        B = ph.batch_size
        epoch, within = self._epoch_of(step)
        epoch_key = jax.random.fold_in(seed.shuffle_key, epoch)
        perm = self.epoch_order(seed, epoch) if perm is None else perm
        pos = jax.lax.dynamic_slice_in_dim(perm, within * B, B)
        weights = ((within * B + jnp.arange(B)) < n).astype(jnp.float32)
        if self.recipe.curriculum != "none":
            n_avail = available(self.recipe.share(epoch), n, B)
            picked = sample_available(jax.random.fold_in(epoch_key, within + 1), order,
                                      n_avail, B)
            growing = n_avail < n
            pos = jnp.where(growing, picked, pos)
            weights = jnp.where(growing, jnp.ones_like(weights), weights)
        return pos, weights

    def train_step(self, shared: SharedData, seed: SeedData, hparams, state: TrainState, step,
                   perm=None) -> TrainState:
        pos, weights = self._batch(seed, state.order, step, perm)
        rows = seed.train_idx[pos]
        tokens, labels = shared.tokens[rows], seed.labels[rows]
        key = jax.random.fold_in(seed.dropout_key, step)

        def loss_fn(params, obj_extra):
            model = nnx.merge(self.graphdef, params)
            return self.objective(model, tokens, labels, weights, key,
                                  seed.objective_inputs, obj_extra)

        (loss, aux), (grads, g_extra) = jax.value_and_grad(
            loss_fn, argnums=(0, 1), has_aux=True)(state.params, state.extra)
        extra_args = {"value": loss}
        if self.recipe.sam:
            extra_args["grad_fn"] = lambda p, _: jax.grad(
                lambda q: loss_fn(q, state.extra)[0])(p)
        hp = self.recipe.schedule(hparams, step, state.wd_scale)
        updates, opt_state = self.recipe.tx.update(
            grads, with_hyperparams(state.opt_state, hp), state.params, **extra_args)
        params = optax.apply_updates(state.params, updates)
        # the objective's own parameters: Adam at the run's learning rate, no weight decay
        x_updates, extra_opt = _extra_tx(hp["learning_rate"]).update(g_extra, state.extra_opt)
        obj_extra = optax.apply_updates(state.extra, x_updates)
        ok = jnp.isfinite(loss) & jnp.isfinite(optax.tree.norm(params))
        keep = state.alive & ok
        params, opt_state, obj_extra, extra_opt = jax.tree.map(
            lambda new, old: jnp.where(keep, new, old), (params, opt_state, obj_extra, extra_opt),
            (state.params, state.opt_state, state.extra, state.extra_opt),
        )
        aux_sum = {k: state.aux_sum[k] + aux[k].astype(jnp.float32) for k in state.aux_sum}
        diverged_step = jnp.where(state.alive & ~ok, step + 1, state.diverged_step)
        grad_norm = jnp.where(keep, optax.tree.norm(grads), state.grad_norm)
        return state._replace(params=params, opt_state=opt_state, alive=keep,
                              diverged_step=diverged_step.astype(jnp.int32),
                              grad_norm=grad_norm, extra=obj_extra, extra_opt=extra_opt,
                              aux_sum=aux_sum)

    def eval_rows(self, shared: SharedData, seed: SeedData, params):
        """Per-row loss, correctness and softmax collapse over every table row, in eval mode
        (no dropout), in blocks of ``eval_batch_size`` rows."""
        model = nnx.merge(self.graphdef, params)
        N = shared.tokens.shape[0]
        n_blocks = -(-N // min(self.eval_batch_size, N))
        E = -(-N // n_blocks)  # equal blocks: at most n_blocks - 1 padded rows
        pad = n_blocks * E - N

        def blocks(x):
            return jnp.pad(x, ((0, pad),) + ((0, 0),) * (x.ndim - 1)).reshape(n_blocks, E,
                                                                               *x.shape[1:])

        use_prefix = shared.prefix_tokens.shape[1] > 0
        inputs = ((shared.suffix_tokens, shared.prefix_index) if use_prefix
                  else (shared.tokens,))
        dtype = jnp.dtype(self.loss_dtype)

        def block(args):
            *x, lab = args
            logits = (model.logits_shared_prefix(shared.prefix_tokens, x[1], x[0]) if use_prefix
                      else model(x[0]))
            loss, correct = per_row_loss_and_correct(logits, lab, self.eval_loss, dtype)
            return loss.astype(jnp.float32), correct, softmax_collapsed(logits, dtype)

        out = jax.lax.map(block, tuple(blocks(x) for x in (*inputs, seed.labels)))
        return tuple(x.reshape(-1)[:N] for x in out)

    def evaluate(self, shared: SharedData, seed: SeedData, params, rows=None) -> dict:
        """Train metrics over the seed's training rows (with the labels it trains on), val
        metrics over the rest; ``sc_fraction``: share of training rows in Softmax Collapse."""
        loss, correct, collapsed = rows if rows is not None else self.eval_rows(
            shared, seed, params)
        is_train = seed.is_train.astype(jnp.float32)
        is_val = 1.0 - is_train

        def mean(x, m):
            return (x * m).sum() / jnp.maximum(m.sum(), 1.0)

        return {
            "train_loss": mean(loss, is_train), "train_acc": mean(correct, is_train),
            "val_loss": mean(loss, is_val), "val_acc": mean(correct, is_val),
            "weight_norm": optax.tree.norm(params), "sc_fraction": mean(collapsed, is_train),
        }

    def train_steps(self, shared: SharedData, seed: SeedData, hparams, state, start,
                    n_steps: int) -> TrainState:
        """``n_steps`` training steps of one seed from global step ``start`` (one scan)."""
        def body(carry, t):
            st, perm = carry
            # the epoch's order is drawn once, at its first step (or the chunk's first): a
            # permutation is a sort, 4 % of a step when drawn every step
            epoch, within = self._epoch_of(t)
            perm = jax.lax.cond((within == 0) | (t == start),
                                lambda: self.epoch_order(seed, epoch), lambda: perm)
            return (self.train_step(shared, seed, hparams, st, t, perm), perm), None

        ph = self.phase
        perm0 = jnp.zeros(ph.steps_per_epoch * ph.batch_size, jnp.int32)
        state = state._replace(aux_sum=self._zero_aux())
        (state, _), _ = jax.lax.scan(body, (state, perm0),
                                     start + jnp.arange(n_steps, dtype=jnp.int32))
        return state

    def end_chunk(self, shared: SharedData, seed: SeedData, hparams, state, step,
                  n_steps: int = 1):
        """The evaluation at the end of a chunk, and what it updates: the adaptive weight decay
        and the self-paced curriculum order. Returns (state, metrics)."""
        rows = self.eval_rows(shared, seed, state.params)
        metrics = self.evaluate(shared, seed, state.params, rows)
        if self.recipe.adapt_wd is not None:
            scale = self.recipe.adapt_wd(state.wd_scale, metrics["train_acc"],
                                         metrics["val_acc"])
            state = state._replace(wd_scale=jnp.where(state.alive, scale, state.wd_scale))
        if self.recipe.curriculum == "loss":
            state = state._replace(order=loss_order(rows[0][seed.train_idx]))
        hp = self.recipe.schedule(hparams, step, state.wd_scale)
        metrics.update({k: v / n_steps for k, v in state.aux_sum.items()})
        metrics.update(grad_norm=state.grad_norm, alive=state.alive,
                       diverged_step=state.diverged_step,
                       lr=hp["learning_rate"] * plateau_scale(state.opt_state),
                       wd=hp["weight_decay"])
        return state, metrics

    # ----- all seeds, compiled -----

    @partial(jax.jit, static_argnums=(0, 4), donate_argnums=(3,))
    def run_chunk(self, data: Data, hparams, state: TrainState, n_steps: int, start):
        """Every seed's ``n_steps`` steps, vmapped over seeds; then every seed's evaluation,
        one seed after another (``lax.map``) on a single CPU device: the evaluation's big
        forward passes then run at the same speed per seed, where the batched version was
        1.4–1.8× slower for 8 seeds (BENCHMARKS.md). With several devices, or on
        accelerators, the evaluation is vmapped like the steps (``eval_seeds``)."""
        train = partial(self.train_steps, n_steps=n_steps)
        state = jax.vmap(train, in_axes=(None, 0, 0, 0, None))(data.shared, data.seeds, hparams,
                                                                state, start)
        if self.eval_seeds == "vmap":
            return jax.vmap(partial(self.end_chunk, n_steps=n_steps),
                            in_axes=(None, 0, 0, 0, None))(
                data.shared, data.seeds, hparams, state, start + n_steps)
        return jax.lax.map(
            lambda a: self.end_chunk(data.shared, *a, start + n_steps, n_steps),
            (data.seeds, hparams, state))

    @partial(jax.jit, static_argnums=(0,))
    def init_all(self, params, hparams, order0, extra_keys) -> TrainState:
        return jax.vmap(self.init_state)(params, hparams, order0, extra_keys)

    @partial(jax.jit, static_argnums=(0,))
    def evaluate_all(self, data: Data, params) -> dict:
        return jax.vmap(self.evaluate, in_axes=(None, 0, 0))(data.shared, data.seeds, params)
