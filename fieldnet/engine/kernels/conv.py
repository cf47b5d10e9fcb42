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
Padding (periodic, zero, none) is the gather's index map: one source cell per position of
the planes, so :func:`pad_gather` is a single indexed copy per channel.  :func:`pad_fold` is its
adjoint, written as a gather too: each cell takes the first position that reads it, then the
few cells that are read more than once (the wrapped edges) add the rest, in the order of the
positions, so each cell's sum is formed in one fixed order.

**Kernels.**  :func:`conv_accumulate` is the forward pass, and with the weights transposed and
the taps mirrored it is also the input gradient (the gradient of a phase plane is a unit-stride
convolution of the output gradient with that phase's taps).  :func:`conv_weight_grad` reduces
the weight and bias gradients.  Both are register-blocked micro-kernels, as in a GEMM: a tile
of sums (output channels x positions, or output channels x taps) stays in vector registers
(:mod:`fieldnet.engine.kernels.simd`) while the inputs stream through it, so every vector
loaded feeds several fused multiply-adds and no partial sum goes through memory.

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
from fieldnet.engine.kernels.simd import (
    LANES,
    lanes_fma,
    lanes_load,
    lanes_mul_add,
    lanes_store_range,
    lanes_sum,
    lanes_zero,
    prefetch,
)

#: output channels of the forward kernel's register tile
OUT_TILE = 8
#: positions of the forward kernel's register tile (two vectors)
STRIP = 2 * LANES
#: output channels of the weight-gradient kernel's register tile (with three taps)
WGRAD_TILE = 8
#: elements ahead of the current strip that the forward of a strided layer prefetches (four strips)
PREFETCH_AHEAD = 4 * STRIP
#: samples per weight-gradient reduction chunk; fixed so the summation order never depends on threads
WEIGHT_GRAD_CHUNK = 4
#: positions per weight-gradient block (at most): the rows a block reads stay in L1 cache
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
        tap_phase, tap_off: int64 (T,) phase plane and offset of each filter tap (kd, kh, kw) in
            C order.
        margin: the largest tap offset (the output gradient's leading zeros).
        span: positions p that hold outputs: ((Do-1)*Hq + Ho-1)*Wq + Wo.
        block: positions per weight-gradient block (a multiple of ALIGN, at most BLOCK) over
            ``span``; the blocks fix that kernel's order of summation.
        gather_index: int64 (phases*plane,) the cell (z*H + y)*W + x of the unpadded input that
            each position of a channel's phase planes reads (-1 = a zero cell).
        fold_first: int64 (D*H*W,) the first position that reads each cell (-1 = none).
        fold_extra_cell, fold_extra_src: int64 (E,) the other (cell, position) reads, in the
            order of the positions.
        forward_taps, backward_taps: (weight tap, source phase, source offset, count) tables of
            :func:`conv_accumulate` for the forward pass and for the input gradient.
    """

    out: tuple[int, int, int]
    stride: tuple[int, int, int]
    phase_shape: tuple[int, int, int]
    plane: int
    phases: int
    tap_phase: np.ndarray
    tap_off: np.ndarray
    margin: int
    span: int
    block: int
    gather_index: np.ndarray
    fold_first: np.ndarray
    fold_extra_cell: np.ndarray
    fold_extra_src: np.ndarray
    forward_taps: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
    backward_taps: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]

    @property
    def slack(self) -> int:
        """Readable elements needed after a flat array of planes (blocks run past the last position)."""
        return max(self.block, STRIP)


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
    block = _block_size(span)
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
    gather_index = _gather_index(maps, spatial)
    fold_first, fold_extra_cell, fold_extra_src = _fold_tables(gather_index, int(np.prod(spatial)))
    return ConvPlan(out=out, stride=tuple(stride), phase_shape=phase_shape, plane=plane, phases=phases,
                    tap_phase=tap_phase, tap_off=tap_off, margin=margin, span=span, block=block,
                    gather_index=gather_index, fold_first=fold_first, fold_extra_cell=fold_extra_cell,
                    fold_extra_src=fold_extra_src, forward_taps=forward_taps, backward_taps=backward_taps)


def _gather_index(maps: list[np.ndarray], spatial: tuple[int, int, int]) -> np.ndarray:
    """The cell each position of the phase planes (phase (a, b, e), then z, y, x) reads; -1 = zero.

    ``maps`` holds per axis the int64 (S, q) source index of phase a, position i (padded
    position i*S + a) in the unpadded input, -1 for a zero cell.
    """
    map_d, map_h, map_w = maps
    _, height, width = spatial
    d = map_d[:, None, None, :, None, None]
    h = map_h[None, :, None, None, :, None]
    w = map_w[None, None, :, None, None, :]
    index = np.where((d >= 0) & (h >= 0) & (w >= 0), (d * height + h) * width + w, -1)
    return np.ascontiguousarray(index.reshape(-1), dtype=np.int64)


def _fold_tables(gather_index: np.ndarray, cells: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The adjoint of the gather as (first reader of each cell, then the other (cell, reader) pairs).

    Readers are taken in the order of the positions, so a cell read k times is summed as
    ((first + second) + third) + ... in that order.
    """
    readers = np.flatnonzero(gather_index >= 0)
    read = gather_index[readers]
    cell_of_first, at = np.unique(read, return_index=True)
    first = np.full(cells, -1, dtype=np.int64)
    first[cell_of_first] = readers[at]
    others = np.ones(readers.size, dtype=bool)
    others[at] = False
    return first, np.ascontiguousarray(read[others], dtype=np.int64), np.ascontiguousarray(readers[others], dtype=np.int64)


def _block_size(positions: int) -> int:
    """Equal blocks of at most BLOCK positions, a multiple of ALIGN, covering ``positions``
    (so little is computed past the end)."""
    n_blocks = _ceil_div(positions, BLOCK)
    return _ceil_div(_ceil_div(positions, n_blocks), ALIGN) * ALIGN


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


@kernel()
def pad_gather(x, index, out):  # pragma: no cover - compiled
    """Phase planes of the padded input: out[n, c, p] = x[n, c, index[p]] (0 where index[p] < 0).

    Args:
        x: (N, C, D*H*W) input, each channel flat.
        index: ``ConvPlan.gather_index``.
        out: (N, C, phases*plane), overwritten.
    """
    N, C = x.shape[0], x.shape[1]
    positions = index.shape[0]
    zero = x.dtype.type(0)
    for t in prange(N * C):
        src = x[t // C, t % C]
        dst = out[t // C, t % C]
        for p in range(positions):
            s = index[p]
            dst[p] = src[s] if s >= 0 else zero


@kernel()
def pad_fold(dxq, first, extra_cell, extra_src, dx):  # pragma: no cover - compiled
    """Adjoint of :func:`pad_gather`: dx[n, c, q] = the sum of dxq[n, c, p] over the p with index[p] = q.

    Each cell starts from its first reader (``first``), then the other readers are added in
    the order of the positions (``extra_cell``, ``extra_src``), so the sums have one fixed order.

    Args:
        dxq: (N, C, phases*plane) gradient of the phase planes.
        first, extra_cell, extra_src: ``ConvPlan.fold_first``, ``fold_extra_cell``, ``fold_extra_src``.
        dx: (N, C, D*H*W), overwritten.
    """
    N, C = dx.shape[0], dx.shape[1]
    cells = first.shape[0]
    zero = dx.dtype.type(0)
    for t in prange(N * C):
        src = dxq[t // C, t % C]
        dst = dx[t // C, t % C]
        for q in range(cells):
            p = first[q]
            dst[q] = src[p] if p >= 0 else zero
        for e in range(extra_cell.shape[0]):
            dst[extra_cell[e]] += src[extra_src[e]]


def pack_weights(w: np.ndarray, tap_w: np.ndarray, tap_count: np.ndarray) -> np.ndarray:
    """Weights in the order :func:`conv_accumulate` reads them: (B, G, I, K, OUT_TILE), contiguous.

    packed[b, g, i, k, o] = w[g*OUT_TILE + o, i, tap_w[b, k]] for k < tap_count[b] and output
    channel g*OUT_TILE + o < J; zero elsewhere (a short last tile computes zeros, never stored).

    Args:
        w: (J, I, T) weights.
        tap_w, tap_count: the plan's (B, K) weight tap of each tap, and (B,) taps per output plane.
    """
    J, n_in, _ = w.shape
    n_planes, width = tap_w.shape
    tiles = _ceil_div(J, OUT_TILE)
    padded = np.zeros((tiles * OUT_TILE, n_in, n_planes, width), dtype=w.dtype)
    padded[:J] = w[:, :, tap_w]
    padded[:, :, np.arange(width)[None, :] >= tap_count[:, None]] = 0
    return np.ascontiguousarray(padded.reshape(tiles, OUT_TILE, n_in, n_planes, width).transpose(3, 0, 2, 4, 1))


@register_jitable
def _store_strip(flat, index, v0, v1, lo, hi, add, relu):  # pragma: no cover - compiled
    """flat[index + l] = relu?(strip[l] + add) for lo <= l < hi; the strip is the vectors v0, v1."""
    lanes_store_range(flat, index, v0, lo, hi, add, relu)
    lanes_store_range(flat, index + LANES, v1, lo - LANES, hi - LANES, add, relu)


@kernel(fastmath=_FAST)
def conv_accumulate(src, planes_in, plane_in, wp, tap_src, tap_off, tap_count, bias, has_bias, relu, dst, hq,
                    wq):  # pragma: no cover - compiled
    """Sums of shifted planes: the forward convolution, and (transposed) its input gradient.

    dst[n, j, b, z, y, x] = bias[j] + sum_i sum_k wp[b, j // OUT_TILE, i, k, j % OUT_TILE] * src[s + (z*hq + y)*wq + x]
    with s = ((n*I + i)*planes_in + tap_src[b, k])*plane_in + tap_off[b, k], k < tap_count[b];
    optionally max(., 0).  Each output is summed over i, then k, in that order, by one thread.

    A task is one (sample, output plane b, tile of OUT_TILE output channels); it walks the
    positions in strips of STRIP (restarting at each z-slab when the rows between slabs are
    worth skipping; a strip whose second vector holds no output forms only the first), holding
    the tile's OUT_TILE x STRIP sums in 16 vector registers while the loops over input channels and taps stream the inputs through them (two vector
    loads and eight broadcast weights feed sixteen fused multiply-adds), then stores each row's
    part of the strip straight from the registers.

    Args:
        src: flat float array of N*I*planes_in planes of ``plane_in`` elements, plus ``STRIP``
            readable elements after them.
        planes_in, plane_in: planes per (sample, input channel) and their length.
        wp: (B, G, I, K, OUT_TILE) weights from :func:`pack_weights`.
        tap_src, tap_off: int64 (B, K) source plane and offset of the k-th tap of output plane
            b; tap_count: int64 (B,) taps per output plane.
        bias: (J,) (ignored unless ``has_bias``).
        has_bias, relu: add the bias; apply max(., 0) (a fused activation).
        dst: (N, J, B, Do, Ho, Wo), overwritten.
        hq, wq: row strides of the positions: (z, y, x) is p = (z*hq + y)*wq + x.
    """
    N, J, B = dst.shape[0], dst.shape[1], dst.shape[2]
    Do, Ho, Wo = dst.shape[3], dst.shape[4], dst.shape[5]
    tiles, n_in = wp.shape[1], wp.shape[2]
    span = ((Do - 1) * hq + (Ho - 1)) * wq + Wo
    zero = dst.dtype.type(0)
    layer = hq * wq
    plane_out = Do * Ho * Wo
    flat = dst.reshape(dst.size)
    # strips cover either the whole span, or each slab's outputs (z fixed: the first extent
    # positions of its layer), when skipping the rows between slabs saves vectors
    extent = (Ho - 1) * wq + Wo
    slab_strips = -(-extent // STRIP)
    by_slab = Do * -(-extent // LANES) < -(-span // LANES)
    n_strips = Do * slab_strips if by_slab else -(-span // STRIP)
    # phase planes (a strided layer): each tap streams from its own plane, too many streams for
    # the hardware prefetchers, so the strips ahead are asked for explicitly
    ahead = planes_in > 1
    for task in prange(N * B * tiles):
        n = task // (B * tiles)
        b = (task // tiles) % B
        j0 = (task % tiles) * OUT_TILE
        n_taps = tap_count[b]
        weights = wp[b, task % tiles]
        for strip in range(n_strips):
            if by_slab:
                p0 = (strip // slab_strips) * layer + (strip % slab_strips) * STRIP
                end = (strip // slab_strips) * layer + extent
            else:
                p0 = strip * STRIP
                end = span
            # a half strip: no output past the first vector, so only its eight sums are formed
            half = p0 + LANES >= end
            a00 = lanes_zero(src)
            a01 = lanes_zero(src)
            a10 = lanes_zero(src)
            a11 = lanes_zero(src)
            a20 = lanes_zero(src)
            a21 = lanes_zero(src)
            a30 = lanes_zero(src)
            a31 = lanes_zero(src)
            a40 = lanes_zero(src)
            a41 = lanes_zero(src)
            a50 = lanes_zero(src)
            a51 = lanes_zero(src)
            a60 = lanes_zero(src)
            a61 = lanes_zero(src)
            a70 = lanes_zero(src)
            a71 = lanes_zero(src)
            if half:
                for i in range(n_in):
                    chan = (n * n_in + i) * planes_in
                    w_i = weights[i]
                    for k in range(n_taps):
                        x0 = lanes_load(src, (chan + tap_src[b, k]) * plane_in + tap_off[b, k] + p0)
                        w = w_i[k]
                        a00 = lanes_fma(a00, w[0], x0)
                        a10 = lanes_fma(a10, w[1], x0)
                        a20 = lanes_fma(a20, w[2], x0)
                        a30 = lanes_fma(a30, w[3], x0)
                        a40 = lanes_fma(a40, w[4], x0)
                        a50 = lanes_fma(a50, w[5], x0)
                        a60 = lanes_fma(a60, w[6], x0)
                        a70 = lanes_fma(a70, w[7], x0)
            else:
                for i in range(n_in):
                    chan = (n * n_in + i) * planes_in
                    w_i = weights[i]
                    for k in range(n_taps):
                        s = (chan + tap_src[b, k]) * plane_in + tap_off[b, k] + p0
                        if ahead:
                            prefetch(src, s + PREFETCH_AHEAD)
                        x0 = lanes_load(src, s)
                        x1 = lanes_load(src, s + LANES)
                        w = w_i[k]
                        a00 = lanes_fma(a00, w[0], x0)
                        a01 = lanes_fma(a01, w[0], x1)
                        a10 = lanes_fma(a10, w[1], x0)
                        a11 = lanes_fma(a11, w[1], x1)
                        a20 = lanes_fma(a20, w[2], x0)
                        a21 = lanes_fma(a21, w[2], x1)
                        a30 = lanes_fma(a30, w[3], x0)
                        a31 = lanes_fma(a31, w[3], x1)
                        a40 = lanes_fma(a40, w[4], x0)
                        a41 = lanes_fma(a41, w[4], x1)
                        a50 = lanes_fma(a50, w[5], x0)
                        a51 = lanes_fma(a51, w[5], x1)
                        a60 = lanes_fma(a60, w[6], x0)
                        a61 = lanes_fma(a61, w[6], x1)
                        a70 = lanes_fma(a70, w[7], x0)
                        a71 = lanes_fma(a71, w[7], x1)
            # store the strip's positions that are outputs (x < Wo, y < Ho, z < Do), row by row
            p1 = min(p0 + (LANES if half else STRIP), end)
            for z in range(p0 // layer, min(Do, (p1 - 1) // layer + 1)):
                for y in range(max(0, (p0 - z * layer) // wq), min(Ho, (p1 - 1 - z * layer) // wq + 1)):
                    base = (z * hq + y) * wq
                    lo = max(0, base - p0)
                    hi = min(p1, base + Wo) - p0
                    # lane l of the strip is output x = p0 + l - base of this row
                    at = ((n * J + j0) * B + b) * plane_out + (z * Ho + y) * Wo + p0 - base
                    step = B * plane_out
                    _store_strip(flat, at, a00, a01, lo, hi, bias[j0] if has_bias else zero, relu)
                    if j0 + 1 < J:
                        _store_strip(flat, at + step, a10, a11, lo, hi, bias[j0 + 1] if has_bias else zero, relu)
                    if j0 + 2 < J:
                        _store_strip(flat, at + 2 * step, a20, a21, lo, hi, bias[j0 + 2] if has_bias else zero, relu)
                    if j0 + 3 < J:
                        _store_strip(flat, at + 3 * step, a30, a31, lo, hi, bias[j0 + 3] if has_bias else zero, relu)
                    if j0 + 4 < J:
                        _store_strip(flat, at + 4 * step, a40, a41, lo, hi, bias[j0 + 4] if has_bias else zero, relu)
                    if j0 + 5 < J:
                        _store_strip(flat, at + 5 * step, a50, a51, lo, hi, bias[j0 + 5] if has_bias else zero, relu)
                    if j0 + 6 < J:
                        _store_strip(flat, at + 6 * step, a60, a61, lo, hi, bias[j0 + 6] if has_bias else zero, relu)
                    if j0 + 7 < J:
                        _store_strip(flat, at + 7 * step, a70, a71, lo, hi, bias[j0 + 7] if has_bias else zero, relu)


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


@register_jitable
def _add_sums(pw, o, last, c, t, v0, v1, v2):  # pragma: no cover - compiled
    """pw[o, c, t + k] += the lane sum of vk (k = 0, 1, 2), if output channel o < last."""
    if o < last:
        pw[o, c, t] += lanes_sum(v0)
        pw[o, c, t + 1] += lanes_sum(v1)
        pw[o, c, t + 2] += lanes_sum(v2)


@register_jitable
def _add_one(pw, o, last, c, t, v):  # pragma: no cover - compiled
    """pw[o, c, t] += the lane sum of v, if output channel o < last."""
    if o < last:
        pw[o, c, t] += lanes_sum(v)


@kernel(fastmath=_FAST)
def conv_weight_grad(xs, planes_in, plane_in, tap_phase, tap_off, dy_ext, margin, span, has_bias, block, partial_w,
                     partial_b):  # pragma: no cover - compiled
    """Per-chunk weight and bias gradients; the caller sums the chunk buffers in order.

    partial_w[chunk, o, c, t] = sum over the chunk's samples n and positions p of
    dy_ext[n, o, margin + p] * xs[((n*C + c)*planes_in + tap_phase[t])*plane_in + tap_off[t] + p].

    Order of the sums (fixed, whatever the threads): per sample, per block of ``block``
    positions, lane l of a vector sums positions l, l + LANES, ... of the block with fused
    multiply-adds, :func:`lanes_sum` adds the lanes, and the block sums are added to the chunk's
    buffer one after another.  A task is one (chunk, tile of WGRAD_TILE output channels); its
    inner loop holds the tile's sums for three taps in 24 vector registers, so each input vector
    loaded feeds eight multiply-adds and each output-gradient vector three.

    Args:
        xs: the forward pass's phase planes, flat, with ``block`` readable elements after them.
        planes_in, plane_in: phase planes per (sample, channel) and their length.
        tap_phase, tap_off: int64 (T,) plane and offset of each tap.
        dy_ext: output gradient from :func:`widen_output_grad` (ReLU mask applied).
        margin, span: its leading zeros; the positions that hold outputs.
        has_bias: also reduce the bias gradient.
        block: positions per block (a multiple of LANES).
        partial_w: (ceil(N / WEIGHT_GRAD_CHUNK), O, C, T), overwritten.
        partial_b: (ceil(N / WEIGHT_GRAD_CHUNK), O), overwritten.
    """
    N, length = dy_ext.shape[0], dy_ext.shape[2]
    n_chunks, O, C, T = partial_w.shape[0], partial_w.shape[1], partial_w.shape[2], partial_w.shape[3]
    zero = partial_w.dtype.type(0)
    n_blocks = -(-span // block)
    steps = block // LANES
    tiles = (O + WGRAD_TILE - 1) // WGRAD_TILE
    dy = dy_ext.reshape(dy_ext.size)
    for task in prange(n_chunks * tiles):
        chunk = task // tiles
        o0 = (task % tiles) * WGRAD_TILE
        last = min(o0 + WGRAD_TILE, O)
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
            # rows of the tile's output gradients (a short last tile repeats its last channel)
            r0 = (n * O + o0) * length + margin
            r1 = (n * O + min(o0 + 1, O - 1)) * length + margin
            r2 = (n * O + min(o0 + 2, O - 1)) * length + margin
            r3 = (n * O + min(o0 + 3, O - 1)) * length + margin
            r4 = (n * O + min(o0 + 4, O - 1)) * length + margin
            r5 = (n * O + min(o0 + 5, O - 1)) * length + margin
            r6 = (n * O + min(o0 + 6, O - 1)) * length + margin
            r7 = (n * O + min(o0 + 7, O - 1)) * length + margin
            for blk in range(n_blocks):
                p0 = blk * block
                for c in range(C):
                    chan = (n * C + c) * planes_in
                    t = 0
                    while t < T:
                        # three taps at a time; past the last tap, the last is repeated (not stored)
                        u0, u1, u2 = t, min(t + 1, T - 1), min(t + 2, T - 1)
                        s0 = (chan + tap_phase[u0]) * plane_in + tap_off[u0] + p0
                        s1 = (chan + tap_phase[u1]) * plane_in + tap_off[u1] + p0
                        s2 = (chan + tap_phase[u2]) * plane_in + tap_off[u2] + p0
                        a00 = a01 = a02 = lanes_zero(xs)
                        a10 = a11 = a12 = lanes_zero(xs)
                        a20 = a21 = a22 = lanes_zero(xs)
                        a30 = a31 = a32 = lanes_zero(xs)
                        a40 = a41 = a42 = lanes_zero(xs)
                        a50 = a51 = a52 = lanes_zero(xs)
                        a60 = a61 = a62 = lanes_zero(xs)
                        a70 = a71 = a72 = lanes_zero(xs)
                        for m in range(steps):
                            q = p0 + m * LANES
                            x0 = lanes_load(xs, s0 + m * LANES)
                            x1 = lanes_load(xs, s1 + m * LANES)
                            x2 = lanes_load(xs, s2 + m * LANES)
                            g = lanes_load(dy, r0 + q)
                            a00 = lanes_mul_add(a00, g, x0)
                            a01 = lanes_mul_add(a01, g, x1)
                            a02 = lanes_mul_add(a02, g, x2)
                            g = lanes_load(dy, r1 + q)
                            a10 = lanes_mul_add(a10, g, x0)
                            a11 = lanes_mul_add(a11, g, x1)
                            a12 = lanes_mul_add(a12, g, x2)
                            g = lanes_load(dy, r2 + q)
                            a20 = lanes_mul_add(a20, g, x0)
                            a21 = lanes_mul_add(a21, g, x1)
                            a22 = lanes_mul_add(a22, g, x2)
                            g = lanes_load(dy, r3 + q)
                            a30 = lanes_mul_add(a30, g, x0)
                            a31 = lanes_mul_add(a31, g, x1)
                            a32 = lanes_mul_add(a32, g, x2)
                            g = lanes_load(dy, r4 + q)
                            a40 = lanes_mul_add(a40, g, x0)
                            a41 = lanes_mul_add(a41, g, x1)
                            a42 = lanes_mul_add(a42, g, x2)
                            g = lanes_load(dy, r5 + q)
                            a50 = lanes_mul_add(a50, g, x0)
                            a51 = lanes_mul_add(a51, g, x1)
                            a52 = lanes_mul_add(a52, g, x2)
                            g = lanes_load(dy, r6 + q)
                            a60 = lanes_mul_add(a60, g, x0)
                            a61 = lanes_mul_add(a61, g, x1)
                            a62 = lanes_mul_add(a62, g, x2)
                            g = lanes_load(dy, r7 + q)
                            a70 = lanes_mul_add(a70, g, x0)
                            a71 = lanes_mul_add(a71, g, x1)
                            a72 = lanes_mul_add(a72, g, x2)
                        if t + 3 <= T:
                            _add_sums(pw, o0, last, c, t, a00, a01, a02)
                            _add_sums(pw, o0 + 1, last, c, t, a10, a11, a12)
                            _add_sums(pw, o0 + 2, last, c, t, a20, a21, a22)
                            _add_sums(pw, o0 + 3, last, c, t, a30, a31, a32)
                            _add_sums(pw, o0 + 4, last, c, t, a40, a41, a42)
                            _add_sums(pw, o0 + 5, last, c, t, a50, a51, a52)
                            _add_sums(pw, o0 + 6, last, c, t, a60, a61, a62)
                            _add_sums(pw, o0 + 7, last, c, t, a70, a71, a72)
                        else:
                            for k in range(T - t):
                                _add_one(pw, o0, last, c, t + k, a00 if k == 0 else a01)
                                _add_one(pw, o0 + 1, last, c, t + k, a10 if k == 0 else a11)
                                _add_one(pw, o0 + 2, last, c, t + k, a20 if k == 0 else a21)
                                _add_one(pw, o0 + 3, last, c, t + k, a30 if k == 0 else a31)
                                _add_one(pw, o0 + 4, last, c, t + k, a40 if k == 0 else a41)
                                _add_one(pw, o0 + 5, last, c, t + k, a50 if k == 0 else a51)
                                _add_one(pw, o0 + 6, last, c, t + k, a60 if k == 0 else a61)
                                _add_one(pw, o0 + 7, last, c, t + k, a70 if k == 0 else a71)
                        t += 3

