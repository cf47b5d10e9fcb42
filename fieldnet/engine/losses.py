"""Losses: softmax cross-entropy, binary cross-entropy (on logits) and mean-squared error.

Each loss keeps what its backward needs: ``forward(outputs, y)`` returns the batch mean as a
Python float and ``backward()`` returns d(mean loss)/d(outputs) with the shape of ``outputs``.
Networks end in raw scores (logits); the losses apply softmax/sigmoid themselves, in a
numerically stable form.
"""

from __future__ import annotations

import numpy as np

from fieldnet.errors import FieldnetError, ShapeError


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of (N, K) scores, shifted by the row maximum (no overflow)."""
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)) without overflow."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


class SoftmaxCrossEntropy:
    """-mean_n log softmax(z_n)[y_n].  Outputs (N, K) logits; targets (N,) integer classes."""

    name = "softmax_cross_entropy"

    def forward(self, logits: np.ndarray, y: np.ndarray) -> float:
        if logits.ndim != 2:
            raise ShapeError(f"{self.name}: expects (N, classes) outputs, got {logits.shape}")
        y = np.asarray(y).astype(np.int64).reshape(-1)
        if y.shape[0] != logits.shape[0] or (y.size and (y.min() < 0 or y.max() >= logits.shape[1])):
            raise ShapeError(f"{self.name}: targets must be {logits.shape[0]} class indices in [0, {logits.shape[1]})")
        z = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
        log_norm = np.log(np.exp(z).sum(axis=1))
        self._p = np.exp(z - log_norm[:, None])
        self._y, self._dtype = y, logits.dtype
        return float(np.mean(log_norm - z[np.arange(len(y)), y]))

    def backward(self) -> np.ndarray:
        g = self._p.copy()
        g[np.arange(len(self._y)), self._y] -= 1.0
        return (g / len(self._y)).astype(self._dtype)

    @staticmethod
    def accuracy(logits: np.ndarray, y: np.ndarray) -> float:
        return float(np.mean(np.argmax(logits, axis=1) == np.asarray(y).reshape(-1)))


class BinaryCrossEntropy:
    """Mean of -[y log s(z) + (1-y) log(1-s(z))] with s the sigmoid; outputs (N,) or (N, 1) logits."""

    name = "binary_cross_entropy"

    def forward(self, logits: np.ndarray, y: np.ndarray) -> float:
        z = logits.astype(np.float64).reshape(logits.shape[0], -1)
        if z.shape[1] != 1:
            raise ShapeError(f"{self.name}: expects one output per sample, got {logits.shape}")
        t = np.asarray(y, dtype=np.float64).reshape(-1, 1)
        # log(1 + exp(-|z|)) + max(z, 0) - z t  is the stable form
        loss = np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))
        self._s, self._t, self._shape, self._dtype = sigmoid(z), t, logits.shape, logits.dtype
        return float(loss.mean())

    def backward(self) -> np.ndarray:
        return ((self._s - self._t) / len(self._t)).reshape(self._shape).astype(self._dtype)

    @staticmethod
    def accuracy(logits: np.ndarray, y: np.ndarray) -> float:
        return float(np.mean((logits.reshape(-1) > 0) == (np.asarray(y).reshape(-1) > 0.5)))


class MeanSquaredError:
    """mean over samples and outputs of (output - y)^2, e.g. for regressing the temperature."""

    name = "mse"

    def forward(self, outputs: np.ndarray, y: np.ndarray) -> float:
        t = np.asarray(y, dtype=np.float64).reshape(outputs.shape[0], -1)
        d = outputs.astype(np.float64).reshape(t.shape[0], -1) - t
        if d.shape[1] != t.shape[1]:
            raise ShapeError(f"{self.name}: outputs {outputs.shape} and targets {np.shape(y)} differ")
        self._d, self._shape, self._dtype = d, outputs.shape, outputs.dtype
        return float(np.mean(d * d))

    def backward(self) -> np.ndarray:
        return (2.0 * self._d / self._d.size).reshape(self._shape).astype(self._dtype)

    @staticmethod
    def accuracy(outputs: np.ndarray, y: np.ndarray) -> float:
        return float("nan")


LOSSES = {cls.name: cls for cls in (SoftmaxCrossEntropy, BinaryCrossEntropy, MeanSquaredError)}


def get_loss(name: str):
    """A loss by name: "softmax_cross_entropy", "binary_cross_entropy" or "mse"."""
    try:
        return LOSSES[name]()
    except KeyError:
        raise FieldnetError(f"unknown loss {name!r}; choose one of {', '.join(LOSSES)}") from None
