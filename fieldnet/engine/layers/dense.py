"""Dense (fully connected) layer: y = x W + b, with an optional fused ReLU.

The products run in numpy's BLAS (float32), kept to one thread during the model's forward and
backward passes (:mod:`fieldnet.engine.blas`): the convolution kernels already use every core
through numba, and a threaded BLAS on top of them oversubscribes the cores.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fieldnet.engine.layers.base import Layer, register_layer
from fieldnet.errors import ShapeError


@register_layer
class Dense(Layer):
    """Fully connected layer.

    Args:
        units: number of outputs.
        activation: None or "relu" (fused: its mask is applied in backward).
        use_bias: add a learned bias.
        init: "he" (default, for ReLU nets) or "glorot".

    Input shape: (N, F).  Output shape: (N, units).
    Parameters: kernel (F, units), bias (units,).
    """

    def __init__(
        self,
        units: int,
        activation: str | None = None,
        use_bias: bool = True,
        init: str = "he",
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self.units = int(units)
        self.activation = activation
        self.use_bias = bool(use_bias)
        self.init = init
        if self.units < 1:
            raise ShapeError(f"{self.label}: units must be positive, got {units}")
        if activation not in (None, "relu"):
            raise ShapeError(f"{self.label}: activation must be None or 'relu', got {activation!r}")
        if init not in ("he", "glorot"):
            raise ShapeError(f"{self.label}: init must be 'he' or 'glorot', got {init!r}")

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "units": self.units, "activation": self.activation,
                "use_bias": self.use_bias, "init": self.init}

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
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
        return (self.units,)

    def array_shapes(self, input_shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        self.output_shape(input_shape)
        shapes = {"kernel": (int(input_shape[0]), self.units)}
        return {**shapes, "bias": (self.units,)} if self.use_bias else shapes

    def build(self, input_shape: tuple[int, ...], rng: np.random.Generator) -> None:
        from fieldnet.engine.initializers import glorot_uniform, he_normal

        self.params, self.grads = {}, {}
        super().build(input_shape, rng)
        fan_in = int(input_shape[0])
        shape = (fan_in, self.units)
        if self.init == "he":
            self.params["kernel"] = he_normal(shape, fan_in, rng)
        else:
            self.params["kernel"] = glorot_uniform(shape, fan_in, self.units, rng)
        if self.use_bias:
            self.params["bias"] = np.zeros(self.units, dtype=np.float32)
        self.zero_grads()

    def flops(self, input_shape: tuple[int, ...]) -> int:
        return 2 * int(input_shape[0]) * self.units

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self.check_input(x, 2)
        self.output_shape(x.shape[1:])
        dtype = np.float64 if x.dtype == np.float64 else np.float32
        x = np.ascontiguousarray(x, dtype=dtype)
        y = x @ self.params["kernel"].astype(dtype, copy=False)
        if self.use_bias:
            y += self.params["bias"].astype(dtype, copy=False)
        if self.activation == "relu":
            np.maximum(y, 0, out=y)
        self._x, self._y = x, y
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        if getattr(self, "_x", None) is None:
            raise RuntimeError(f"{self.label}: backward called before forward")
        if dy.shape != self._y.shape:
            raise ShapeError(f"{self.label}: output gradient has shape {dy.shape}, expected {self._y.shape}")
        dy = dy.astype(self._y.dtype, copy=False)
        if self.activation == "relu":
            dy = np.where(self._y > 0, dy, dy.dtype.type(0))
        kernel = self.params["kernel"]
        self.grads["kernel"] = (self._x.T @ dy).astype(kernel.dtype, copy=False)
        if self.use_bias:
            self.grads["bias"] = dy.sum(axis=0).astype(self.params["bias"].dtype, copy=False)
        if getattr(self, "input_grad", True) is False:
            return None
        return dy @ kernel.astype(dy.dtype, copy=False).T
