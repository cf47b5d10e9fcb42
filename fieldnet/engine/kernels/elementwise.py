"""Element-wise kernels of the skip connection, in parallel and into reused buffers.

NumPy runs these on one thread and into a fresh array each call (its pages are faulted in every
step); here both threads share them.  Every element is computed exactly as NumPy computes it,
so the results are the same bits: a float sum, NumPy's ``maximum(s, 0)`` (NaN kept, -0.0 to +0),
and a select.  All arrays are flat, contiguous and of one length.
"""

from __future__ import annotations

from numba import prange

from fieldnet.engine.kernels.jit import kernel


@kernel()
def add_relu(a, b, relu, out):  # pragma: no cover - compiled
    """out = a + b, then ``numpy.maximum(out, 0)`` when ``relu``: a NaN stays NaN and a zero of
    either sign becomes +0 (NumPy's vector loop returns its second operand for equal values)."""
    zero = out.dtype.type(0)
    for i in prange(out.shape[0]):
        s = a[i] + b[i]
        if relu and not (s > zero or s != s):
            s = zero
        out[i] = s


@kernel()
def relu_mask(dy, y, out):  # pragma: no cover - compiled
    """out = dy where y > 0, else 0 (the gradient through a ReLU whose output was y)."""
    zero = out.dtype.type(0)
    for i in prange(out.shape[0]):
        out[i] = dy[i] if y[i] > zero else zero
