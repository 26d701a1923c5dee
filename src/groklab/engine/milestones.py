"""Grokking milestones per seed, updated eval by eval (docs/architecture.md §4).

- memorized: first eval with train_acc ≥ 0.99 (configurable);
- steps_to_val_acc[t]: first eval step with val_acc ≥ t for t in 0.5, 0.9, 0.95, 0.99;
- grokked: val_acc ≥ the grokked threshold (0.99) at some eval;
- transition width: steps from val 0.5 to val 0.95;
- grokking delay: steps_to_val_acc[0.99] − memorized_step;
- the Muon paper's "grokking epoch" (Tveit et al. 2025): first epoch with val ≥ 0.95 after train
  accuracy ≈ 1 (≥ the memorized threshold), reported as ``grokking_epoch_muon``.
A threshold never reached is ``None`` (censored at the budget), never a made-up number.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from groklab.engine.detector import EarlyDetector, score

THRESHOLDS = (0.5, 0.9, 0.95, 0.99)  # the val accuracies every run records the steps to
THRESHOLD_KEYS = tuple(str(t) for t in THRESHOLDS)  # their keys in summary.json


@dataclass
class Milestones:
    seed: int
    memorized_threshold: float = 0.99
    grokked_threshold: float = 0.99
    memorized_step: int | None = None
    memorized_epoch: float | None = None
    steps_to: dict = field(default_factory=lambda: {t: None for t in THRESHOLDS})
    epochs_to: dict = field(default_factory=lambda: {t: None for t in THRESHOLDS})
    grokked_step: int | None = None
    grokking_epoch_muon: float | None = None
    diverged_step: int | None = None
    final: dict = field(default_factory=dict)
    max_val_acc: float = 0.0
    detector: EarlyDetector = field(default_factory=EarlyDetector)

    def update(self, rec: dict) -> bool:
        """Fold in one metrics record (step, epoch, train_acc, val_acc, ...); ``rec`` is only
        read. Returns the early-grokking detector's verdict: True at the eval where it fires."""
        step, epoch = rec["step"], rec["epoch"]
        alarm = self.detector.update(rec)
        self.max_val_acc = max(self.max_val_acc, rec["val_acc"])
        if self.memorized_step is None and rec["train_acc"] >= self.memorized_threshold:
            self.memorized_step, self.memorized_epoch = step, epoch
        for t in THRESHOLDS:
            if self.steps_to[t] is None and rec["val_acc"] >= t:
                self.steps_to[t], self.epochs_to[t] = step, epoch
        if self.grokked_step is None and rec["val_acc"] >= self.grokked_threshold:
            self.grokked_step = step
        if (self.grokking_epoch_muon is None and self.memorized_step is not None
                and rec["val_acc"] >= 0.95):
            self.grokking_epoch_muon = epoch
        if rec.get("diverged_step") is not None and self.diverged_step is None:
            self.diverged_step = rec["diverged_step"]
        self.final = {k: rec[k] for k in
                      ("train_acc", "val_acc", "train_loss", "val_loss", "weight_norm") if k in rec}
        return alarm

    @classmethod
    def for_run(cls, seed: int, train) -> Milestones:
        """Milestones with the thresholds and detector settings of a TrainConfig."""
        return cls(seed, train.memorized_threshold, train.grokked_threshold,
                   detector=EarlyDetector(train.detect_gap, train.detect_drop,
                                          train.detect_patience))

    @property
    def grokked(self) -> bool:
        return self.grokked_step is not None

    def reached(self, threshold: float) -> bool:
        """Has val_acc been ≥ ``threshold`` at some eval?"""
        return self.max_val_acc >= threshold

    def to_dict(self) -> dict:
        s = self.steps_to
        width = s[0.95] - s[0.5] if s[0.95] is not None and s[0.5] is not None else None
        delay = (s[0.99] - self.memorized_step
                 if s[0.99] is not None and self.memorized_step is not None else None)
        return {
            "seed": self.seed,
            "memorized_step": self.memorized_step,
            "memorized_epoch": self.memorized_epoch,
            "steps_to_val_acc": {str(t): v for t, v in self.steps_to.items()},
            "epochs_to_val_acc": {str(t): v for t, v in self.epochs_to.items()},
            "grokked": self.grokked,
            "grokked_step": self.grokked_step,
            "transition_width_steps": width,
            "grokking_delay_steps": delay,
            "grokking_epoch_muon": self.grokking_epoch_muon,
            "diverged": self.diverged_step is not None,
            "diverged_step": self.diverged_step,
            "early_detection": {"fired_epoch": self.detector.fired_epoch,
                                **score(self.detector.fired_step, s[0.95])},
            "final": self.final,
        }


def observe(milestones: list[Milestones], records: list[dict]) -> list[dict]:
    """Fold one evaluation (a record per seed, in seed order) into each seed's milestones;
    returns new records with the detector's ``grok_alarm`` added."""
    return [{**rec, "grok_alarm": m.update(rec)} for m, rec in zip(milestones, records)]
