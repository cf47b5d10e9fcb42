"""Numba kernels of the CNN engine (batched, float32; the same code also compiles for float64).

Every kernel works on 5-D arrays (N, C, D, H, W): 1-D and 2-D layers pass views with the missing
spatial axes set to 1, so one compiled kernel serves all dimensions and all padding modes
(padding is applied beforehand by an index-map gather, see :mod:`fieldnet.engine.kernels.conv`).
What they compute is specified in plain numpy by :mod:`fieldnet.engine.kernels.reference`.
"""

from fieldnet.engine.kernels.conv import (
    WEIGHT_GRAD_CHUNK,
    conv_backward_input,
    conv_backward_input_strided,
    conv_backward_weight,
    conv_backward_weight_strided,
    conv_forward,
    conv_forward_strided,
    pad_fold,
    pad_gather,
    relu_mask_grad,
    widen_output_grad,
)
from fieldnet.engine.kernels.pool import pool_backward, pool_forward

__all__ = [
    "WEIGHT_GRAD_CHUNK",
    "conv_backward_input",
    "conv_backward_input_strided",
    "conv_backward_weight",
    "conv_backward_weight_strided",
    "conv_forward",
    "conv_forward_strided",
    "pad_fold",
    "pad_gather",
    "pool_backward",
    "pool_forward",
    "relu_mask_grad",
    "widen_output_grad",
]
