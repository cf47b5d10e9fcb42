"""Pooling layers: max and average pooling (2-D, 3-D) and global pooling over all spatial axes.

Windows are "valid" (no padding): output size (W - F)/S + 1 along each axis, with the stride
defaulting to the window size.  A pool larger than its input raises :class:`ShapeError`.
Global pooling maps (N, C, *spatial) to (N, C) for any lattice size, so a periodic conv net
followed by it is invariant under every translation of its input.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from fieldnet.engine.kernels.pool import global_mean_backward, pool_backward, pool_forward
from fieldnet.engine.layers import spatial
from fieldnet.engine.layers.base import Layer, register_layer, work_dtype
from fieldnet.errors import ShapeError


class _PoolNd(Layer):
    """Shared implementation of windowed pooling; subclasses set ``ndim`` and ``mode``."""

    ndim: ClassVar[int] = 2
    mode: ClassVar[str] = "max"

    def __init__(
        self,
        kernel_size: int | tuple[int, ...] | list[int] = 2,
        stride: int | tuple[int, ...] | list[int] | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        # one int per spatial axis; the stride defaults to the window
        self.kernel_size = spatial.axis_tuple(kernel_size, self.ndim, "kernel_size", self.label)
        self.stride = self.kernel_size if stride is None else spatial.axis_tuple(stride, self.ndim, "stride", self.label)
        # the arguments as the caller wrote them (2, [2, 2], None): the config, and so a saved architecture, keeps them
        self._written = {"kernel_size": spatial.as_written(kernel_size), "stride": None if stride is None else spatial.as_written(stride)}
        self._cache: dict[str, Any] = {}
        # reused between calls (large fresh arrays cost page faults)
        self._work: dict[str, np.ndarray] = {}
        self._argmax: np.ndarray | None = None

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "kernel_size": self._written["kernel_size"], "stride": self._written["stride"]}

    def spatial_stride(self) -> int:
        return int(max(self.stride))

    def compute_output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        input_shape = spatial.per_sample_shape(input_shape, self.ndim, self.label)
        sizes = tuple(
            spatial.conv_output_size(size, k, s, 0, layer=f"{self.label} (input {input_shape})")
            for size, k, s in zip(input_shape[1:], self.kernel_size, self.stride, strict=True)
        )
        return (input_shape[0], *sizes)

    def flops(self, input_shape: tuple[int, ...]) -> int:
        """One operation per window element per output, per sample."""
        return int(np.prod(self.compute_output_shape(input_shape))) * int(np.prod(self.kernel_size))

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """Pool a batch (N, C, *spatial) into (N, C, *spatial_out)."""
        self.check_input(x, self.ndim + 2)
        out_shape = self.compute_output_shape(x.shape[1:])
        dtype = work_dtype(x)
        x = np.ascontiguousarray(x, dtype=dtype)
        self._cache = {}
        out = spatial.reuse_or_empty(self._work, "out", (x.shape[0],) + out_shape, dtype)
        is_max = self.mode == "max"
        ashape = out.shape if is_max else (1,) * out.ndim
        # the in-window index of each maximum: int16 (a quarter of int64's memory traffic) unless
        # a window is larger than int16 can count
        adtype = np.int16 if int(np.prod(self.kernel_size)) <= np.iinfo(np.int16).max else np.int64
        if self._argmax is None or self._argmax.shape != ashape or self._argmax.dtype != adtype:
            self._argmax = np.empty(ashape, dtype=adtype)
        argmax = self._argmax
        k = spatial.three_axes(self.kernel_size, self.ndim)
        s = spatial.three_axes(self.stride, self.ndim)
        pool_forward(spatial.as_5d(x, self.ndim), *k, *s, is_max, spatial.as_5d(out, self.ndim), spatial.as_5d(argmax, self.ndim))
        self._cache = {"x_shape": x.shape, "argmax": argmax, "k": k, "s": s, "out_shape": out.shape, "dtype": dtype}
        return out

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        """Input gradient of the last forward (None when ``input_grad`` is off)."""
        if not self._cache:
            raise RuntimeError(f"{self.label}: backward called before forward")
        c = self._cache
        if dy.shape != c["out_shape"]:
            raise ShapeError(f"{self.label}: output gradient has shape {dy.shape}, expected {c['out_shape']}")
        if not self.input_grad:
            return None
        dy = np.ascontiguousarray(dy, dtype=c["dtype"])
        dx = spatial.reuse_or_empty(self._work, "dx", c["x_shape"], c["dtype"])
        pool_backward(
            spatial.as_5d(dy, self.ndim), *c["k"], *c["s"], self.mode == "max", spatial.as_5d(c["argmax"], self.ndim),
            spatial.as_5d(dx, self.ndim),
        )
        return dx


@register_layer
class MaxPool2d(_PoolNd):
    """2-D max pooling: the largest value of each window.

    Args:
        kernel_size: window size F (int or two ints).
        stride: step S (int or two ints; defaults to ``kernel_size``).

    Input shape: (N, C, H, W).  Output shape: (N, C, (H - F)/S + 1, (W - F)/S + 1).
    """

    ndim = 2
    mode = "max"


@register_layer
class AvgPool2d(_PoolNd):
    """2-D average pooling: the mean of each window.  Args and shapes as :class:`MaxPool2d`."""

    ndim = 2
    mode = "avg"


@register_layer
class MaxPool3d(_PoolNd):
    """3-D max pooling; Args as :class:`MaxPool2d`, with one or three ints.

    Input shape: (N, C, D, H, W).  Output shape: (N, C, D_out, H_out, W_out), each (W - F)/S + 1.
    """

    ndim = 3
    mode = "max"


@register_layer
class AvgPool3d(_PoolNd):
    """3-D average pooling: the mean of each window.  Args and shapes as :class:`MaxPool3d`."""

    ndim = 3
    mode = "avg"


class _GlobalPool(Layer):
    """Pool over every spatial axis: (N, C, *spatial) -> (N, C), for any number of spatial axes."""

    mode: ClassVar[str] = "avg"

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name=name)
        self._cache: dict[str, Any] = {}
        self._work: dict[str, np.ndarray] = {}

    def compute_output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        input_shape = tuple(int(s) for s in input_shape)
        if len(input_shape) < 2 or min(input_shape[1:]) < 1:
            raise ShapeError(
                f"{self.label}: expects per-sample input (channels, spatial axes...), got shape {input_shape}"
            )
        return (input_shape[0],)

    def flops(self, input_shape: tuple[int, ...]) -> int:
        return int(np.prod(input_shape))

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """Reduce a batch (N, C, *spatial) to (N, C)."""
        if x.ndim < 3:
            raise ShapeError(f"{self.label}: expected a batch (N, C, spatial...), got shape {x.shape}")
        self.compute_output_shape(x.shape[1:])
        dtype = work_dtype(x)
        flat = np.ascontiguousarray(x, dtype=dtype).reshape(x.shape[0], x.shape[1], -1)
        if self.mode == "max":
            idx = np.argmax(flat, axis=2)
            out = np.take_along_axis(flat, idx[:, :, None], axis=2)[:, :, 0]
            self._cache = {"x_shape": x.shape, "idx": idx, "dtype": dtype}
        else:
            out = flat.mean(axis=2, dtype=dtype)
            self._cache = {"x_shape": x.shape, "dtype": dtype}
        return np.ascontiguousarray(out, dtype=dtype)

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        """Input gradient of the last forward: the mean spreads evenly, the max goes to its first argmax."""
        c = self._cache
        if not c:
            raise RuntimeError(f"{self.label}: backward called before forward")
        shape, dtype = c["x_shape"], c["dtype"]
        if dy.shape != shape[:2]:
            raise ShapeError(f"{self.label}: output gradient has shape {dy.shape}, expected {shape[:2]}")
        if not self.input_grad:
            return None
        dy = np.asarray(dy, dtype=dtype)
        size = int(np.prod(shape[2:]))
        if self.mode == "max":
            dx = np.zeros((shape[0], shape[1], size), dtype=dtype)
            np.put_along_axis(dx, c["idx"][:, :, None], dy[:, :, None], axis=2)
        else:
            dx = spatial.reuse_or_empty(self._work, "dx", (shape[0], shape[1], size), dtype)
            global_mean_backward(np.ascontiguousarray(dy).reshape(-1), size, dx.reshape(-1, size))
        return dx.reshape(shape)


@register_layer
class GlobalAvgPool(_GlobalPool):
    """Mean over all spatial axes, for any lattice size.  Input shape (N, C, *spatial); output shape (N, C)."""

    mode = "avg"


@register_layer
class GlobalMaxPool(_GlobalPool):
    """Maximum over all spatial axes (its gradient goes to the first maximum).  Shapes as :class:`GlobalAvgPool`."""

    mode = "max"
