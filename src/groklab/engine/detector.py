"""Early grokking detection: flag, from the curves so far, that a seed is entering the transition.

The rule (documented in docs/recipes.md, defaults in TrainConfig):
1. *Armed* at the first evaluation where train_acc − val_acc ≥ ``gap`` (0.3): the model has
   memorized a good part of its training set without generalizing.
2. From then on it tracks the peak validation loss.
3. It *fires* at the evaluation that completes ``patience`` (3) consecutive evaluations with
   val_loss ≤ (1 − ``drop``) · peak (drop 0.3): a sustained fall of the held-out loss while the
   gap is open. In grokking runs the validation loss peaks during memorization and falls for a
   long stretch before validation accuracy moves (the slow circuit formation of Nanda et al. 2023),
   so this fires well before val_acc crosses 0.95.

It only reads what a researcher would see on the live curves, so it runs in the host loop. Each
seed's detection is scored against the true milestone (steps to val 0.95) by ``score``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class EarlyDetector:
    gap: float = 0.3
    drop: float = 0.3
    patience: int = 3
    armed_step: int | None = None
    peak_val_loss: float = float("-inf")
    streak: int = 0
    fired_step: int | None = None
    fired_epoch: float | None = None

    def update(self, rec: dict) -> bool:
        """Fold in one metrics record; True exactly at the evaluation where it fires."""
        if self.fired_step is not None:
            return False
        val_loss = rec.get("val_loss")
        if val_loss is None:  # a diverged seed has no finite loss
            return False
        if self.armed_step is None:
            if rec["train_acc"] - rec["val_acc"] >= self.gap:
                self.armed_step = rec["step"]
            else:
                return False
        self.peak_val_loss = max(self.peak_val_loss, val_loss)
        if val_loss <= (1 - self.drop) * self.peak_val_loss:
            self.streak += 1
        else:
            self.streak = 0
        if self.streak >= self.patience:
            self.fired_step, self.fired_epoch = rec["step"], rec["epoch"]
            return True
        return False


def score(fired_step: int | None, target_step: int | None) -> dict:
    """Compare a detection with the true milestone.

    outcome: ``early`` (fired before the milestone; lead_steps > 0), ``late`` (fired at or after
    it), ``missed`` (the seed reached the milestone, the detector never fired), ``false_alarm``
    (fired, the seed never reached it within the budget), ``quiet`` (neither)."""
    if fired_step is None:
        outcome = "missed" if target_step is not None else "quiet"
        return {"fired_step": None, "target_step": target_step, "lead_steps": None,
                "outcome": outcome}
    if target_step is None:
        return {"fired_step": fired_step, "target_step": None, "lead_steps": None,
                "outcome": "false_alarm"}
    lead = target_step - fired_step
    return {"fired_step": fired_step, "target_step": target_step, "lead_steps": lead,
            "outcome": "early" if lead > 0 else "late"}
