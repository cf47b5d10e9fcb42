"""The settings of a training run and their defaults: the one home of every training default.

The command line (``fieldnet train``), the pipeline's ``[train]`` table and Python callers all
start from :class:`TrainConfig`; nothing else writes a training default down.  This module
imports no numerical library, so ``fieldnet train --help`` can show the defaults at once.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from fieldnet.errors import FieldnetError

#: the classes of a phase classifier, in output order (the data file's labels 0 and 1)
CLASSES = ("disordered", "ordered")


@dataclass
class TrainConfig:
    """Settings of one training run (all stored in the model file's provenance).

    Attributes:
        preset: named architecture (see :mod:`fieldnet.training.presets`), unless
            ``architecture`` names a JSON file.
        epochs: maximum number of passes over the training split.
        batch_size: samples per optimisation step.
        optimizer: "sgd" (momentum 0.9, weight decay 5e-4) or "adam".
        lr: initial learning rate; None takes the optimiser's own default (sgd 0.01, adam 0.001).
        schedule: "constant", "step" (x0.1 every third of the epochs) or "cosine" (to lr / 100).
        val_fraction: share of every (L, T) point held out for validation.
        patience: stop after this many epochs without a better validation loss (0: never).
        exclude_T: temperature windows (J/k_B) kept out of training and validation.
        ordered_below, disordered_above: label by temperature alone (J/k_B): configurations at
            T <= ordered_below are ordered, at T >= disordered_above disordered, the rest unused;
            None (both) uses the data file's labels, which come from the model's known Tc.
        augment: random translations, point-group symmetries and spin flips.
        seed: seeds weights, split, shuffling, augmentation and dropout.
        sizes: lattice sizes to train on (default: all in the file).
        init_model, freeze: fine-tune from a trained model, keeping its first ``freeze`` layers.
        dropout: rate of a Dropout layer before a preset's final Dense layer (0: none).
    """

    preset: str = "gap"
    architecture: str | None = None
    epochs: int = 10
    batch_size: int = 64
    optimizer: str = "sgd"
    lr: float | None = None
    schedule: str = "cosine"
    val_fraction: float = 0.1
    patience: int = 4
    exclude_T: list[tuple[float, float]] = field(default_factory=list)
    ordered_below: float | None = None
    disordered_above: float | None = None
    augment: bool = True
    seed: int = 0
    sizes: list[int] | None = None
    init_model: str | None = None
    freeze: int = 0
    dropout: float = 0.0

    @classmethod
    def from_settings(cls, **settings: Any) -> TrainConfig:
        """A config from keyword settings; unknown names are a one-line error."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(settings) - known)
        if unknown:
            raise FieldnetError(f"unknown training setting(s) {unknown}; known: {sorted(known)}")
        cfg = cls(**settings)
        cfg.exclude_T = [tuple(map(float, w)) for w in cfg.exclude_T]
        return cfg

    def resolved(self) -> TrainConfig:
        """A validated copy with the optimiser's default learning rate filled in."""
        from dataclasses import replace

        from fieldnet.engine.optimizers import default_learning_rate
        from fieldnet.engine.schedules import SCHEDULES

        self.validate()
        if self.schedule not in SCHEDULES:
            raise FieldnetError(f"unknown --schedule {self.schedule!r}; choose {', '.join(SCHEDULES)}")
        lr = default_learning_rate(self.optimizer) if self.lr is None else self.lr
        return replace(self, lr=float(lr))

    def validate(self) -> None:
        """One-line FieldnetError for the first setting out of range."""
        from fieldnet.engine.optimizers import OPTIMIZERS

        if self.epochs < 1:
            raise FieldnetError(f"--epochs must be at least 1, got {self.epochs}")
        if self.batch_size < 1:
            raise FieldnetError(f"--batch-size must be positive, got {self.batch_size}")
        if self.optimizer not in OPTIMIZERS:
            raise FieldnetError(f"unknown --optimizer {self.optimizer!r}; choose {' or '.join(OPTIMIZERS)}")
        if self.lr is not None and not (self.lr > 0 and math.isfinite(self.lr)):
            raise FieldnetError(f"--lr must be a positive number, got {self.lr}")
        if self.patience < 0:
            raise FieldnetError(f"--patience must be >= 0, got {self.patience}")
        if self.freeze < 0:
            raise FieldnetError(f"--freeze must be >= 0, got {self.freeze}")
        if (self.ordered_below is None) != (self.disordered_above is None):
            raise FieldnetError("give both temperature bands (--ordered-below and --disordered-above) or neither")
        if self.ordered_below is not None and not self.ordered_below < self.disordered_above:
            raise FieldnetError(f"--ordered-below {self.ordered_below} must be below --disordered-above "
                                f"{self.disordered_above}")
        if self.freeze and not self.init_model:
            raise FieldnetError("--freeze K needs --init MODEL (the layers to keep come from a trained model)")

    @property
    def bands(self) -> tuple[float, float] | None:
        """(ordered_below, disordered_above), or None when the file's labels are used."""
        return None if self.ordered_below is None else (float(self.ordered_below), float(self.disordered_above))

    def as_json(self) -> dict:
        """The settings as JSON-able data (windows as lists)."""
        d = asdict(self)
        d["exclude_T"] = [list(map(float, w)) for w in self.exclude_T]
        return d
