"""Flatten: (N, C, *spatial) -> (N, C * prod(spatial)), the bridge from convolutions to Dense."""

from __future__ import annotations

import numpy as np

from fieldnet.engine.layers.base import Layer, register_layer


@register_layer
class Flatten(Layer):
    """Flatten every axis but the batch axis (C-order, so channel is the slowest index).

    Args:
        name: optional label.

    Input shape: (N, *s).
    Output shape: (N, prod(s)).
    """

    def compute_output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (int(np.prod(input_shape)),)

    def flops(self, input_shape: tuple[int, ...]) -> int:
        return 0

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self._shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        return dy.reshape(self._shape) if self.input_grad else None
