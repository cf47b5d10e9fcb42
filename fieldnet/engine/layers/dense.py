"""Dense (fully connected) layer: y = x W + b, with an optional fused ReLU.

The products run in numpy's BLAS (float32), kept to one thread during the model's forward and
backward passes (:mod:`fieldnet.engine.blas`): the convolution kernels already use every core
through numba, and a threaded BLAS on top of them oversubscribes the cores.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fieldnet.engine.initializers import glorot_uniform, he_normal
from fieldnet.engine.layers.base import Layer, register_layer, work_dtype
from fieldnet.errors import ShapeError


@register_layer
class Dense(Layer):
    """Fully connected layer.

    Args:
        out_features: number of outputs.
        bias: add a learned bias.
        activation: None or "relu" (fused: its mask is applied in backward).
        init: "he" (default, for ReLU nets) or "glorot".
        name: optional label.

    The arguments after ``out_features`` are keyword-only: Keras-style code passes the activation
    second (``Dense(64, "relu")``), which must fail rather than silently set ``bias``.

    Input shape: (N, F).
    Output shape: (N, out_features).
    Parameters: kernel (F, out_features), bias (out_features,).
    """

    def __init__(
        self,
        out_features: int,
        *,
        bias: bool = True,
        activation: str | None = None,
        init: str = "he",
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self.out_features = int(out_features)
        self.bias = bool(bias)
        self.activation = activation
        self.init = init
        if self.out_features < 1:
            raise ShapeError(f"{self.label}: out_features must be positive, got {out_features}")
        if activation not in (None, "relu"):
            raise ShapeError(f"{self.label}: activation must be None or 'relu', got {activation!r}")
        if init not in ("he", "glorot"):
            raise ShapeError(f"{self.label}: init must be 'he' or 'glorot', got {init!r}")
        self._x: np.ndarray | None = None  # input and output of the last forward, for backward
        self._y: np.ndarray | None = None

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "out_features": self.out_features, "activation": self.activation,
                "bias": self.bias, "init": self.init}

    def compute_output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        input_shape = tuple(int(s) for s in input_shape)
        if len(input_shape) != 1:
            raise ShapeError(
                f"{self.label}: expects flat per-sample input (features,), got {input_shape}; put Flatten "
                "or a global pooling layer before it"
            )
        if "kernel" in self.params and input_shape[0] != self.params["kernel"].shape[0]:
            raise ShapeError(
                f"{self.label}: expects {self.params['kernel'].shape[0]} input features, got {input_shape[0]}"
            )
        return (self.out_features,)

    def array_shapes(self, input_shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        self.compute_output_shape(input_shape)
        shapes = {"kernel": (int(input_shape[0]), self.out_features)}
        return {**shapes, "bias": (self.out_features,)} if self.bias else shapes

    def build(self, input_shape: tuple[int, ...], rng: np.random.Generator) -> None:
        self.params, self.grads = {}, {}
        super().build(input_shape, rng)
        fan_in = int(input_shape[0])
        shape = (fan_in, self.out_features)
        if self.init == "he":
            self.params["kernel"] = he_normal(shape, fan_in, rng)
        else:
            self.params["kernel"] = glorot_uniform(shape, fan_in, self.out_features, rng)
        if self.bias:
            self.params["bias"] = np.zeros(self.out_features, dtype=np.float32)
        self.zero_grads()

    def flops(self, input_shape: tuple[int, ...]) -> int:
        return 2 * int(input_shape[0]) * self.out_features

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self.check_input(x, 2)
        self.compute_output_shape(x.shape[1:])
        dtype = work_dtype(x)
        x = np.ascontiguousarray(x, dtype=dtype)
        y = x @ self.params["kernel"].astype(dtype, copy=False)
        if self.bias:
            y += self.params["bias"].astype(dtype, copy=False)
        if self.activation == "relu":
            np.maximum(y, 0, out=y)
        self._x, self._y = x, y
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        if self._x is None:
            raise RuntimeError(f"{self.label}: backward called before forward")
        if dy.shape != self._y.shape:
            raise ShapeError(f"{self.label}: output gradient has shape {dy.shape}, expected {self._y.shape}")
        dy = dy.astype(self._y.dtype, copy=False)
        if self.activation == "relu":
            dy = np.where(self._y > 0, dy, dy.dtype.type(0))
        kernel = self.params["kernel"]
        np.matmul(self._x.T, dy, out=self.grad_buffer("kernel"))
        if self.bias:
            self.grad_buffer("bias")[...] = dy.sum(axis=0)
        if not self.input_grad:
            return None
        return dy @ kernel.astype(dy.dtype, copy=False).T
