"""BLAS kept to one thread while the engine computes.

The convolution kernels already use every core through numba; a multi-threaded BLAS (the dense
layers' matrix products) on top of them oversubscribes the cores and collapses throughput.  The
limit is applied with threadpoolctl around each forward and backward pass, so it holds whatever
the user imported first (numpy before fieldnet, as every notebook does) and it is lifted again
when the call returns: importing fieldnet changes nothing in the process.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

_controller = None


def single_threaded_blas() -> AbstractContextManager:
    """A context in which every loaded BLAS library runs on one thread (restored on exit)."""
    global _controller
    if _controller is None:
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController()
    return _controller.limit(limits=1, user_api="blas")
