"""Dropout and batch normalisation.

Both behave differently in training and in evaluation: ``forward(x, training=True)`` during
training, ``training=False`` (the default) for prediction.  Dropout kept active at prediction
time is Monte Carlo dropout (``Sequential.predict_proba(..., training=True)``).
"""

from __future__ import annotations

import numpy as np

from fieldnet.engine.layers.base import Layer, register_layer, work_dtype
from fieldnet.errors import ShapeError


@register_layer
class Dropout(Layer):
    """Zero each activation with probability ``p`` in training; inverted scaling by 1/(1-p).

    Args:
        p: drop probability in [0, 1) (PyTorch's name; Keras calls it ``rate``).
        name: optional label.

    The mask stream is seeded from the model seed at build time; its state is part of a training
    checkpoint (``rng_state``), so a resumed training draws the same masks.

    Input shape: any (N, ...).
    Output shape: the input's.
    """

    has_randomness = True

    def __init__(self, p: float = 0.5, name: str | None = None) -> None:
        super().__init__(name=name)
        self.p = float(p)
        if not 0.0 <= self.p < 1.0:
            raise ShapeError(f"{self.label}: the drop probability p must be in [0, 1), got {p}")
        self._rng = np.random.default_rng(0)
        self._mask: np.ndarray | None = None

    def build(self, input_shape: tuple[int, ...], rng: np.random.Generator) -> None:
        super().build(input_shape, rng)
        self._rng = np.random.default_rng(int(rng.integers(2**63)))

    @property
    def rng_state(self) -> dict:
        return self._rng.bit_generator.state

    @rng_state.setter
    def rng_state(self, state: dict) -> None:
        self._rng.bit_generator.state = state

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        if not training or self.p == 0.0:
            self._mask = None
            return x
        keep = self._rng.random(x.shape, dtype=np.float32) >= self.p
        self._mask = keep.astype(x.dtype) / x.dtype.type(1.0 - self.p)
        return x * self._mask

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        if not self.input_grad:
            return None
        return dy if self._mask is None else dy * self._mask


@register_layer
class BatchNorm(Layer):
    """Batch normalisation (Ioffe and Szegedy 2015) per channel (or per feature for (N, F) input).

    Args:
        momentum: weight of the new batch in the running statistics.
        eps: added to the variance.
        name: optional label.

    Training normalises with the batch mean and (biased) variance over the batch and spatial
    axes and updates the running mean and (unbiased) variance; evaluation uses the running ones.
    Parameters: gamma, beta (C,).  Buffers: running_mean, running_var (C,).

    Input shape: (N, C, *spatial) or (N, F).
    Output shape: the input's.
    """

    def __init__(self, momentum: float = 0.1, eps: float = 1e-5, name: str | None = None) -> None:
        super().__init__(name=name)
        self.momentum = float(momentum)
        self.eps = float(eps)

    def array_shapes(self, input_shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        c = (int(input_shape[0]),)
        return {"gamma": c, "beta": c, "running_mean": c, "running_var": c}

    def build(self, input_shape: tuple[int, ...], rng: np.random.Generator) -> None:
        super().build(input_shape, rng)
        c = int(input_shape[0])
        self.params = {"gamma": np.ones(c, np.float32), "beta": np.zeros(c, np.float32)}
        self.buffers = {"running_mean": np.zeros(c, np.float32), "running_var": np.ones(c, np.float32)}
        self.zero_grads()

    def flops(self, input_shape: tuple[int, ...]) -> int:
        return 2 * int(np.prod(input_shape))

    def _view(self, a: np.ndarray, ndim: int) -> np.ndarray:
        """(C,) -> broadcastable against (N, C, *spatial)."""
        return a.reshape((1, -1) + (1,) * (ndim - 2))

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        if x.ndim < 2 or x.shape[1] != self.params["gamma"].shape[0]:
            raise ShapeError(f"{self.label}: expects {self.params['gamma'].shape[0]} channels, got input {x.shape}")
        dtype = work_dtype(x)
        x = np.asarray(x, dtype=dtype)
        axes = (0,) + tuple(range(2, x.ndim))
        if training:
            mean = x.mean(axis=axes)
            var = x.var(axis=axes)
            count = x.size // x.shape[1]
            m = self.momentum
            self.buffers["running_mean"] = ((1 - m) * self.buffers["running_mean"] + m * mean).astype(np.float32)
            unbiased = var * count / max(count - 1, 1)
            self.buffers["running_var"] = ((1 - m) * self.buffers["running_var"] + m * unbiased).astype(np.float32)
        else:
            mean = self.buffers["running_mean"].astype(dtype)
            var = self.buffers["running_var"].astype(dtype)
        inv_std = 1.0 / np.sqrt(var + self.eps)
        x_hat = (x - self._view(mean, x.ndim)) * self._view(inv_std, x.ndim)
        self._cache = (x_hat, inv_std.astype(dtype), axes, training)
        gamma = self.params["gamma"].astype(dtype)
        return x_hat * self._view(gamma, x.ndim) + self._view(self.params["beta"].astype(dtype), x.ndim)

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        x_hat, inv_std, axes, training = self._cache
        dy = dy.astype(x_hat.dtype, copy=False)
        self.grad_buffer("gamma")[...] = (dy * x_hat).sum(axis=axes)
        self.grad_buffer("beta")[...] = dy.sum(axis=axes)
        if not self.input_grad:
            return None
        g = self._view(self.params["gamma"].astype(dy.dtype) * inv_std, dy.ndim)
        if not training:  # running statistics are constants
            return dy * g
        # batch statistics depend on x: dx = g (dy - mean(dy) - x_hat mean(dy x_hat))
        mean_dy = dy.mean(axis=axes, keepdims=True)
        mean_dy_xhat = (dy * x_hat).mean(axis=axes, keepdims=True)
        return g * (dy - mean_dy - x_hat * mean_dy_xhat)
