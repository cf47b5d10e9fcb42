"""What the layers over a lattice (convolution and pooling) share.

Per-axis sizes and strides, the output-size rule (W - F + 2P)/S + 1, per-sample shape checks,
the 5-D views the kernels work on, and output buffers reused between calls.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from fieldnet.errors import ShapeError


def axis_tuple(value: int | tuple[int, ...] | list[int], ndim: int, what: str, layer: str) -> tuple[int, ...]:
    """``value`` as one positive int per spatial axis (an int is repeated); ShapeError otherwise.

    Args:
        value: an int, or ``ndim`` ints.
        ndim: number of spatial axes.
        what: the argument's name, for the error message.
        layer: the layer's label, for the error message.
    """
    if isinstance(value, int | np.integer):
        out = (int(value),) * ndim
    else:
        out = tuple(int(v) for v in value)
    if len(out) != ndim or any(v < 1 for v in out):
        raise ShapeError(f"{layer}: {what} must be a positive int or {ndim} positive ints, got {value!r}")
    return out


def as_written(value: int | tuple[int, ...] | list[int]) -> int | list[int]:
    """An int or a list of ints as JSON data, in the form the caller wrote it (int stays int)."""
    return int(value) if isinstance(value, int | np.integer) else [int(v) for v in value]


def conv_output_size(size: int, kernel: int, stride: int, pad_total: int, *, layer: str) -> int:
    """Output length along one axis, (W - F + 2P)/S + 1, or a ShapeError naming the layer.

    ``pad_total`` is the total padding 2P (it may be odd for even kernels with 'same' padding).
    """
    span = size - kernel + pad_total
    if span < 0 or kernel < 1 or stride < 1:
        raise ShapeError(
            f"{layer}: input size {size} does not fit kernel {kernel} with padding {pad_total}/2 and "
            f"stride {stride}; the output size (W - F + 2P)/S + 1 = ({size} - {kernel} + {pad_total})/{stride} + 1 "
            "would be below 1"
        )
    return span // stride + 1


def per_sample_shape(input_shape: tuple[int, ...], ndim: int, label: str) -> tuple[int, ...]:
    """``input_shape`` as ints, checked to be (channels, ``ndim`` spatial axes); ShapeError otherwise."""
    input_shape = tuple(int(s) for s in input_shape)
    if len(input_shape) != ndim + 1:
        raise ShapeError(
            f"{label}: expects per-sample input (channels, {ndim} spatial axes), got shape {input_shape}"
        )
    return input_shape


def as_5d(a: np.ndarray, ndim: int) -> np.ndarray:
    """(N, C, *spatial) -> (N, C, D, H, W) view with unit axes in front of the spatial ones.

    The kernels are compiled once for 5-D arrays; 1-D and 2-D layers pass these views.
    """
    return a.reshape(a.shape[:2] + (1,) * (3 - ndim) + a.shape[2:])


def three_axes(values: tuple[int, ...], ndim: int) -> tuple[int, ...]:
    """Per-axis kernel sizes or strides as the 5-D kernels take them: 1 for the missing axes."""
    return (1,) * (3 - ndim) + tuple(values)


def reuse_or_empty(store: dict[str, np.ndarray], key: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """``store[key]`` if it has this shape and dtype and nothing outside ``store`` refers to it, else a new array.

    Layers return fresh arrays, but a large fresh array costs a page fault per 4 KiB on first
    touch.  When the caller has dropped every reference (and view) to the array a layer returned
    last time, no one can observe it being overwritten, so it is reused.
    """
    buf = store.get(key)
    # references: the store, the local name, getrefcount's argument
    if buf is not None and buf.shape == tuple(shape) and buf.dtype == dtype and sys.getrefcount(buf) <= 3:
        return buf
    buf = store[key] = np.empty(shape, dtype=dtype)
    return buf
