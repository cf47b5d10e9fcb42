"""Convolution layers (1-D, 2-D, 3-D) with periodic, zero ("same") or valid padding.

The layers compute a cross-correlation (as every deep-learning library does):
``y[n, o, p] = b[o] + sum_{c, k} w[o, c, k] * x_padded[n, c, p * S + k]``.

Padding modes:
    * ``"periodic"`` (default): wrap-around, the lattice is a torus; a shift of the input by a
      multiple of the stride shifts the output exactly.  Output size ceil(W / S).
    * ``"zero"``: "same" zero padding, output size ceil(W / S); for an odd kernel at stride 1 the
      padding is (F - 1)/2 on each side; an odd total goes on the high side (as in TensorFlow/PyTorch).
    * ``"valid"``: no padding, output size (W - F)/S + 1.

Work arrays are float32; a float64 input runs the same kernels compiled for float64 (used by
the finite-difference gradient checks).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from fieldnet.engine.initializers import he_normal
from fieldnet.engine.kernels.conv import (
    WEIGHT_GRAD_CHUNK,
    ConvPlan,
    conv_accumulate,
    conv_weight_grad,
    pack_weights,
    pad_fold,
    pad_gather,
    plan_convolution,
    widen_output_grad,
)
from fieldnet.engine.layers.base import Layer, register_layer, work_dtype
from fieldnet.engine.layers.spatial import (
    as_5d,
    as_written,
    axis_tuple,
    conv_output_size,
    per_sample_shape,
    reuse_or_empty,
    three_axes,
)
from fieldnet.errors import ShapeError

PADDING_MODES = ("periodic", "zero", "valid")
ACTIVATIONS = (None, "relu")


class _ConvNd(Layer):
    """Shared implementation of Conv1d/2d/3d; subclasses set ``ndim``."""

    ndim: ClassVar[int] = 2

    def __init__(
        self,
        out_channels: int,
        kernel_size: int | tuple[int, ...] | list[int] = 3,
        stride: int | tuple[int, ...] | list[int] = 1,
        padding: str = "periodic",
        bias: bool = True,
        activation: str | None = None,
        in_channels: int | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self.out_channels = int(out_channels)
        # one int per spatial axis, checked now so that a bad configuration fails where it is written
        self.kernel_size = axis_tuple(kernel_size, self.ndim, "kernel_size", self.label)
        self.stride = axis_tuple(stride, self.ndim, "stride", self.label)
        self.padding = padding
        self.bias = bool(bias)
        self.activation = activation
        self.in_channels = None if in_channels is None else int(in_channels)
        # the sizes as the caller wrote them (3 or [3, 3]): the config, and so a saved architecture, keeps them
        self._written = {"kernel_size": as_written(kernel_size), "stride": as_written(stride)}
        if padding not in PADDING_MODES:
            raise ShapeError(f"{self.label}: padding must be one of {PADDING_MODES}, got {padding!r}")
        if activation not in ACTIVATIONS:
            raise ShapeError(f"{self.label}: activation must be None or 'relu', got {activation!r}")
        if self.out_channels < 1:
            raise ShapeError(f"{self.label}: out_channels must be positive, got {out_channels}")
        self._cache: dict[str, Any] = {}
        self._work: dict[str, np.ndarray] = {}  # scratch reused between calls (no page faults)
        self._plans: dict[tuple[int, ...], ConvPlan] = {}  # kernel geometry per input shape

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "kernel_size": self._written["kernel_size"],
            "stride": self._written["stride"],
            "padding": self.padding,
            "bias": self.bias,
            "activation": self.activation,
        }

    def spatial_stride(self) -> int:
        return int(max(self.stride))

    # -- shapes ----------------------------------------------------------------------------
    def axis_geometry(self, spatial: tuple[int, ...]) -> list[tuple[int, int, int]]:
        """Per spatial axis: (output size, low padding, padded length)."""
        geometry = []
        for size, k, s in zip(spatial, self.kernel_size, self.stride, strict=True):
            if self.padding == "valid":
                out = conv_output_size(size, k, s, 0, layer=self.label)
                geometry.append((out, 0, size))
            else:
                out = -(-size // s)  # ceil(W / S)
                pad_total = max((out - 1) * s + k - size, 0)
                if size < 1:
                    conv_output_size(size, k, s, pad_total, layer=self.label)
                geometry.append((out, pad_total // 2, size + pad_total))
        return geometry

    def compute_output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        input_shape = per_sample_shape(input_shape, self.ndim, self.label)
        channels = self.in_channels if self.in_channels is not None else (
            self.params["kernel"].shape[1] if "kernel" in self.params else None
        )
        if channels is not None and input_shape[0] != channels:
            raise ShapeError(f"{self.label}: expects {channels} input channels, got input shape {input_shape}")
        geometry = self.axis_geometry(input_shape[1:])
        return (self.out_channels, *(g[0] for g in geometry))

    def array_shapes(self, input_shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        self.compute_output_shape(input_shape)
        shapes = {"kernel": (self.out_channels, int(input_shape[0]), *self.kernel_size)}
        return {**shapes, "bias": (self.out_channels,)} if self.bias else shapes

    def build(self, input_shape: tuple[int, ...], rng: np.random.Generator) -> None:
        self.params, self.grads, self._work, self._cache, self._plans = {}, {}, {}, {}, {}  # a rebuild starts afresh
        super().build(input_shape, rng)
        in_ch = int(input_shape[0])
        fan_in = in_ch * int(np.prod(self.kernel_size))
        self.params["kernel"] = he_normal((self.out_channels, in_ch, *self.kernel_size), fan_in, rng)
        if self.bias:
            self.params["bias"] = np.zeros(self.out_channels, dtype=np.float32)
        self.zero_grads()

    # -- computation -----------------------------------------------------------------------
    def _plan(self, input_shape: tuple[int, ...]) -> ConvPlan:
        """The kernels' geometry for per-sample input shape (C, *spatial), computed once per shape."""
        plan = self._plans.get(input_shape)
        if plan is None:
            spatial = input_shape[1:]
            full = (1,) * (3 - self.ndim) + spatial
            geometry = [(1, 0, 1)] * (3 - self.ndim) + self.axis_geometry(spatial)
            plan = self._plans[input_shape] = plan_convolution(
                full, three_axes(self.kernel_size, self.ndim), three_axes(self.stride, self.ndim), geometry, self.padding
            )
        return plan

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """Convolve a batch (N, C, *spatial) into (N, out_channels, *spatial_out)."""
        self.check_input(x, self.ndim + 2)
        if not self.built:
            raise ShapeError(f"{self.label}: call build(input_shape, rng) before forward")
        out_shape = self.compute_output_shape(x.shape[1:])
        dtype = work_dtype(x)
        x = np.ascontiguousarray(x, dtype=dtype)
        plan = self._plan(tuple(x.shape[1:]))
        n, c = x.shape[:2]
        relu = self.activation == "relu"
        w = np.ascontiguousarray(self.params["kernel"], dtype=dtype)
        b = np.ascontiguousarray(self.params["bias"], dtype=dtype) if self.bias else np.zeros(1, dtype)
        self._cache = {}
        out = reuse_or_empty(self._work, "out", (n,) + out_shape, dtype)
        # the phase planes of the padded input, flat, with the readable slack the kernels run into
        count = n * c * plan.phases * plan.plane
        xs = self._work.get("xs")
        if xs is None or xs.shape != (count + plan.slack,) or xs.dtype != dtype:
            xs = self._work["xs"] = np.zeros(count + plan.slack, dtype=dtype)
        pad_gather(x.reshape(n, c, -1), plan.gather_index, xs[:count].reshape((n, c, plan.phases * plan.plane)))
        tap_w, tap_src, tap_off, tap_count = plan.forward_taps
        packed = pack_weights(w.reshape(w.shape[0], w.shape[1], -1), tap_w, tap_count)
        _, hq, wq = plan.phase_shape
        conv_accumulate(xs, plan.phases, plan.plane, packed, tap_src, tap_off, tap_count, b, self.bias, relu,
                        out.reshape((n, self.out_channels, 1, *plan.out)), hq, wq)
        self._cache = {"xs": xs, "plan": plan, "x_shape": x.shape, "out": out, "w": w}
        return out

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        """Input gradient of the last forward; fills ``grads["kernel"]`` (and ``grads["bias"]``).

        Returns None when ``input_grad`` is False (nothing upstream needs it).
        """
        if not self._cache:
            raise RuntimeError(f"{self.label}: backward called before forward")
        c = self._cache
        out, plan = c["out"], c["plan"]
        dtype = out.dtype
        if dy.shape != out.shape:
            raise ShapeError(f"{self.label}: output gradient has shape {dy.shape}, expected {out.shape}")
        dy = np.ascontiguousarray(dy, dtype=dtype)
        w3 = c["w"].reshape(c["w"].shape[0], c["w"].shape[1], -1)
        n, n_in = c["x_shape"][:2]
        _, hq, wq = plan.phase_shape
        # the output gradient in the positions' coordinates, ReLU mask applied
        dy_ext = self._scratch("dy_ext", (n, self.out_channels, plan.margin + plan.plane + plan.slack), dtype)
        dy5, out5 = as_5d(dy, self.ndim), as_5d(out, self.ndim)
        widen_output_grad(dy5, out5, self.activation == "relu", hq, wq, plan.margin, dy_ext)
        n_chunks = max(1, -(-n // WEIGHT_GRAD_CHUNK))
        partial_w = self._scratch("partial_w", (n_chunks,) + w3.shape, dtype)
        partial_b = self._scratch("partial_b", (n_chunks, w3.shape[0]), dtype)
        conv_weight_grad(c["xs"], plan.phases, plan.plane, plan.tap_phase, plan.tap_off, dy_ext, plan.margin, plan.span,
                         self.bias, plan.block, partial_w, partial_b)
        for i in range(1, n_chunks):  # fixed order, whatever the thread count
            partial_w[0] += partial_w[i]
            partial_b[0] += partial_b[i]
        self.grad_buffer("kernel")[...] = partial_w[0].reshape(self.params["kernel"].shape)
        if self.bias:
            self.grad_buffer("bias")[...] = partial_b[0]
        if not self.input_grad:
            return None
        # the gradient of each phase plane is a convolution of dy with that phase's mirrored taps
        tap_w, tap_src, tap_off, tap_count = plan.backward_taps
        packed = pack_weights(w3.transpose(1, 0, 2), tap_w, tap_count)
        dxq = self._scratch("dxq", (n, n_in, plan.phases, *plan.phase_shape), dtype)
        conv_accumulate(dy_ext.reshape(-1), 1, dy_ext.shape[2], packed, tap_src, tap_off, tap_count, partial_b[0], False, False,
                        dxq, hq, wq)
        dx = reuse_or_empty(self._work, "dx", c["x_shape"], dtype)
        pad_fold(dxq.reshape(n, n_in, -1), plan.fold_first, plan.fold_extra_cell, plan.fold_extra_src, dx.reshape(n, n_in, -1))
        return dx

    def _scratch(self, key: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        buf = self._work.get(key)
        if buf is None or buf.shape != tuple(shape) or buf.dtype != dtype:
            buf = self._work[key] = np.empty(shape, dtype=dtype)
        return buf

    # -- accounting ------------------------------------------------------------------------
    def param_count(self) -> int:
        if self.params:
            return super().param_count()
        if self.in_channels is None:
            return 0
        return self.out_channels * self.in_channels * int(np.prod(self.kernel_size)) + (self.out_channels if self.bias else 0)

    def flops(self, input_shape: tuple[int, ...]) -> int:
        """2 * (multiply-adds) per sample: out_channels * prod(out) * in_channels * prod(kernel), plus bias and ReLU."""
        out = self.compute_output_shape(input_shape)
        positions = int(np.prod(out))
        macs = positions * int(input_shape[0]) * int(np.prod(self.kernel_size))
        extra = positions * (int(self.bias) + int(self.activation == "relu"))
        return 2 * macs + extra


@register_layer
class Conv1d(_ConvNd):
    """1-D convolution over chains.

    Args:
        out_channels: number of filters O.
        kernel_size: filter length F.
        stride: step S.
        padding: "periodic" (default), "zero" ("same") or "valid".
        bias: add a learned bias per filter.
        activation: None or "relu" (fused into the convolution kernel).
        in_channels: input channels C, checked at build; inferred when None.
        name: optional label.

    Input shape: (N, C, W).
    Output shape: (N, out_channels, W_out), W_out = ceil(W/S) (periodic, zero) or (W - F)/S + 1 (valid).
    Weights: kernel (O, C, F), bias (O,).
    """

    ndim = 1


@register_layer
class Conv2d(_ConvNd):
    """2-D convolution over square or rectangular lattices.

    Args: as :class:`Conv1d`; ``kernel_size`` and ``stride`` may be an int or two ints.

    Input shape: (N, C, H, W).  Output shape: (N, out_channels, H_out, W_out), each as in Conv1d.
    Weights: kernel (O, C, KH, KW), bias (O,); parameter count O*KH*KW*C + O.
    """

    ndim = 2


@register_layer
class Conv3d(_ConvNd):
    """3-D convolution over cubic lattices.

    Args: as :class:`Conv1d`; ``kernel_size`` and ``stride`` may be an int or three ints.

    Input shape: (N, C, D, H, W).  Output shape: (N, out_channels, D_out, H_out, W_out).
    Weights: kernel (O, C, KD, KH, KW), bias (O,).
    """

    ndim = 3
