"""Learning-rate schedules: the rate for each epoch (counted from 0)."""

from __future__ import annotations

import math

from fieldnet.errors import FieldnetError


class Constant:
    """lr(epoch) = lr."""

    def __init__(self, lr: float):
        self.lr0 = float(lr)

    def lr(self, epoch: int) -> float:
        return self.lr0


class StepDecay:
    """lr(epoch) = lr0 * factor ** (epoch // step): divide by 10 every ``step`` epochs (AlexNet)."""

    def __init__(self, lr0: float, step: int = 10, factor: float = 0.1):
        if step < 1:
            raise FieldnetError(f"step decay: step must be >= 1 epoch, got {step}")
        self.lr0, self.step, self.factor = float(lr0), int(step), float(factor)

    def lr(self, epoch: int) -> float:
        return self.lr0 * self.factor ** (epoch // self.step)


class Cosine:
    """lr(epoch) = lr_min + (lr0 - lr_min) (1 + cos(pi epoch / total)) / 2, flat after ``total`` epochs."""

    def __init__(self, lr0: float, total_epochs: int, lr_min: float = 0.0):
        if total_epochs < 1:
            raise FieldnetError(f"cosine schedule: total_epochs must be >= 1, got {total_epochs}")
        self.lr0, self.total, self.lr_min = float(lr0), int(total_epochs), float(lr_min)

    def lr(self, epoch: int) -> float:
        t = min(epoch, self.total) / self.total
        return self.lr_min + (self.lr0 - self.lr_min) * 0.5 * (1.0 + math.cos(math.pi * t))


SCHEDULES = {"constant": Constant, "step": StepDecay, "cosine": Cosine}


def get_schedule(name: str, **kwargs):
    """A schedule by name ("constant", "step", "cosine") with its keyword arguments."""
    try:
        cls = SCHEDULES[name]
    except KeyError:
        raise FieldnetError(f"unknown learning-rate schedule {name!r}; choose one of {', '.join(SCHEDULES)}") from None
    return cls(**kwargs)
