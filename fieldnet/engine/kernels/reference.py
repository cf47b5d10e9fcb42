"""What the numba kernels compute, written as plain numpy: their specification.

These functions are slow and short on purpose; the tests hold the kernels (through the
convolution and pooling layers) to them for every dimension, padding mode, window and stride.

Arrays are batch-first with 1 to 3 spatial axes: inputs ``(N, C, *S)``.

**Convolution** is a cross-correlation, as in every deep-learning library::

    y[n, o, p] = b[o] + sum_{c, k} w[o, c, k] * x_padded[n, c, p * S + k]

with ``p`` and ``k`` running over every spatial axis, weights ``w`` of shape ``(O, C, *F)``, bias
``b`` of shape ``(O,)`` (or none) and output ``(N, O, *S_out)``.

Along each spatial axis of length W, with filter size F and stride S, the output length is
``W_out = (W - F + 2P)/S + 1`` (rounded down) for a total padding 2P that depends on the mode:

* ``"valid"``: no padding, 2P = 0, so W_out = (W - F)/S + 1; needs F <= W.
* ``"zero"`` ("same"): zeros around the lattice, W_out = ceil(W / S), with
  2P = max((W_out - 1) S + F - W, 0); floor(2P / 2) cells go before the lattice and the rest
  after it (an odd total puts the extra cell after, as TensorFlow and PyTorch do).
* ``"periodic"``: as ``"zero"``, but the padding cells copy the opposite side of the lattice
  (wrap-around: the lattice is a torus), so a shift of the input by a multiple of S shifts the
  output exactly.

**Pooling** uses windows of size F and stride S without padding: W_out = (W - F)/S + 1; max
pooling takes each window's maximum, average pooling its mean.

The backward kernels compute the adjoints of these maps (checked by finite differences).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """Cells of "zero" or "periodic" padding (before, after) along an axis of length ``size``."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def reference_conv(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride: tuple[int, ...],
                   padding: str) -> np.ndarray:
    """Cross-correlation of ``x`` (N, C, *S) with ``w`` (O, C, *F) plus ``b`` (O,) -> (N, O, *S_out).

    Args:
        x: input batch with 1 to 3 spatial axes.
        w: filters, one size per spatial axis.
        b: bias per output channel, or None.
        stride: one step per spatial axis.
        padding: "periodic", "zero" or "valid".
    """
    nd = x.ndim - 2
    kernel = w.shape[2:]
    if padding == "valid":
        xp = x
    else:
        pads = [_same_padding(size, k, s) for size, k, s in zip(x.shape[2:], kernel, stride, strict=True)]
        xp = np.pad(x, [(0, 0), (0, 0), *pads], mode="wrap" if padding == "periodic" else "constant")
    windows = sliding_window_view(xp, kernel, axis=tuple(range(2, 2 + nd)))
    windows = windows[(slice(None), slice(None), *(slice(None, None, s) for s in stride))]
    # windows: (N, C, *S_out, *F)
    out_axes, kernel_axes = "defgh"[:nd], "pqr"[:nd]
    y = np.einsum(f"nc{out_axes}{kernel_axes},oc{kernel_axes}->no{out_axes}", windows, w)
    if b is not None:
        y = y + b.reshape((1, -1) + (1,) * nd)
    return y


def reference_pool(x: np.ndarray, kernel_size: tuple[int, ...], stride: tuple[int, ...], mode: str) -> np.ndarray:
    """Max ("max") or average ("avg") pooling of ``x`` (N, C, *S) over valid windows -> (N, C, *S_out).

    Args:
        x: input batch with 1 to 3 spatial axes.
        kernel_size: window size per spatial axis.
        stride: step per spatial axis.
        mode: "max" or "avg".
    """
    nd = x.ndim - 2
    windows = sliding_window_view(x, tuple(kernel_size), axis=tuple(range(2, 2 + nd)))
    windows = windows[(slice(None), slice(None), *(slice(None, None, s) for s in stride))]
    window_axes = tuple(range(-nd, 0))
    return windows.max(axis=window_axes) if mode == "max" else windows.mean(axis=window_axes)
