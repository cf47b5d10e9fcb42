"""The CNN engine: numba kernels, layers, the Sequential model, losses, optimizers, schedules.

Arrays are float32 and batch-first, ``(N, C, *spatial)``.  The engine imports only
:mod:`fieldnet.errors` and the file contract (:mod:`fieldnet.io`), never the simulations, the
analysis or the application.
"""
