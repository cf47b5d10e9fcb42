"""Max and average pooling kernels (valid windows, any size and stride) on 5-D arrays.

Arrays are (N, C, D, H, W); 2-D pooling passes views with D = 1.  One ``prange`` over
(sample, channel) pairs; each pair is handled by one thread in a fixed order, so results and
gradients are bit-identical whatever the number of threads.  Max pooling records the flat index
(within the (D, H, W) plane) of the first maximum of each window; its backward adds the output
gradient there (overlapping windows add up).  A NaN propagates only when it is the first
element of its window (comparisons with NaN are false); a diverging net is caught at the loss.
"""

from __future__ import annotations

from numba import njit, prange


@njit(parallel=True, cache=True)
def pool_forward(x, kd, kh, kw, sd, sh, sw, is_max, out, argmax):  # pragma: no cover - compiled
    """Pool windows of size (kd, kh, kw) and stride (sd, sh, sw).

    Args:
        x: (N, C, D, H, W) input.
        is_max: max pooling (else average).
        out: (N, C, Do, Ho, Wo), overwritten.
        argmax: int64 (N, C, Do, Ho, Wo), overwritten with the flat in-plane index of each
            window's first maximum (max pooling only).
    """
    N, C = x.shape[0], x.shape[1]
    H, W = x.shape[3], x.shape[4]
    Do, Ho, Wo = out.shape[2], out.shape[3], out.shape[4]
    inv = x.dtype.type(1.0) / x.dtype.type(kd * kh * kw)
    zero = x.dtype.type(0)
    if kd == 1 and kh == 2 and kw == 2 and sh == 2 and sw == 2:
        # the common 2x2/2 window, unrolled (tiny runtime-length loops cost ~10x here)
        for t in prange(N * C):
            n = t // C
            c = t % C
            for z in range(Do):
                zi = z * sd
                for y in range(Ho):
                    r0 = x[n, c, zi, 2 * y]
                    r1 = x[n, c, zi, 2 * y + 1]
                    orow = out[n, c, z, y]
                    base0 = (zi * H + 2 * y) * W
                    if is_max:
                        arow = argmax[n, c, z, y]
                        for xo in range(Wo):
                            i = 2 * xo
                            best = r0[i]
                            bi = base0 + i
                            v = r0[i + 1]
                            if v > best:
                                best = v
                                bi = base0 + i + 1
                            v = r1[i]
                            if v > best:
                                best = v
                                bi = base0 + W + i
                            v = r1[i + 1]
                            if v > best:
                                best = v
                                bi = base0 + W + i + 1
                            orow[xo] = best
                            arow[xo] = bi
                    else:
                        for xo in range(Wo):
                            i = 2 * xo
                            orow[xo] = ((r0[i] + r0[i + 1]) + (r1[i] + r1[i + 1])) * inv
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
                        best_idx = (z0 * H + y0) * W + x0
                        for a in range(kd):
                            for bb in range(kh):
                                for cc in range(kw):
                                    v = xc[z0 + a, y0 + bb, x0 + cc]
                                    if v > best:  # '>' keeps the first maximum
                                        best = v
                                        best_idx = ((z0 + a) * H + y0 + bb) * W + x0 + cc
                        out[n, c, z, y, xo] = best
                        argmax[n, c, z, y, xo] = best_idx
                    else:
                        s = zero
                        for a in range(kd):
                            for bb in range(kh):
                                for cc in range(kw):
                                    s += xc[z0 + a, y0 + bb, x0 + cc]
                        out[n, c, z, y, xo] = s * inv


@njit(parallel=True, cache=True)
def pool_backward(dy, kd, kh, kw, sd, sh, sw, is_max, argmax, dx):  # pragma: no cover - compiled
    """Input gradient of :func:`pool_forward`; ``dx`` (N, C, D, H, W) is overwritten."""
    N, C = dx.shape[0], dx.shape[1]
    D, H, W = dx.shape[2], dx.shape[3], dx.shape[4]
    Do, Ho, Wo = dy.shape[2], dy.shape[3], dy.shape[4]
    inv = dx.dtype.type(1.0) / dx.dtype.type(kd * kh * kw)
    zero = dx.dtype.type(0)
    for t in prange(N * C):
        n = t // C
        c = t % C
        g = dx[n, c]
        gf = g.reshape(D * H * W)
        for i in range(D * H * W):
            gf[i] = zero
        if is_max:
            # scatter to the recorded flat index (branch-free: random argmax positions would
            # make any per-cell test mispredict)
            for z in range(Do):
                for y in range(Ho):
                    drow = dy[n, c, z, y]
                    arow = argmax[n, c, z, y]
                    for xo in range(Wo):
                        gf[arow[xo]] += drow[xo]
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
