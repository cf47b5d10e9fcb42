"""Element-wise activation layers: ReLU, LeakyReLU, Tanh, Sigmoid, ELU.

Each keeps what its backward needs from the forward pass (the input or the output) and returns
the input gradient ``dx = dy * f'(x)``.  Shapes are unchanged: any (N, ...) batch.
"""

from __future__ import annotations

import numpy as np

from fieldnet.engine.layers.base import Layer, register_layer, work_dtype


def _work(x: np.ndarray) -> np.ndarray:
    """``x`` in the dtype the layers compute in (:func:`~fieldnet.engine.layers.base.work_dtype`)."""
    return np.asarray(x, dtype=work_dtype(x))


class _Activation(Layer):
    """Shared bookkeeping: no parameters, one FLOP per element, shape preserved."""

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name=name)
        self._saved: np.ndarray | None = None

    def _input_grad_wanted(self) -> bool:
        """Whether backward should return the input gradient; RuntimeError before any forward."""
        if self._saved is None:
            raise RuntimeError(f"{self.label}: backward called before forward")
        return self.input_grad


@register_layer
class ReLU(_Activation):
    """max(0, x), element by element; input and output shape (N, ...)."""

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        x = _work(x)
        self._saved = x > 0
        return np.where(self._saved, x, x.dtype.type(0))

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        if not self._input_grad_wanted():
            return None
        return np.where(self._saved, dy, dy.dtype.type(0))


@register_layer
class LeakyReLU(_Activation):
    """x for x > 0, negative_slope * x otherwise.

    Args:
        negative_slope: slope for negative inputs.

    Input shape: any (N, ...).  Output shape: the input's.
    """

    def __init__(self, negative_slope: float = 0.01, name: str | None = None) -> None:
        super().__init__(name=name)
        self.negative_slope = float(negative_slope)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        x = _work(x)
        self._saved = x > 0
        return np.where(self._saved, x, x * x.dtype.type(self.negative_slope))

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        if not self._input_grad_wanted():
            return None
        return np.where(self._saved, dy, dy * dy.dtype.type(self.negative_slope))


@register_layer
class Tanh(_Activation):
    """tanh(x); backward uses the saved output: 1 - y^2.  Input and output shape (N, ...)."""

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self._saved = np.tanh(_work(x))
        return self._saved

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        if not self._input_grad_wanted():
            return None
        y = self._saved
        return dy * (1 - y * y)


@register_layer
class Sigmoid(_Activation):
    """1 / (1 + exp(-x)), computed without overflow; backward uses y (1 - y).  Shapes (N, ...) -> (N, ...)."""

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        x = _work(x)
        # exp of a non-positive number never overflows
        e = np.exp(-np.abs(x))
        self._saved = np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)
        return self._saved

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        if not self._input_grad_wanted():
            return None
        y = self._saved
        return dy * y * (1 - y)


@register_layer
class ELU(_Activation):
    """x for x > 0, alpha (exp(x) - 1) otherwise.

    Args:
        alpha: the output for large negative inputs tends to -alpha.

    Input and output shape: (N, ...).
    """

    def __init__(self, alpha: float = 1.0, name: str | None = None) -> None:
        super().__init__(name=name)
        self.alpha = float(alpha)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        x = _work(x)
        positive = x > 0
        neg = x.dtype.type(self.alpha) * np.expm1(np.minimum(x, 0))
        self._saved = np.where(positive, x.dtype.type(1), neg + x.dtype.type(self.alpha))  # f'(x)
        return np.where(positive, x, neg)

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        if not self._input_grad_wanted():
            return None
        return dy * self._saved

