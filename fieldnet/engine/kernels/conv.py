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

#: unit-stride loops run over a multiple of this many positions (no scalar remainder loop); the
#: padded input is stored with this many readable elements after its end
SPAN_BLOCK = 32

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
def conv_forward(xp, xs, w, b, has_bias, relu, out):  # pragma: no cover - compiled
    """Valid-mode unit-stride cross-correlation of the padded input, plus bias, optionally ReLU.

    out[n, o, z, y, x] = b[o] + sum_{c, kd, kh, kw} w[o, c, kd, kh, kw] * xp[n, c, z+kd, y+kh, x+kw]
    (strided: x*sw + kw etc., in :func:`conv_forward_strided`).

    The output is accumulated in "padded-width" coordinates: position
    p = (z*Hp + y)*Wp + x reads input p + (kd*Hp + kh)*Wp + kw, so every filter tap is one long
    contiguous multiply-add over the whole plane (the few columns x >= Wo are computed and
    dropped), which vectorises well even for small lattices.

    Args:
        xp: (N, C, Dp, Hp, Wp) padded input, C-contiguous.
        xs: 1-D storage of ``xp`` followed by at least SPAN_BLOCK readable elements (the unit-stride
            loops run to a multiple of SPAN_BLOCK; the extra positions are computed and dropped).
        w: (O, C, KD, KH, KW) weights.
        b: (O,) bias (ignored unless ``has_bias``).
        has_bias, relu: add the bias; apply max(., 0) to the result (fused activation).
        out: (N, O, Do, Ho, Wo), overwritten.
    """
    N, C = xp.shape[0], xp.shape[1]
    Dp, Hp, Wp = xp.shape[2], xp.shape[3], xp.shape[4]
    O, KD, KH, KW = w.shape[0], w.shape[2], w.shape[3], w.shape[4]
    Do, Ho, Wo = out.shape[2], out.shape[3], out.shape[4]
    zero = out.dtype.type(0)
    span = ((Do - 1) * Hp + (Ho - 1)) * Wp + Wo
    span = -(-span // SPAN_BLOCK) * SPAN_BLOCK
    size = Dp * Hp * Wp
    # two output channels per task share every input load (for an odd count the last
    # task computes its channel twice and stores it once)
    pairs = (O + 1) // 2
    for t in prange(N * pairs):
        n = t // pairs
        o0 = (t % pairs) * 2
        o1 = min(o0 + 1, O - 1)
        acc0 = np.zeros(span, dtype=out.dtype)
        acc1 = np.zeros(span, dtype=out.dtype)
        for c in range(C):
            plane = (n * C + c) * size
            xrow = xs[plane : plane + size + SPAN_BLOCK]
            for kd in range(KD):
                for kh in range(KH):
                    base = (kd * Hp + kh) * Wp
                    kw = 0
                    # taps in threes: one pass over the accumulators per three taps (slices
                    # keep the loop free of negative-index checks, so it vectorises)
                    while kw + 3 <= KW:
                        x0 = xrow[base + kw : base + kw + span]
                        x1 = xrow[base + kw + 1 : base + kw + 1 + span]
                        x2 = xrow[base + kw + 2 : base + kw + 2 + span]
                        u0 = w[o0, c, kd, kh, kw]
                        u1 = w[o0, c, kd, kh, kw + 1]
                        u2 = w[o0, c, kd, kh, kw + 2]
                        v0 = w[o1, c, kd, kh, kw]
                        v1 = w[o1, c, kd, kh, kw + 1]
                        v2 = w[o1, c, kd, kh, kw + 2]
                        for p in range(span):
                            a = x0[p]
                            bb = x1[p]
                            d = x2[p]
                            acc0[p] += u0 * a + u1 * bb + u2 * d
                            acc1[p] += v0 * a + v1 * bb + v2 * d
                        kw += 3
                    while kw < KW:
                        x0 = xrow[base + kw : base + kw + span]
                        u0 = w[o0, c, kd, kh, kw]
                        v0 = w[o1, c, kd, kh, kw]
                        for p in range(span):
                            acc0[p] += u0 * x0[p]
                            acc1[p] += v0 * x0[p]
                        kw += 1
        for which in range(2):
            o = o0 if which == 0 else o1
            if which == 1 and o1 == o0:
                break
            acc = acc0 if which == 0 else acc1
            start = b[o] if has_bias else zero
            for z in range(Do):
                for y in range(Ho):
                    base = (z * Hp + y) * Wp
                    orow = out[n, o, z, y]
                    for x in range(Wo):
                        v = acc[base + x] + start
                        if relu and v < zero:
                            v = zero
                        orow[x] = v


@njit(parallel=True, cache=True, fastmath=_FAST)
def conv_forward_strided(xp, w, b, has_bias, relu, sd, sh, sw, out):  # pragma: no cover - compiled
    """As :func:`conv_forward` for strides (sd, sh, sw) other than all ones (row by row; compiled only when used)."""
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
                                for x in range(Wo):
                                    orow[x] += wv * irow[x * sw + kw]
        if relu:
            for z in range(Do):
                for y in range(Ho):
                    orow = plane[z, y]
                    for x in range(Wo):
                        if orow[x] < zero:
                            orow[x] = zero


@njit(parallel=True, cache=True)
def widen_output_grad(dy, out, relu, Hp, Wp, margin, dy_ext):  # pragma: no cover - compiled
    """Output gradient in padded-width coordinates for the unit-stride backward kernels.

    dy_ext[n, o, margin + (z*Hp + y)*Wp + x] = dy[n, o, z, y, x] (times out > 0 when ``relu``)
    and zero everywhere else (the dropped columns and the leading margin), so the backward
    kernels can read it at any filter offset without bounds checks.

    Args:
        dy, out: (N, O, Do, Ho, Wo) output gradient and forward output.
        Hp, Wp: padded input height and width.
        margin: leading zeros, the largest filter offset ((KD-1)*Hp + KH-1)*Wp + KW-1.
        dy_ext: (N, O, margin + Dp*Hp*Wp), overwritten.
    """
    N, O = dy.shape[0], dy.shape[1]
    Do, Ho, Wo = dy.shape[2], dy.shape[3], dy.shape[4]
    length = dy_ext.shape[2]
    zero = dy.dtype.type(0)
    for t in prange(N * O):
        n = t // O
        o = t % O
        row = dy_ext[n, o]
        for p in range(length):
            row[p] = zero
        for z in range(Do):
            for y in range(Ho):
                base = margin + (z * Hp + y) * Wp
                grow = dy[n, o, z, y]
                frow = out[n, o, z, y]
                for x in range(Wo):
                    v = grow[x]
                    if relu and not frow[x] > zero:
                        v = zero
                    row[base + x] = v


@njit(parallel=True, cache=True, fastmath=_FAST)
def conv_backward_input(dy_ext, w, dxp):  # pragma: no cover - compiled
    """Gradient with respect to the padded input (the transpose of :func:`conv_forward`).

    Args:
        dy_ext: output gradient from :func:`widen_output_grad` (ReLU mask applied).
        w: (O, C, KD, KH, KW) weights.
        dxp: (N, C, Dp, Hp, Wp), overwritten with dL/dxp.
    """
    N, C = dxp.shape[0], dxp.shape[1]
    Dp, Hp, Wp = dxp.shape[2], dxp.shape[3], dxp.shape[4]
    O, KD, KH, KW = w.shape[0], w.shape[2], w.shape[3], w.shape[4]
    zero = dxp.dtype.type(0)
    size = Dp * Hp * Wp
    dxf = dxp.reshape((N, C, size))
    # gather form: dxp[q] = sum_{o, taps} w * g[q - offset], g read from dy_ext whose leading
    # margin of zeros makes every shifted read a plain slice
    margin = dy_ext.shape[2] - size
    # two input channels per task share every gradient load
    pairs = (C + 1) // 2
    for t in prange(N * pairs):
        n = t // pairs
        c0 = (t % pairs) * 2
        two = c0 + 1 < C
        row0 = dxf[n, c0]
        row1 = dxf[n, c0 + 1] if two else np.empty(size, dtype=dxp.dtype)
        for p in range(size):
            row0[p] = zero
            row1[p] = zero
        for o in range(O):
            g = dy_ext[n, o]
            for kd in range(KD):
                for kh in range(KH):
                    base = margin - (kd * Hp + kh) * Wp
                    kw = 0
                    while kw + 3 <= KW:
                        g0 = g[base - kw : base - kw + size]
                        g1 = g[base - kw - 1 : base - kw - 1 + size]
                        g2 = g[base - kw - 2 : base - kw - 2 + size]
                        u0 = w[o, c0, kd, kh, kw]
                        u1 = w[o, c0, kd, kh, kw + 1]
                        u2 = w[o, c0, kd, kh, kw + 2]
                        if two:
                            v0 = w[o, c0 + 1, kd, kh, kw]
                            v1 = w[o, c0 + 1, kd, kh, kw + 1]
                            v2 = w[o, c0 + 1, kd, kh, kw + 2]
                            for p in range(size):
                                a = g0[p]
                                bb = g1[p]
                                d = g2[p]
                                row0[p] += u0 * a + u1 * bb + u2 * d
                                row1[p] += v0 * a + v1 * bb + v2 * d
                        else:
                            for p in range(size):
                                row0[p] += u0 * g0[p] + u1 * g1[p] + u2 * g2[p]
                        kw += 3
                    while kw < KW:
                        g0 = g[base - kw : base - kw + size]
                        u0 = w[o, c0, kd, kh, kw]
                        v0 = w[o, c0 + 1, kd, kh, kw] if two else zero
                        for p in range(size):
                            row0[p] += u0 * g0[p]
                            row1[p] += v0 * g0[p]
                        kw += 1


@njit(parallel=True, cache=True, fastmath=_FAST)
def conv_backward_input_strided(dy, w, sd, sh, sw, dxp):  # pragma: no cover - compiled
    """As :func:`conv_backward_input` for strides other than all ones; ``dy`` has the ReLU mask applied."""
    N, C = dxp.shape[0], dxp.shape[1]
    Dp, Hp, Wp = dxp.shape[2], dxp.shape[3], dxp.shape[4]
    O, KD, KH, KW = w.shape[0], w.shape[2], w.shape[3], w.shape[4]
    Do, Ho, Wo = dy.shape[2], dy.shape[3], dy.shape[4]
    zero = dxp.dtype.type(0)
    size = Dp * Hp * Wp
    dxf = dxp.reshape((N, C, size))
    for t in prange(N * C):
        n = t // C
        c = t % C
        row = dxf[n, c]
        for p in range(size):
            row[p] = zero
        plane = dxp[n, c]
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
                                for x in range(Wo):
                                    prow[x * sw + kw] += wv * grow[x]


@njit(parallel=True, cache=True, fastmath=_FAST)
def conv_backward_weight(xp, xs, dy_ext, has_bias, partial_w, partial_b):  # pragma: no cover - compiled
    """Per-chunk weight and bias gradients; the caller sums the chunk buffers in order.

    Args:
        xp: (N, C, Dp, Hp, Wp) padded input of the forward pass.
        xs: its 1-D storage with SPAN_BLOCK readable elements after the end (see conv_forward).
        dy_ext: output gradient from :func:`widen_output_grad` (ReLU mask applied).
        has_bias: also reduce the bias gradient.
        partial_w: (ceil(N / WEIGHT_GRAD_CHUNK), O, C, KD, KH, KW), overwritten.
        partial_b: (ceil(N / WEIGHT_GRAD_CHUNK), O), overwritten.
    """
    N, C = xp.shape[0], xp.shape[1]
    Dp, Hp, Wp = xp.shape[2], xp.shape[3], xp.shape[4]
    O, KD, KH, KW = partial_w.shape[1], partial_w.shape[3], partial_w.shape[4], partial_w.shape[5]
    n_chunks = partial_w.shape[0]
    zero = partial_w.dtype.type(0)
    size = Dp * Hp * Wp
    margin = dy_ext.shape[2] - size
    span = dy_ext.shape[2] - margin - (((KD - 1) * Hp + KH - 1) * Wp + KW - 1)  # = ((Do-1)*Hp + Ho-1)*Wp + Wo
    # dots over a multiple of SPAN_BLOCK where dy_ext has room (its extra positions are zero)
    span_v = min(-(-span // SPAN_BLOCK) * SPAN_BLOCK, size)
    for chunk in prange(n_chunks):
        pw = partial_w[chunk]
        pb = partial_b[chunk]
        pw[:] = zero
        pb[:] = zero
        stop = min(N, (chunk + 1) * WEIGHT_GRAD_CHUNK)
        for n in range(chunk * WEIGHT_GRAD_CHUNK, stop):
            for o in range(O):
                if has_bias:
                    acc = zero
                    g = dy_ext[n, o, margin : margin + span]
                    for p in range(span):
                        acc += g[p]
                    pb[o] += acc
                if o % 2 == 0:
                    # two output channels at a time share every input load
                    o1 = min(o + 1, O - 1)
                    g = dy_ext[n, o, margin : margin + span_v]
                    h = dy_ext[n, o1, margin : margin + span_v]
                    for c in range(C):
                        plane = (n * C + c) * size
                        xrow = xs[plane : plane + size + SPAN_BLOCK]
                        for kd in range(KD):
                            for kh in range(KH):
                                base = (kd * Hp + kh) * Wp
                                kw = 0
                                while kw + 3 <= KW:
                                    x0 = xrow[base + kw : base + kw + span_v]
                                    x1 = xrow[base + kw + 1 : base + kw + 1 + span_v]
                                    x2 = xrow[base + kw + 2 : base + kw + 2 + span_v]
                                    a0 = zero
                                    a1 = zero
                                    a2 = zero
                                    e0 = zero
                                    e1 = zero
                                    e2 = zero
                                    for p in range(span_v):
                                        gp = g[p]
                                        hp = h[p]
                                        y0 = x0[p]
                                        y1 = x1[p]
                                        y2 = x2[p]
                                        a0 += gp * y0
                                        a1 += gp * y1
                                        a2 += gp * y2
                                        e0 += hp * y0
                                        e1 += hp * y1
                                        e2 += hp * y2
                                    pw[o, c, kd, kh, kw] += a0
                                    pw[o, c, kd, kh, kw + 1] += a1
                                    pw[o, c, kd, kh, kw + 2] += a2
                                    if o1 != o:
                                        pw[o1, c, kd, kh, kw] += e0
                                        pw[o1, c, kd, kh, kw + 1] += e1
                                        pw[o1, c, kd, kh, kw + 2] += e2
                                    kw += 3
                                while kw < KW:
                                    x0 = xrow[base + kw : base + kw + span_v]
                                    a0 = zero
                                    e0 = zero
                                    for p in range(span_v):
                                        a0 += g[p] * x0[p]
                                        e0 += h[p] * x0[p]
                                    pw[o, c, kd, kh, kw] += a0
                                    if o1 != o:
                                        pw[o1, c, kd, kh, kw] += e0
                                    kw += 1


@njit(parallel=True, cache=True, fastmath=_FAST)
def conv_backward_weight_strided(xp, dy, has_bias, sd, sh, sw, partial_w, partial_b):  # pragma: no cover - compiled
    """As :func:`conv_backward_weight` for strides other than all ones; ``dy`` (N, O, Do, Ho, Wo) has the ReLU mask applied."""
    N, C = xp.shape[0], xp.shape[1]
    O, KD, KH, KW = partial_w.shape[1], partial_w.shape[3], partial_w.shape[4], partial_w.shape[5]
    Do, Ho, Wo = dy.shape[2], dy.shape[3], dy.shape[4]
    n_chunks = partial_w.shape[0]
    zero = partial_w.dtype.type(0)
    for chunk in prange(n_chunks):
        pw = partial_w[chunk]
        pb = partial_b[chunk]
        pw[:] = zero
        pb[:] = zero
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
