"""Numba kernels of the CNN engine (batched, float32; the same code also compiles for float64).

Every kernel works on 5-D arrays (N, C, D, H, W): 1-D and 2-D layers pass views with the missing
spatial axes set to 1, so one compiled kernel serves all dimensions and all padding modes
(padding, and the phases of a strided convolution, are applied beforehand by an index-map
gather, see :mod:`fieldnet.engine.kernels.conv`).
What they compute is specified in plain numpy by :mod:`fieldnet.engine.kernels.reference`.

Modules: :mod:`~fieldnet.engine.kernels.conv` (padding gather/fold, convolution forward, input
and weight gradients, at any stride), :mod:`~fieldnet.engine.kernels.pool` (max and average
pooling), :mod:`~fieldnet.engine.kernels.reference` (the specification),
:mod:`~fieldnet.engine.kernels.jit` (the kernels' decorator: cached, parallel, full-width vectors).  Import the kernels from their
module; the package itself loads neither numba nor a kernel.
"""
