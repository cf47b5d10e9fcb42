"""Residual block: y = x + f(x), with f a stack of layers that preserves the shape."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from fieldnet.engine.kernels.elementwise import add_relu, relu_mask
from fieldnet.engine.layers.base import Layer, layer_from_spec, layer_to_spec, register_layer
from fieldnet.engine.layers.spatial import reuse_or_empty
from fieldnet.errors import ShapeError


@register_layer
class Residual(Layer):
    """Skip connection around ``layers`` (He et al. 2016).

    Args:
        layers: the inner stack f; its output shape must equal its input shape (e.g. periodic
            convolutions with stride 1 and as many output channels as input channels).
        activation: None or "relu", applied after the sum.
        name: optional label.

    Input shape: (N, *s).
    Output shape: (N, *s).
    """

    def __init__(self, layers: list[Layer] | list[dict], activation: str | None = None, name: str | None = None) -> None:
        super().__init__(name=name)
        self.layers = [layer if isinstance(layer, Layer) else layer_from_spec(layer, "Residual") for layer in layers]
        if not self.layers:
            raise ShapeError(f"{self.label}: needs at least one inner layer")
        if activation not in (None, "relu"):
            raise ShapeError(f"{self.label}: activation must be None or 'relu', got {activation!r}")
        self.activation = activation
        self._work: dict[str, np.ndarray] = {}
        self._y: np.ndarray | None = None

    @classmethod
    def from_config(cls, config: dict[str, Any], where: str = "architecture") -> Residual:
        inner = config.get("layers")
        if not isinstance(inner, list):
            raise ShapeError(f"{where}: Residual needs a list 'layers'")
        layers = [layer_from_spec(spec, f"{where} > Residual") for spec in inner]
        return cls(layers, activation=config.get("activation"), name=config.get("name"))

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "activation": self.activation,
                "layers": [layer_to_spec(layer) for layer in self.layers]}

    def sublayers(self) -> list[Layer]:
        return self.layers

    def compute_output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        shape = tuple(int(s) for s in input_shape)
        for layer in self.layers:
            shape = layer.compute_output_shape(shape)
        if shape != tuple(input_shape):
            raise ShapeError(
                f"{self.label}: the inner layers map {tuple(input_shape)} to {shape}; a skip connection "
                "needs equal shapes (use stride 1, periodic or zero padding, and as many output channels as input)"
            )
        return shape

    def array_shapes(self, input_shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        shapes, shape = {}, tuple(int(s) for s in input_shape)
        for i, layer in enumerate(self.layers):
            shapes.update({f"{i}/{k}": s for k, s in layer.array_shapes(shape).items()})
            shape = layer.compute_output_shape(shape)
        return shapes

    def build(self, input_shape: tuple[int, ...], rng: np.random.Generator) -> None:
        shape = tuple(int(s) for s in input_shape)
        for layer in self.layers:
            layer.build(shape, rng)
            shape = layer.output_shape
        super().build(input_shape, rng)  # validates the skip shapes

    def flops(self, input_shape: tuple[int, ...]) -> int:
        total, shape = 0, tuple(input_shape)
        for layer in self.layers:
            total += layer.flops(shape)
            shape = layer.compute_output_shape(shape)
        return total + int(np.prod(shape))

    def param_count(self) -> int:
        return sum(layer.param_count() for layer in self.layers)

    def named_arrays(self, prefix: str = "") -> Iterator[tuple[str, dict[str, np.ndarray], dict[str, np.ndarray]]]:
        for i, layer in enumerate(self.layers):
            yield from layer.named_arrays(f"{prefix}/{i}")

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        h = x
        for layer in self.layers:
            h = layer.forward(h, training)
        dtype = np.result_type(h, x)
        self._y = None  # so last step's output can be reused when no one else holds it
        y = reuse_or_empty(self._work, "y", h.shape, dtype)
        add_relu(_flat(h, dtype), _flat(x, dtype), self.activation == "relu", y.reshape(-1))
        self._y = y
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        if self._y is None:
            raise RuntimeError(f"{self.label}: backward called before forward")
        if self.activation == "relu":
            masked = reuse_or_empty(self._work, "dy", dy.shape, dy.dtype)
            relu_mask(_flat(dy, dy.dtype), self._y.reshape(-1), masked.reshape(-1))
            dy = masked
        # the inner stack's input gradient is only needed for this block's
        self.layers[0].input_grad = self.input_grad
        g = dy
        for layer in reversed(self.layers):
            g = layer.backward(g)
        if g is None:
            return None
        dtype = np.result_type(g, dy)
        dx = reuse_or_empty(self._work, "dx", g.shape, dtype)
        add_relu(_flat(g, dtype), _flat(dy, dtype), False, dx.reshape(-1))
        return dx


def _flat(a: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``a`` as a flat contiguous array of ``dtype`` (a view when it already is one)."""
    return np.ascontiguousarray(a, dtype=dtype).reshape(-1)
