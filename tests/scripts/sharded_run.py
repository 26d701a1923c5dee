"""Train 4 tiny seeds and print the records and how many devices hold the parameters (JSON).
Run by test_engine.py with and without forced host devices (XLA_FLAGS)."""

import dataclasses
import json

import jax

from groklab.config import RunConfig, apply_overrides
from groklab.engine.loop import Engine, Hooks
from groklab.engine.setup import plan_run

TINY = ["task.p=7", "model.d_model=16", "model.n_layers=1", "model.dropout=0.1",
        "train.batch_size=8", "train.epochs=3"]
cfg = dataclasses.replace(apply_overrides(RunConfig(), TINY), seeds=(0, 1, 2, 3))
records = []
result = Engine(plan_run(cfg)).run(hooks=Hooks(on_eval=records.extend))
leaf = jax.tree.leaves(result.state.params)[0]
print(json.dumps({"devices": jax.device_count(), "placed_on": len(leaf.sharding.device_set),
                  "records": records}))
