"""Optimisers: SGD with momentum and weight decay (the AlexNet rule) and Adam.

``step(model)`` updates every trainable parameter in place from the gradients that the last
``model.backward`` left in the layers.  The state (velocities, moments, step count) is a dict of
arrays keyed by parameter path, saved in training checkpoints so a resumed run continues
bit for bit.
"""

from __future__ import annotations

import numpy as np

from fieldnet.errors import FieldnetError


class Optimizer:
    """What every optimiser shares: its configuration as data (stored in checkpoints)."""

    def get_config(self) -> dict:
        """``{"name", "hyper"}``: the optimiser's name and its numeric settings and counters."""
        hyper = {k: v for k, v in vars(self).items() if isinstance(v, int | float)}
        return {"name": type(self).__name__.lower(), "hyper": hyper}


class SGD(Optimizer):
    """Krizhevsky, Sutskever and Hinton (2012), section 5:

        v <- momentum v - weight_decay lr w - lr grad;    w <- w + v

    Args:
        lr: learning rate (eps).
        momentum: 0.9 in AlexNet.
        weight_decay: 5e-4 in AlexNet (applied to every parameter, as there).
    """

    def __init__(self, lr: float = 0.01, momentum: float = 0.9, weight_decay: float = 5e-4):
        self.lr, self.momentum, self.weight_decay = float(lr), float(momentum), float(weight_decay)
        self.state: dict[str, np.ndarray] = {}

    def step(self, model) -> None:
        lr, m, wd = np.float32(self.lr), np.float32(self.momentum), np.float32(self.weight_decay)
        for path, w, g in model.named_parameters():
            v = self.state.get(path)
            if v is None:
                v = self.state[path] = np.zeros_like(w)
            v *= m
            v -= (wd * lr) * w
            v -= lr * g
            w += v

    def get_state(self) -> dict[str, np.ndarray]:
        return {f"v/{k}": v for k, v in self.state.items()}

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        self.state = {k[2:]: np.array(v, dtype=np.float32) for k, v in state.items() if k.startswith("v/")}


class Adam(Optimizer):
    """Kingma and Ba (2015) with bias correction; optional decoupled weight decay (AdamW).

    Args:
        lr: step size. beta1, beta2: moment decay rates. eps: denominator guard.
        weight_decay: decoupled decay w <- w - lr weight_decay w (0 = plain Adam).
    """

    def __init__(self, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
                 weight_decay: float = 0.0):
        self.lr, self.beta1, self.beta2, self.eps = float(lr), float(beta1), float(beta2), float(eps)
        self.weight_decay = float(weight_decay)
        self.t = 0
        self.m: dict[str, np.ndarray] = {}
        self.v: dict[str, np.ndarray] = {}

    def step(self, model) -> None:
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        alpha = np.float32(self.lr * np.sqrt(1 - b2**self.t) / (1 - b1**self.t))
        eps_hat = np.float32(self.eps * np.sqrt(1 - b2**self.t))
        for path, w, g in model.named_parameters():
            if path not in self.m:
                self.m[path], self.v[path] = np.zeros_like(w), np.zeros_like(w)
            m, v = self.m[path], self.v[path]
            m *= np.float32(b1)
            m += np.float32(1 - b1) * g
            v *= np.float32(b2)
            v += np.float32(1 - b2) * (g * g)
            if self.weight_decay:
                w -= np.float32(self.lr * self.weight_decay) * w
            w -= alpha * m / (np.sqrt(v) + eps_hat)

    def get_state(self) -> dict[str, np.ndarray]:
        state = {"t": np.array(self.t, dtype=np.int64)}
        state.update({f"m/{k}": a for k, a in self.m.items()})
        state.update({f"v/{k}": a for k, a in self.v.items()})
        return state

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        self.t = int(state.get("t", 0))
        self.m = {k[2:]: np.array(a, dtype=np.float32) for k, a in state.items() if k.startswith("m/")}
        self.v = {k[2:]: np.array(a, dtype=np.float32) for k, a in state.items() if k.startswith("v/")}


OPTIMIZERS = {"sgd": SGD, "adam": Adam}


def _optimizer_class(name: str) -> type[Optimizer]:
    try:
        return OPTIMIZERS[name]
    except KeyError:
        raise FieldnetError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}") from None


def get_optimizer(name: str, **kwargs) -> Optimizer:
    """An optimiser by name ("sgd" or "adam") with its keyword arguments (the class defaults
    for the rest: SGD lr 0.01, momentum 0.9, weight decay 5e-4; Adam lr 0.001)."""
    return _optimizer_class(name)(**kwargs)


def default_learning_rate(name: str) -> float:
    """The learning rate an optimiser uses when none is given (its constructor's default)."""
    import inspect

    return float(inspect.signature(_optimizer_class(name)).parameters["lr"].default)
