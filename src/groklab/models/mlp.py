"""The two-hot MLP of Gromov 2023 ("Grokking modular arithmetic", arXiv:2301.02679), also used by
Liu et al. 2022 (Omnigrok) for algorithmic data.

f(a, b) = s · W₂ φ(W₁ [e_a ⊕ e_b]) where e_a is the one-hot of operand a (size d_vocab), ⊕ is
concatenation, φ is the activation (x² in Gromov) and s the output scale (1/N by default, N the
width). The one-hot matmul is computed as a sum of gathered rows of W₁, which is the same number
without building the [B, 2·d_vocab] input.
"""

from __future__ import annotations

import jax.numpy as jnp
from flax import nnx

from groklab.models.config import ModelConfig
from groklab.models.hooks import NO_HOOKS, CachingMixin, Recorder
from groklab.models.layers import ACTIVATION_FNS


class TwoHotMLP(CachingMixin, nnx.Module):
    def __init__(self, cfg: ModelConfig, rngs: nnx.Rngs):
        cfg.validate()
        if cfg.d_vocab is None or not cfg.operand_positions:
            raise ValueError("resolve d_vocab and operand_positions (resolve_for_task) first")
        self.config = cfg
        n_in = len(cfg.operand_positions) * cfg.d_vocab
        self.w_in = nnx.Linear(n_in, cfg.mlp_width, use_bias=cfg.use_bias, rngs=rngs)
        self.w_out = nnx.Linear(cfg.mlp_width, cfg.d_vocab, use_bias=cfg.use_bias, rngs=rngs)
        self.act = ACTIVATION_FNS[cfg.mlp_activation]
        self.positions = tuple(cfg.operand_positions)
        self.d_vocab = cfg.d_vocab
        self.scale = (
            cfg.mlp_output_scale if cfg.mlp_output_scale is not None else 1.0 / cfg.mlp_width
        )

    def __call__(self, tokens_BT, key=None, rec: Recorder = NO_HOOKS, all_positions=False):
        del key, all_positions  # no dropout; one output per row
        rows = jnp.stack(
            [tokens_BT[:, pos] + i * self.d_vocab for i, pos in enumerate(self.positions)], axis=1
        )
        pre = self.w_in.kernel[...][rows].sum(axis=1)
        if self.w_in.bias is not None:
            pre = pre + self.w_in.bias[...]
        pre = rec("hook_hidden_pre", pre)
        post = rec("hook_hidden_post", self.act(pre))
        return self.scale * self.w_out(post)

    def hook_names(self) -> list[str]:
        return ["hook_hidden_pre", "hook_hidden_post"]
