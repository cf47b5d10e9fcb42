"""Max and average pooling kernels (valid windows, any size and stride) on 5-D arrays.

Arrays are (N, C, D, H, W); 2-D pooling passes views with D = 1.  One ``prange`` over
(sample, channel) pairs; each pair is handled by one thread in a fixed order, so results and
gradients are bit-identical whatever the number of threads.  Max pooling records where in its
window each output's first maximum is (an int16 index (a*kh + b)*kw + c, a quarter of the
memory traffic of a flat int64 index); its backward adds the output gradient there
(overlapping windows add up).  A NaN propagates only when it is the first element of its window
(comparisons with NaN are false); a diverging net is caught at the loss.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from fieldnet.engine.kernels.jit import kernel


@kernel()
def pool_forward(x, kd, kh, kw, sd, sh, sw, is_max, out, argmax):  # pragma: no cover - compiled
    """Pool windows of size (kd, kh, kw) and stride (sd, sh, sw).

    Args:
        x: (N, C, D, H, W) input.
        is_max: max pooling (else average).
        out: (N, C, Do, Ho, Wo), overwritten.
        argmax: int16 (N, C, Do, Ho, Wo), overwritten with the in-window index (a*kh + b)*kw + c
            of each window's first maximum (max pooling only).
    """
    N, C = x.shape[0], x.shape[1]
    Do, Ho, Wo = out.shape[2], out.shape[3], out.shape[4]
    inv = x.dtype.type(1.0) / x.dtype.type(kd * kh * kw)
    zero = x.dtype.type(0)
    if kh == 2 and kw == 2 and sh == 2 and sw == 2 and (kd == 1 or (kd == 2 and sd == 2)):
        # the common 2x2/2 and 2x2x2/2 windows, unrolled (tiny runtime-length loops cost ~10x here)
        for t in prange(N * C):
            n = t // C
            c = t % C
            for z in range(Do):
                zi = z * sd
                for y in range(Ho):
                    r0 = x[n, c, zi, 2 * y]
                    r1 = x[n, c, zi, 2 * y + 1]
                    # the second layer of a 2x2x2 window (the first again for 2x2: never used)
                    s0 = x[n, c, zi + kd - 1, 2 * y]
                    s1 = x[n, c, zi + kd - 1, 2 * y + 1]
                    orow = out[n, c, z, y]
                    arow = argmax[n, c, z, y]
                    if is_max:
                        for xo in range(Wo):
                            i = 2 * xo
                            best = r0[i]
                            bi = 0
                            v = r0[i + 1]
                            if v > best:
                                best = v
                                bi = 1
                            v = r1[i]
                            if v > best:
                                best = v
                                bi = 2
                            v = r1[i + 1]
                            if v > best:
                                best = v
                                bi = 3
                            if kd == 2:
                                v = s0[i]
                                if v > best:
                                    best = v
                                    bi = 4
                                v = s0[i + 1]
                                if v > best:
                                    best = v
                                    bi = 5
                                v = s1[i]
                                if v > best:
                                    best = v
                                    bi = 6
                                v = s1[i + 1]
                                if v > best:
                                    best = v
                                    bi = 7
                            orow[xo] = best
                            arow[xo] = bi
                    elif kd == 1:
                        for xo in range(Wo):
                            i = 2 * xo
                            orow[xo] = ((r0[i] + r0[i + 1]) + (r1[i] + r1[i + 1])) * inv
                    else:
                        for xo in range(Wo):
                            i = 2 * xo
                            orow[xo] = (((r0[i] + r0[i + 1]) + (r1[i] + r1[i + 1])) + ((s0[i] + s0[i + 1]) + (s1[i] + s1[i + 1]))) * inv
        return
    for t in prange(N * C):
        n = t // C
        c = t % C
        xc = x[n, c]
        for z in range(Do):
            for y in range(Ho):
                for xo in range(Wo):
                    z0 = z * sd
                    y0 = y * sh
                    x0 = xo * sw
                    if is_max:
                        best = xc[z0, y0, x0]
                        best_idx = 0
                        for a in range(kd):
                            for bb in range(kh):
                                for cc in range(kw):
                                    v = xc[z0 + a, y0 + bb, x0 + cc]
                                    if v > best:  # '>' keeps the first maximum
                                        best = v
                                        best_idx = (a * kh + bb) * kw + cc
                        out[n, c, z, y, xo] = best
                        argmax[n, c, z, y, xo] = best_idx
                    else:
                        s = zero
                        for a in range(kd):
                            for bb in range(kh):
                                for cc in range(kw):
                                    s += xc[z0 + a, y0 + bb, x0 + cc]
                        out[n, c, z, y, xo] = s * inv


@kernel()
def pool_backward(dy, kd, kh, kw, sd, sh, sw, is_max, argmax, dx):  # pragma: no cover - compiled
    """Input gradient of :func:`pool_forward`; ``dx`` (N, C, D, H, W) is overwritten."""
    N, C = dx.shape[0], dx.shape[1]
    D, H, W = dx.shape[2], dx.shape[3], dx.shape[4]
    Do, Ho, Wo = dy.shape[2], dy.shape[3], dy.shape[4]
    inv = dx.dtype.type(1.0) / dx.dtype.type(kd * kh * kw)
    zero = dx.dtype.type(0)
    # in-plane offset of in-window index (a*kh + b)*kw + c
    offset = np.empty(kd * kh * kw, dtype=np.int64)
    for a in range(kd):
        for bb in range(kh):
            for cc in range(kw):
                offset[(a * kh + bb) * kw + cc] = (a * H + bb) * W + cc
    for t in prange(N * C):
        n = t // C
        c = t % C
        g = dx[n, c]
        gf = g.reshape(D * H * W)
        for i in range(D * H * W):
            gf[i] = zero
        if is_max:
            # scatter to the recorded position (branch-free: random argmax positions would make
            # any per-cell test mispredict), its in-plane offset looked up by in-window index
            for z in range(Do):
                for y in range(Ho):
                    drow = dy[n, c, z, y]
                    arow = argmax[n, c, z, y]
                    base = (z * sd * H + y * sh) * W
                    for xo in range(Wo):
                        gf[base + xo * sw + offset[arow[xo]]] += drow[xo]
        elif kd == 1 and kh == 2 and kw == 2 and sh == 2 and sw == 2:
            for z in range(Do):
                zi = z * sd
                for y in range(Ho):
                    r0 = g[zi, 2 * y]
                    r1 = g[zi, 2 * y + 1]
                    drow = dy[n, c, z, y]
                    for xo in range(Wo):
                        i = 2 * xo
                        share = drow[xo] * inv
                        r0[i] += share
                        r0[i + 1] += share
                        r1[i] += share
                        r1[i + 1] += share
        else:
            for z in range(Do):
                for y in range(Ho):
                    for xo in range(Wo):
                        share = dy[n, c, z, y, xo] * inv
                        for a in range(kd):
                            for bb in range(kh):
                                for cc in range(kw):
                                    g[z * sd + a, y * sh + bb, xo * sw + cc] += share


@kernel()
def global_mean_backward(dy, size, dx):  # pragma: no cover - compiled
    """dx[r, :] = dy[r] / size: the gradient of each row's mean, spread evenly; dx (R, S) overwritten."""
    share = dx.dtype.type(size)
    for r in prange(dx.shape[0]):
        g = dy[r] / share
        row = dx[r]
        for i in range(dx.shape[1]):
            row[i] = g
