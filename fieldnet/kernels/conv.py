"""Direct (im2col-free) convolution kernels: forward, input gradient and weight gradient.

All arrays are 5-D and C-contiguous: inputs (N, C, D, H, W), weights (O, C, KD, KH, KW),
outputs (N, O, Do, Ho, Wo).  1-D and 2-D convolutions pass views with unit spatial axes.

Padding (periodic, zero, none) is not handled here: :func:`pad_gather` builds the padded input
from per-axis index maps once per forward pass, the convolution kernels then run in "valid" mode
on it, and :func:`pad_fold` adds the gradient of the padded input back onto the original cells
(wrap-around cells fold onto the cells they copy).  One compiled kernel therefore serves every
padding mode and every dimension; only the dtype (float32 for work, float64 for gradient checks)
makes a second specialisation.

Parallelism: one level of ``prange`` per kernel, over (sample, channel) pairs, so a batch of one
still uses every thread.  The weight gradient is reduced over FIXED chunks of
``WEIGHT_GRAD_CHUNK`` samples (each chunk summed in a fixed order into its own buffer, the chunk
buffers then summed in order), so gradients are bit-identical whatever the number of threads.

``fastmath`` is limited to flags that cannot change NaN/inf behaviour (no ``nnan``/``ninf``);
re-association lets the reductions vectorise and is the same code on every thread,
so a diverging training run still shows NaN in its loss.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

#: samples per weight-gradient reduction chunk; fixed so the summation order never depends on threads
WEIGHT_GRAD_CHUNK = 4

_FAST = {"contract", "reassoc", "arcp", "nsz", "afn"}


@njit(parallel=True, cache=True)
def pad_gather(x, map_d, map_h, map_w, out):  # pragma: no cover - compiled
    """Padded copy of ``x``: out[n, c, i, j, k] = x[n, c, map_d[i], map_h[j], map_w[k]], 0 where a map is -1.

    Args:
        x: (N, C, D, H, W) input.
        map_d, map_h, map_w: int64 source index of every padded position along each axis (-1 = zero).
        out: (N, C, len(map_d), len(map_h), len(map_w)) output, overwritten.
    """
    N, C = x.shape[0], x.shape[1]
    Dp, Hp, Wp = out.shape[2], out.shape[3], out.shape[4]
    zero = x.dtype.type(0)
    for t in prange(N * C):
        n = t // C
        c = t % C
        for i in range(Dp):
            si = map_d[i]
            for j in range(Hp):
                sj = map_h[j]
                orow = out[n, c, i, j]
                if si < 0 or sj < 0:
                    for k in range(Wp):
                        orow[k] = zero
                else:
                    irow = x[n, c, si, sj]
                    for k in range(Wp):
                        sk = map_w[k]
                        orow[k] = irow[sk] if sk >= 0 else zero


@njit(parallel=True, cache=True)
def pad_fold(dxp, map_d, map_h, map_w, dx):  # pragma: no cover - compiled
    """Adjoint of :func:`pad_gather`: dx[n, c, map(i, j, k)] += dxp[n, c, i, j, k] (dx overwritten)."""
    N, C = dx.shape[0], dx.shape[1]
    Dp, Hp, Wp = dxp.shape[2], dxp.shape[3], dxp.shape[4]
    zero = dx.dtype.type(0)
    for t in prange(N * C):
        n = t // C
        c = t % C
        plane = dx[n, c]
        for i in range(plane.shape[0]):
            for j in range(plane.shape[1]):
                for k in range(plane.shape[2]):
                    plane[i, j, k] = zero
        for i in range(Dp):
            si = map_d[i]
            if si < 0:
                continue
            for j in range(Hp):
                sj = map_h[j]
                if sj < 0:
                    continue
                grow = dxp[n, c, i, j]
                orow = plane[si, sj]
                for k in range(Wp):
                    sk = map_w[k]
                    if sk >= 0:
                        orow[sk] += grow[k]


@njit(parallel=True, cache=True, fastmath=_FAST)
def conv_forward(xp, w, b, has_bias, relu, sd, sh, sw, out):  # pragma: no cover - compiled
    """Valid-mode strided cross-correlation of the padded input, plus bias, optionally ReLU.

    out[n, o, z, y, x] = b[o] + sum_{c, kd, kh, kw} w[o, c, kd, kh, kw] * xp[n, c, z*sd+kd, y*sh+kh, x*sw+kw]

    Args:
        xp: (N, C, Dp, Hp, Wp) padded input.
        w: (O, C, KD, KH, KW) weights.
        b: (O,) bias (ignored unless ``has_bias``).
        has_bias, relu: add the bias; apply max(., 0) to the result (fused activation).
        sd, sh, sw: strides.
        out: (N, O, Do, Ho, Wo), overwritten.
    """
    N, C = xp.shape[0], xp.shape[1]
    O, KD, KH, KW = w.shape[0], w.shape[2], w.shape[3], w.shape[4]
    Do, Ho, Wo = out.shape[2], out.shape[3], out.shape[4]
    zero = out.dtype.type(0)
    for t in prange(N * O):
        n = t // O
        o = t % O
        start = b[o] if has_bias else zero
        plane = out[n, o]
        for z in range(Do):
            for y in range(Ho):
                orow = plane[z, y]
                for x in range(Wo):
                    orow[x] = start
        for c in range(C):
            xc = xp[n, c]
            for kd in range(KD):
                for kh in range(KH):
                    for kw in range(KW):
                        wv = w[o, c, kd, kh, kw]
                        for z in range(Do):
                            for y in range(Ho):
                                orow = plane[z, y]
                                irow = xc[z * sd + kd, y * sh + kh]
                                if sw == 1:
                                    for x in range(Wo):
                                        orow[x] += wv * irow[x + kw]
                                else:
                                    for x in range(Wo):
                                        orow[x] += wv * irow[x * sw + kw]
        if relu:
            for z in range(Do):
                for y in range(Ho):
                    orow = plane[z, y]
                    for x in range(Wo):
                        if orow[x] < zero:
                            orow[x] = zero


@njit(parallel=True, cache=True, fastmath=_FAST)
def conv_backward_input(dy, w, sd, sh, sw, dxp):  # pragma: no cover - compiled
    """Gradient with respect to the padded input (the transpose of :func:`conv_forward`).

    Args:
        dy: (N, O, Do, Ho, Wo) output gradient (after the ReLU mask, if any).
        w: (O, C, KD, KH, KW) weights.
        sd, sh, sw: strides.
        dxp: (N, C, Dp, Hp, Wp), overwritten with dL/dxp.
    """
    N, C = dxp.shape[0], dxp.shape[1]
    O, KD, KH, KW = w.shape[0], w.shape[2], w.shape[3], w.shape[4]
    Do, Ho, Wo = dy.shape[2], dy.shape[3], dy.shape[4]
    zero = dxp.dtype.type(0)
    for t in prange(N * C):
        n = t // C
        c = t % C
        plane = dxp[n, c]
        for i in range(plane.shape[0]):
            for j in range(plane.shape[1]):
                prow = plane[i, j]
                for k in range(plane.shape[2]):
                    prow[k] = zero
        for o in range(O):
            go = dy[n, o]
            for kd in range(KD):
                for kh in range(KH):
                    for kw in range(KW):
                        wv = w[o, c, kd, kh, kw]
                        for z in range(Do):
                            for y in range(Ho):
                                grow = go[z, y]
                                prow = plane[z * sd + kd, y * sh + kh]
                                if sw == 1:
                                    for x in range(Wo):
                                        prow[x + kw] += wv * grow[x]
                                else:
                                    for x in range(Wo):
                                        prow[x * sw + kw] += wv * grow[x]


@njit(parallel=True, cache=True, fastmath=_FAST)
def conv_backward_weight(xp, dy, has_bias, sd, sh, sw, partial_w, partial_b):  # pragma: no cover - compiled
    """Per-chunk weight and bias gradients; the caller sums the chunk buffers in order.

    Args:
        xp: (N, C, Dp, Hp, Wp) padded input of the forward pass.
        dy: (N, O, Do, Ho, Wo) output gradient (after the ReLU mask, if any).
        has_bias: also reduce the bias gradient.
        sd, sh, sw: strides.
        partial_w: (ceil(N / WEIGHT_GRAD_CHUNK), O, C, KD, KH, KW), overwritten.
        partial_b: (ceil(N / WEIGHT_GRAD_CHUNK), O), overwritten.
    """
    N, C = xp.shape[0], xp.shape[1]
    O, KD, KH, KW = partial_w.shape[1], partial_w.shape[3], partial_w.shape[4], partial_w.shape[5]
    Do, Ho, Wo = dy.shape[2], dy.shape[3], dy.shape[4]
    n_chunks = partial_w.shape[0]
    zero = partial_w.dtype.type(0)
    for chunk in prange(n_chunks):
        pw = partial_w[chunk]
        pb = partial_b[chunk]
        for o in range(O):
            pb[o] = zero
            for c in range(C):
                for kd in range(KD):
                    for kh in range(KH):
                        for kw in range(KW):
                            pw[o, c, kd, kh, kw] = zero
        stop = min(N, (chunk + 1) * WEIGHT_GRAD_CHUNK)
        for n in range(chunk * WEIGHT_GRAD_CHUNK, stop):
            for o in range(O):
                go = dy[n, o]
                if has_bias:
                    acc = zero
                    for z in range(Do):
                        for y in range(Ho):
                            grow = go[z, y]
                            for x in range(Wo):
                                acc += grow[x]
                    pb[o] += acc
                for c in range(C):
                    xc = xp[n, c]
                    for kd in range(KD):
                        for kh in range(KH):
                            for kw in range(KW):
                                acc = zero
                                for z in range(Do):
                                    for y in range(Ho):
                                        grow = go[z, y]
                                        irow = xc[z * sd + kd, y * sh + kh]
                                        if sw == 1:
                                            for x in range(Wo):
                                                acc += grow[x] * irow[x + kw]
                                        else:
                                            for x in range(Wo):
                                                acc += grow[x] * irow[x * sw + kw]
                                pw[o, c, kd, kh, kw] += acc


@njit(parallel=True, cache=True)
def relu_mask_grad(dy, out, dy_masked):  # pragma: no cover - compiled
    """dy_masked = dy where out > 0 else 0 (the backward of a fused ReLU); flat C-contiguous arrays."""
    zero = dy.dtype.type(0)
    n = dy.shape[0]
    for i in prange(n):
        dy_masked[i] = dy[i] if out[i] > zero else zero


def padding_index_map(size: int, pad_lo: int, padded: int, mode: str) -> np.ndarray:
    """Source index of each of ``padded`` positions along one axis (int64; -1 = a zero cell).

    ``mode`` is "periodic" (wrap around, any amount of padding) or "zero"; position i reads
    cell i - pad_lo of the unpadded axis of length ``size``.
    """
    src = np.arange(padded, dtype=np.int64) - pad_lo
    if mode == "periodic":
        return np.mod(src, size)
    return np.where((src >= 0) & (src < size), src, -1)
