"""Direct (im2col-free) convolution kernels: forward, input gradient and weight gradient.

One set of kernels serves every dimension (1-D and 2-D layers pass 5-D views with unit axes),
every padding mode and every stride, in float32 (work) and float64 (gradient checks).

**Layout.**  :func:`plan_convolution` describes a layer's geometry for one input shape.  The
input is gathered once per forward pass (:func:`pad_gather`) into *phase planes*: along an axis
with stride S the padded input splits into S phases (positions i*S + a, a = 0..S-1), and a
strided convolution is a sum of unit-stride convolutions of the phase planes with the taps that
fall into each phase.  Every plane is stored flat, in "padded-width" coordinates: output
position (z, y, x) is p = (z*Hq + y)*Wq + x and filter tap (kd, kh, kw) reads phase
(kd%Sd, kh%Sh, kw%Sw) at p + ((kd//Sd)*Hq + kh//Sh)*Wq + kw//Sw, so every tap is one long
contiguous multiply-add over the plane (the few columns x >= Wo are computed and dropped).
Padding (periodic, zero, none) is the gather's index map; :func:`pad_fold` is its adjoint.

**Kernels.**  :func:`conv_accumulate` is the forward pass, and with the weights transposed and
the taps mirrored it is also the input gradient (the gradient of a phase plane is a unit-stride
convolution of the output gradient with that phase's taps).  :func:`conv_weight_grad` reduces
the weight and bias gradients.  Both work on blocks of BLOCK positions, so the accumulators and
the input rows they read stay in L1 cache; GROUP output channels share every input load.

**Determinism.**  One ``prange`` per kernel, over (sample, channel group) tasks, each computed
by one thread in a fixed order.  The weight gradient is reduced over FIXED chunks of
``WEIGHT_GRAD_CHUNK`` samples into per-chunk buffers that the caller sums in order, so
gradients are bit-identical whatever the number of threads.  ``fastmath`` is limited to flags
that cannot change NaN/inf behaviour (no ``nnan``/``ninf``): re-association lets the reductions
vectorise, is the same code on every thread, and a diverging run still shows NaN in its loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import prange
from numba.extending import register_jitable

from fieldnet.engine.kernels.jit import kernel

#: samples per weight-gradient reduction chunk; fixed so the summation order never depends on threads
WEIGHT_GRAD_CHUNK = 4
#: output channels computed together (they share every input load); separate accumulator arrays
#: keep the inner loop free of aliasing between them, so it vectorises
GROUP = 4
#: positions per accumulator block: GROUP accumulators and the rows they read fit in L1
BLOCK = 512
#: block lengths are multiples of this (whole vectors, no scalar remainder loop)
ALIGN = 16

_FAST = {"contract", "reassoc", "arcp", "nsz", "afn"}


@dataclass(frozen=True)
class ConvPlan:
    """Geometry of one convolution for one input shape, as the kernels take it.

    Attributes:
        out: output spatial shape (Do, Ho, Wo).
        stride: (Sd, Sh, Sw).
        phase_shape: (Dq, Hq, Wq), one phase plane; ``plane`` = Dq*Hq*Wq elements.
        phases: Sd*Sh*Sw phase planes per channel.
        maps: per axis, int64 (S, q) source index of phase a, position i in the unpadded input
            (-1 = a zero cell): padded position i*S + a.
        tap_phase, tap_off: int64 (T,) phase plane and offset of each filter tap (kd, kh, kw) in
            C order.
        margin: the largest tap offset (the output gradient's leading zeros).
        span: positions p that hold outputs: ((Do-1)*Hq + Ho-1)*Wq + Wo.
        block, block_back: positions per kernel block (a multiple of ALIGN, at most BLOCK) in the
            forward pass and weight gradient (over ``span``), and in the input gradient (over
            the whole plane).
        runs: int64 (Sw, 3) per phase along x: (first, end, source of first) of the longest
            stretch of positions whose sources are evenly spaced cells, copied without the map.
        forward_taps, backward_taps: (weight tap, source phase, source offset, count) tables of
            :func:`conv_accumulate` for the forward pass and for the input gradient.
    """

    out: tuple[int, int, int]
    stride: tuple[int, int, int]
    phase_shape: tuple[int, int, int]
    plane: int
    phases: int
    maps: tuple[np.ndarray, np.ndarray, np.ndarray]
    tap_phase: np.ndarray
    tap_off: np.ndarray
    margin: int
    span: int
    block: int
    block_back: int
    runs: np.ndarray
    forward_taps: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
    backward_taps: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]

    @property
    def slack(self) -> int:
        """Readable elements needed after a flat array of planes (blocks run past the last position)."""
        return max(self.block, self.block_back)


def padding_index_map(size: int, pad_lo: int, padded: int, mode: str) -> np.ndarray:
    """Source index of each of ``padded`` positions along one axis (int64; -1 = a zero cell).

    ``mode`` is "periodic" (wrap around, any amount of padding), "zero" or "valid"; position i
    reads cell i - pad_lo of the unpadded axis of length ``size``.
    """
    src = np.arange(padded, dtype=np.int64) - pad_lo
    if mode == "periodic":
        return np.mod(src, size)
    return np.where((src >= 0) & (src < size), src, -1)


def plan_convolution(
    spatial: tuple[int, int, int],
    kernel_size: tuple[int, int, int],
    stride: tuple[int, int, int],
    geometry: list[tuple[int, int, int]],
    mode: str,
) -> ConvPlan:
    """The kernels' view of a convolution.

    Args:
        spatial: input (D, H, W), unit axes in front for 1-D and 2-D.
        kernel_size: (KD, KH, KW).
        stride: (Sd, Sh, Sw).
        geometry: per axis (output size, low padding, padded length) as the layer computes it.
        mode: "periodic", "zero" or "valid".
    """
    out = tuple(g[0] for g in geometry)
    phase_shape = tuple(-(-g[2] // s) for g, s in zip(geometry, stride, strict=True))
    maps = []
    for size, (_, lo, padded), s, q in zip(spatial, geometry, stride, phase_shape, strict=True):
        padded_map = padding_index_map(size, lo, padded, mode)
        positions = np.arange(q, dtype=np.int64)[None, :] * s + np.arange(s, dtype=np.int64)[:, None]
        maps.append(np.where(positions < padded, padded_map[np.minimum(positions, padded - 1)], -1))
    sd, sh, sw = stride
    dq, hq, wq = phase_shape
    taps = [(kd, kh, kw) for kd in range(kernel_size[0]) for kh in range(kernel_size[1]) for kw in range(kernel_size[2])]
    tap_phase = np.array([((kd % sd) * sh + kh % sh) * sw + kw % sw for kd, kh, kw in taps], dtype=np.int64)
    tap_off = np.array([((kd // sd) * hq + kh // sh) * wq + kw // sw for kd, kh, kw in taps], dtype=np.int64)
    margin = int(tap_off.max())
    span = ((out[0] - 1) * hq + out[1] - 1) * wq + out[2]
    plane = dq * hq * wq
    phases = sd * sh * sw
    block, block_back = _block_size(span), _block_size(plane)
    n_taps = len(taps)
    forward_taps = (np.arange(n_taps, dtype=np.int64)[None, :], tap_phase[None, :].copy(), tap_off[None, :].copy(),
                    np.array([n_taps], dtype=np.int64))
    # input gradient of phase plane b: the taps that read it, mirrored into the output gradient
    # (which starts with ``margin`` zeros, so every offset margin - off is non-negative)
    per_phase = [np.flatnonzero(tap_phase == b) for b in range(phases)]
    width = max(len(t) for t in per_phase)
    bw = np.zeros((phases, width), dtype=np.int64)
    boff = np.zeros((phases, width), dtype=np.int64)
    count = np.zeros(phases, dtype=np.int64)
    for b, t in enumerate(per_phase):
        bw[b, : len(t)] = t
        boff[b, : len(t)] = margin - tap_off[t]
        count[b] = len(t)
    backward_taps = (bw, np.zeros_like(bw), boff, count)
    return ConvPlan(out=out, stride=tuple(stride), phase_shape=phase_shape, plane=plane, phases=phases, maps=tuple(maps),
                    tap_phase=tap_phase, tap_off=tap_off, margin=margin, span=span, block=block, block_back=block_back,
                    runs=_runs(maps[2], sw), forward_taps=forward_taps, backward_taps=backward_taps)


def _runs(map_w: np.ndarray, stride: int) -> np.ndarray:
    """Per phase, the longest stretch of positions k whose source cells are map_w[k0] + stride*(k - k0)."""
    runs = np.zeros((map_w.shape[0], 3), dtype=np.int64)
    for e, row in enumerate(map_w):
        best, start = (0, 0), 0
        for k in range(1, len(row) + 1):
            if k == len(row) or row[k] < 0 or row[k - 1] < 0 or row[k] != row[k - 1] + stride:
                if row[start] >= 0 and k - start > best[1] - best[0]:
                    best = (start, k)
                start = k
        runs[e] = (best[0], best[1], row[best[0]] if best[1] > best[0] else 0)
    return runs


def _block_size(positions: int) -> int:
    """Equal blocks of at most BLOCK positions, a multiple of ALIGN, covering ``positions``
    (so little is computed past the end)."""
    n_blocks = _ceil_div(positions, BLOCK)
    return _ceil_div(_ceil_div(positions, n_blocks), ALIGN) * ALIGN


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


@kernel()
def pad_gather(x, map_d, map_h, map_w, runs, out):  # pragma: no cover - compiled
    """Phase planes of the padded input: out[n, c, (a*Sh + b)*Sw + e, i, j, k] = x[n, c, map_d[a, i], map_h[b, j], map_w[e, k]].

    Args:
        x: (N, C, D, H, W) input.
        map_d, map_h, map_w: int64 (S, q) source indices per phase and position (-1 = zero).
        runs: ``ConvPlan.runs``: the stretch of each row copied without the map.
        out: (N, C, Sd*Sh*Sw, Dq, Hq, Wq), overwritten.
    """
    N, C = x.shape[0], x.shape[1]
    Sd, Sh, Sw = map_d.shape[0], map_h.shape[0], map_w.shape[0]
    Dq, Hq, Wq = out.shape[3], out.shape[4], out.shape[5]
    zero = x.dtype.type(0)
    for t in prange(N * C):
        n = t // C
        c = t % C
        for a in range(Sd):
            for b in range(Sh):
                for e in range(Sw):
                    phase = out[n, c, (a * Sh + b) * Sw + e]
                    mw = map_w[e]
                    k0, k1, s0 = runs[e, 0], runs[e, 1], runs[e, 2]
                    for i in range(Dq):
                        si = map_d[a, i]
                        for j in range(Hq):
                            sj = map_h[b, j]
                            orow = phase[i, j]
                            if si < 0 or sj < 0:
                                for k in range(Wq):
                                    orow[k] = zero
                                continue
                            irow = x[n, c, si, sj]
                            for k in range(k0):
                                sk = mw[k]
                                orow[k] = irow[sk] if sk >= 0 else zero
                            if Sw == 1:
                                src = irow[s0 : s0 + k1 - k0]
                                dst = orow[k0:k1]
                                for k in range(k1 - k0):
                                    dst[k] = src[k]
                            else:
                                for k in range(k0, k1):
                                    orow[k] = irow[s0 + Sw * (k - k0)]
                            for k in range(k1, Wq):
                                sk = mw[k]
                                orow[k] = irow[sk] if sk >= 0 else zero


@kernel()
def pad_fold(dxq, map_d, map_h, map_w, runs, dx):  # pragma: no cover - compiled
    """Adjoint of :func:`pad_gather`: dx[n, c, map(...)] += dxq[n, c, phase, i, j, k] (dx overwritten)."""
    N, C = dx.shape[0], dx.shape[1]
    Sd, Sh, Sw = map_d.shape[0], map_h.shape[0], map_w.shape[0]
    Dq, Hq, Wq = dxq.shape[3], dxq.shape[4], dxq.shape[5]
    zero = dx.dtype.type(0)
    for t in prange(N * C):
        n = t // C
        c = t % C
        plane = dx[n, c]
        for i in range(plane.shape[0]):
            for j in range(plane.shape[1]):
                row = plane[i, j]
                for k in range(plane.shape[2]):
                    row[k] = zero
        for a in range(Sd):
            for b in range(Sh):
                for e in range(Sw):
                    phase = dxq[n, c, (a * Sh + b) * Sw + e]
                    mw = map_w[e]
                    k0, k1, s0 = runs[e, 0], runs[e, 1], runs[e, 2]
                    for i in range(Dq):
                        si = map_d[a, i]
                        if si < 0:
                            continue
                        for j in range(Hq):
                            sj = map_h[b, j]
                            if sj < 0:
                                continue
                            grow = phase[i, j]
                            orow = plane[si, sj]
                            for k in range(k0):
                                sk = mw[k]
                                if sk >= 0:
                                    orow[sk] += grow[k]
                            if Sw == 1:
                                src = grow[k0:k1]
                                dst = orow[s0 : s0 + k1 - k0]
                                for k in range(k1 - k0):
                                    dst[k] += src[k]
                            else:
                                for k in range(k0, k1):
                                    orow[s0 + Sw * (k - k0)] += grow[k]
                            for k in range(k1, Wq):
                                sk = mw[k]
                                if sk >= 0:
                                    orow[sk] += grow[k]


@register_jitable
def _aligned_empty(n, dtype):  # pragma: no cover - compiled
    """An uninitialised 1-D array of ``n`` elements starting on a 64-byte boundary (a cache line:
    full-width vector stores to it never straddle two lines)."""
    raw = np.empty(n + 64, dtype=dtype)
    skip = ((-raw.ctypes.data) % 64) // raw.itemsize
    return raw[skip : skip + n]


@register_jitable
def _store(acc, shift, lo, hi, flat, row, start, relu):  # pragma: no cover - compiled
    """flat[row + x] = acc[shift + x] + start for lo <= x < hi, clipped at 0 when ``relu``."""
    src = acc[shift + lo : shift + hi]
    out = flat[row + lo : row + hi]
    zero = flat.dtype.type(0)
    for k in range(hi - lo):
        v = src[k] + start
        if relu:
            v = max(v, zero)
        out[k] = v


@kernel(fastmath=_FAST)
def conv_accumulate(src, planes_in, plane_in, w, tap_w, tap_src, tap_off, tap_count, bias, has_bias, relu, dst, hq, wq,
                    block):  # pragma: no cover - compiled
    """Sums of shifted planes: the forward convolution, and (transposed) its input gradient.

    dst[n, j, b, z, y, x] = bias[j] + sum_i sum_k w[j, i, tap_w[b, k]] * src[s + (z*hq + y)*wq + x]
    with s = ((n*I + i)*planes_in + tap_src[b, k])*plane_in + tap_off[b, k], k < tap_count[b];
    optionally max(., 0).

    Args:
        src: flat float array of N*I*planes_in planes of ``plane_in`` elements, plus ``block``
            readable elements after them.
        planes_in, plane_in: planes per (sample, input channel) and their length.
        w: (J, I, T) weights.
        tap_w, tap_src, tap_off: int64 (B, K) weight tap, source plane and offset of the k-th tap
            of output plane b; tap_count: int64 (B,) taps per output plane.
        bias: (J,) (ignored unless ``has_bias``).
        has_bias, relu: add the bias; apply max(., 0) (a fused activation).
        dst: (N, J, B, Do, Ho, Wo), overwritten.
        hq, wq: row strides of the positions: (z, y, x) is p = (z*hq + y)*wq + x.
        block: positions per block (a multiple of ALIGN).
    """
    N, J, B = dst.shape[0], dst.shape[1], dst.shape[2]
    Do, Ho, Wo = dst.shape[3], dst.shape[4], dst.shape[5]
    n_in = w.shape[1]
    span = ((Do - 1) * hq + (Ho - 1)) * wq + Wo
    n_blocks = -(-span // block)
    groups = (J + GROUP - 1) // GROUP
    zero = dst.dtype.type(0)
    layer = hq * wq
    plane_out = Do * Ho * Wo
    flat = dst.reshape(dst.size)
    for task in prange(N * B * groups):
        n = task // (B * groups)
        b = (task // groups) % B
        j0 = (task % groups) * GROUP
        # a short last group repeats its last channel (computed, not stored)
        j1 = min(j0 + 1, J - 1)
        j2 = min(j0 + 2, J - 1)
        j3 = min(j0 + 3, J - 1)
        acc0 = _aligned_empty(block, dst.dtype)
        acc1 = _aligned_empty(block, dst.dtype)
        acc2 = _aligned_empty(block, dst.dtype)
        acc3 = _aligned_empty(block, dst.dtype)
        n_taps = tap_count[b]
        for blk in range(n_blocks):
            p0 = blk * block
            for p in range(block):
                acc0[p] = zero
                acc1[p] = zero
                acc2[p] = zero
                acc3[p] = zero
            for i in range(n_in):
                chan = (n * n_in + i) * planes_in
                k = 0
                # taps in threes: one pass over the accumulators per three taps (slices keep
                # the loop free of negative-index checks, so it vectorises)
                while k + 3 <= n_taps:
                    t0 = tap_w[b, k]
                    t1 = tap_w[b, k + 1]
                    t2 = tap_w[b, k + 2]
                    s0 = (chan + tap_src[b, k]) * plane_in + tap_off[b, k] + p0
                    s1 = (chan + tap_src[b, k + 1]) * plane_in + tap_off[b, k + 1] + p0
                    s2 = (chan + tap_src[b, k + 2]) * plane_in + tap_off[b, k + 2] + p0
                    x0 = src[s0 : s0 + block]
                    x1 = src[s1 : s1 + block]
                    x2 = src[s2 : s2 + block]
                    u0, u1, u2 = w[j0, i, t0], w[j0, i, t1], w[j0, i, t2]
                    v0, v1, v2 = w[j1, i, t0], w[j1, i, t1], w[j1, i, t2]
                    q0, q1, q2 = w[j2, i, t0], w[j2, i, t1], w[j2, i, t2]
                    r0, r1, r2 = w[j3, i, t0], w[j3, i, t1], w[j3, i, t2]
                    for p in range(block):
                        e0 = x0[p]
                        e1 = x1[p]
                        e2 = x2[p]
                        acc0[p] += u0 * e0 + u1 * e1 + u2 * e2
                        acc1[p] += v0 * e0 + v1 * e1 + v2 * e2
                        acc2[p] += q0 * e0 + q1 * e1 + q2 * e2
                        acc3[p] += r0 * e0 + r1 * e1 + r2 * e2
                    k += 3
                while k < n_taps:
                    t0 = tap_w[b, k]
                    s0 = (chan + tap_src[b, k]) * plane_in + tap_off[b, k] + p0
                    x0 = src[s0 : s0 + block]
                    u0, v0, q0, r0 = w[j0, i, t0], w[j1, i, t0], w[j2, i, t0], w[j3, i, t0]
                    for p in range(block):
                        e0 = x0[p]
                        acc0[p] += u0 * e0
                        acc1[p] += v0 * e0
                        acc2[p] += q0 * e0
                        acc3[p] += r0 * e0
                    k += 1
            # store the positions of this block that are outputs (x < Wo, y < Ho, z < Do)
            p1 = min(p0 + block, span)
            for z in range(p0 // layer, min(Do, (p1 - 1) // layer + 1)):
                for y in range(max(0, (p0 - z * layer) // wq), min(Ho, (p1 - 1 - z * layer) // wq + 1)):
                    base = (z * hq + y) * wq
                    lo = max(0, p0 - base)
                    hi = min(Wo, p1 - base)
                    row = ((n * J + j0) * B + b) * plane_out + (z * Ho + y) * Wo
                    _store(acc0, base - p0, lo, hi, flat, row, bias[j0] if has_bias else zero, relu)
                    if j0 + 1 < J:
                        _store(acc1, base - p0, lo, hi, flat, row + B * plane_out, bias[j1] if has_bias else zero, relu)
                    if j0 + 2 < J:
                        _store(acc2, base - p0, lo, hi, flat, row + 2 * B * plane_out, bias[j2] if has_bias else zero, relu)
                    if j0 + 3 < J:
                        _store(acc3, base - p0, lo, hi, flat, row + 3 * B * plane_out, bias[j3] if has_bias else zero, relu)


@kernel()
def widen_output_grad(dy, out, relu, hq, wq, margin, dy_ext):  # pragma: no cover - compiled
    """Output gradient in the positions' coordinates for the backward kernels.

    dy_ext[n, o, margin + (z*hq + y)*wq + x] = dy[n, o, z, y, x] (times out > 0 when ``relu``)
    and zero everywhere else (the dropped columns, the leading margin and the trailing block),
    so the backward kernels can read it at any tap offset without bounds checks.

    Args:
        dy, out: (N, O, Do, Ho, Wo) output gradient and forward output.
        hq, wq: row strides of the positions.
        margin: leading zeros (the largest tap offset).
        dy_ext: (N, O, margin + plane + block), overwritten.
    """
    N, O = dy.shape[0], dy.shape[1]
    Do, Ho, Wo = dy.shape[2], dy.shape[3], dy.shape[4]
    length = dy_ext.shape[2]
    zero = dy.dtype.type(0)
    for t in prange(N * O):
        n = t // O
        o = t % O
        row = dy_ext[n, o]
        done = 0  # row[:done] is written
        for z in range(Do):
            for y in range(Ho):
                base = margin + (z * hq + y) * wq
                gap = row[done:base]
                for k in range(base - done):
                    gap[k] = zero
                dst = row[base : base + Wo]
                grow = dy[n, o, z, y]
                if relu:
                    frow = out[n, o, z, y]
                    for x in range(Wo):
                        dst[x] = grow[x] if frow[x] > zero else zero
                else:
                    for x in range(Wo):
                        dst[x] = grow[x]
                done = base + Wo
        tail = row[done:length]
        for k in range(length - done):
            tail[k] = zero


@kernel(fastmath=_FAST)
def conv_weight_grad(xs, planes_in, plane_in, tap_phase, tap_off, dy_ext, margin, span, has_bias, block, partial_w,
                     partial_b):  # pragma: no cover - compiled
    """Per-chunk weight and bias gradients; the caller sums the chunk buffers in order.

    partial_w[chunk, o, c, t] = sum over the chunk's samples n and positions p of
    dy_ext[n, o, margin + p] * xs[((n*C + c)*planes_in + tap_phase[t])*plane_in + tap_off[t] + p].

    Args:
        xs: the forward pass's phase planes, flat, with ``block`` readable elements after them.
        planes_in, plane_in: phase planes per (sample, channel) and their length.
        tap_phase, tap_off: int64 (T,) plane and offset of each tap.
        dy_ext: output gradient from :func:`widen_output_grad` (ReLU mask applied).
        margin, span: its leading zeros; the positions that hold outputs.
        has_bias: also reduce the bias gradient.
        block: positions per block.
        partial_w: (ceil(N / WEIGHT_GRAD_CHUNK), O, C, T), overwritten.
        partial_b: (ceil(N / WEIGHT_GRAD_CHUNK), O), overwritten.
    """
    N = dy_ext.shape[0]
    n_chunks, O, C, T = partial_w.shape[0], partial_w.shape[1], partial_w.shape[2], partial_w.shape[3]
    zero = partial_w.dtype.type(0)
    n_blocks = -(-span // block)
    groups = (O + GROUP - 1) // GROUP
    for task in prange(n_chunks * groups):
        chunk = task // groups
        o0 = (task % groups) * GROUP
        o1 = min(o0 + 1, O - 1)
        o2 = min(o0 + 2, O - 1)
        o3 = min(o0 + 3, O - 1)
        last = min(o0 + GROUP, O)
        pw = partial_w[chunk]
        pb = partial_b[chunk]
        for o in range(o0, last):
            pb[o] = zero
            for c in range(C):
                for t in range(T):
                    pw[o, c, t] = zero
        for n in range(chunk * WEIGHT_GRAD_CHUNK, min(N, (chunk + 1) * WEIGHT_GRAD_CHUNK)):
            if has_bias:
                for o in range(o0, last):
                    g = dy_ext[n, o, margin : margin + span]
                    acc = zero
                    for p in range(span):
                        acc += g[p]
                    pb[o] += acc
            for blk in range(n_blocks):
                p0 = blk * block
                g0 = dy_ext[n, o0, margin + p0 : margin + p0 + block]
                g1 = dy_ext[n, o1, margin + p0 : margin + p0 + block]
                g2 = dy_ext[n, o2, margin + p0 : margin + p0 + block]
                g3 = dy_ext[n, o3, margin + p0 : margin + p0 + block]
                for c in range(C):
                    chan = (n * C + c) * planes_in
                    t = 0
                    while t + 3 <= T:
                        s0 = (chan + tap_phase[t]) * plane_in + tap_off[t] + p0
                        s1 = (chan + tap_phase[t + 1]) * plane_in + tap_off[t + 1] + p0
                        s2 = (chan + tap_phase[t + 2]) * plane_in + tap_off[t + 2] + p0
                        x0 = xs[s0 : s0 + block]
                        x1 = xs[s1 : s1 + block]
                        x2 = xs[s2 : s2 + block]
                        a0 = a1 = a2 = zero
                        d0 = d1 = d2 = zero
                        e0 = e1 = e2 = zero
                        f0 = f1 = f2 = zero
                        for p in range(block):
                            y0 = x0[p]
                            y1 = x1[p]
                            y2 = x2[p]
                            h = g0[p]
                            a0 += h * y0
                            a1 += h * y1
                            a2 += h * y2
                            h = g1[p]
                            d0 += h * y0
                            d1 += h * y1
                            d2 += h * y2
                            h = g2[p]
                            e0 += h * y0
                            e1 += h * y1
                            e2 += h * y2
                            h = g3[p]
                            f0 += h * y0
                            f1 += h * y1
                            f2 += h * y2
                        pw[o0, c, t] += a0
                        pw[o0, c, t + 1] += a1
                        pw[o0, c, t + 2] += a2
                        if o0 + 1 < last:
                            pw[o1, c, t] += d0
                            pw[o1, c, t + 1] += d1
                            pw[o1, c, t + 2] += d2
                        if o0 + 2 < last:
                            pw[o2, c, t] += e0
                            pw[o2, c, t + 1] += e1
                            pw[o2, c, t + 2] += e2
                        if o0 + 3 < last:
                            pw[o3, c, t] += f0
                            pw[o3, c, t + 1] += f1
                            pw[o3, c, t + 2] += f2
                        t += 3
                    while t < T:
                        s0 = (chan + tap_phase[t]) * plane_in + tap_off[t] + p0
                        x0 = xs[s0 : s0 + block]
                        a0 = d0 = e0 = f0 = zero
                        for p in range(block):
                            y0 = x0[p]
                            a0 += g0[p] * y0
                            d0 += g1[p] * y0
                            e0 += g2[p] * y0
                            f0 += g3[p] * y0
                        pw[o0, c, t] += a0
                        if o0 + 1 < last:
                            pw[o1, c, t] += d0
                        if o0 + 2 < last:
                            pw[o2, c, t] += e0
                        if o0 + 3 < last:
                            pw[o3, c, t] += f0
                        t += 1
