"""Learning-rate schedules: the rate for each epoch (counted from 0) of a run of known length.

Every schedule is built the same way, ``Schedule(lr0, total_epochs, ...)``, so a training run
picks one by name with :func:`get_schedule` and its own length.
"""

from __future__ import annotations

import math

from fieldnet.errors import FieldnetError


class Constant:
    """lr(epoch) = lr0.

    Args:
        lr0: the learning rate.  total_epochs: the run's length (not used).
    """

    def __init__(self, lr0: float, total_epochs: int | None = None):
        self.lr0 = float(lr0)

    def lr(self, epoch: int) -> float:
        return self.lr0


class StepDecay:
    """lr(epoch) = lr0 * factor ** (epoch // step): AlexNet's divide-by-10 steps.

    Args:
        lr0: the initial learning rate.
        total_epochs: the run's length; with it the default step is a third of the run.
        step: epochs between two drops (default: max(1, total_epochs // 3), or 10 without a length).
        factor: the drop.
    """

    def __init__(self, lr0: float, total_epochs: int | None = None, step: int | None = None, factor: float = 0.1):
        if step is None:
            step = max(1, int(total_epochs) // 3) if total_epochs else 10
        if step < 1:
            raise FieldnetError(f"step decay: step must be >= 1 epoch, got {step}")
        self.lr0, self.step, self.factor = float(lr0), int(step), float(factor)

    def lr(self, epoch: int) -> float:
        return self.lr0 * self.factor ** (epoch // self.step)


class Cosine:
    """lr(epoch) = lr_min + (lr0 - lr_min) (1 + cos(pi epoch / total)) / 2, flat after ``total`` epochs.

    Args:
        lr0: the initial learning rate.  total_epochs: the run's length.
        lr_min: the final rate (default lr0 / 100).
    """

    def __init__(self, lr0: float, total_epochs: int, lr_min: float | None = None):
        if total_epochs < 1:
            raise FieldnetError(f"cosine schedule: total_epochs must be >= 1, got {total_epochs}")
        self.lr0, self.total = float(lr0), int(total_epochs)
        self.lr_min = self.lr0 * 0.01 if lr_min is None else float(lr_min)

    def lr(self, epoch: int) -> float:
        t = min(epoch, self.total) / self.total
        return self.lr_min + (self.lr0 - self.lr_min) * 0.5 * (1.0 + math.cos(math.pi * t))


SCHEDULES = {"constant": Constant, "step": StepDecay, "cosine": Cosine}


def get_schedule(name: str, lr0: float, total_epochs: int, **kwargs):
    """The schedule ``name`` ("constant", "step", "cosine") for a run of ``total_epochs`` epochs
    starting at ``lr0``; further keyword arguments go to its constructor."""
    try:
        cls = SCHEDULES[name]
    except KeyError:
        raise FieldnetError(f"unknown learning-rate schedule {name!r}; choose one of {', '.join(SCHEDULES)}") from None
    return cls(lr0, total_epochs, **kwargs)
