"""Lattice models and Monte Carlo: configurations of Ising, XY, Potts and phi^4 models.

Each model is a module with numba kernels that update many independent replicas at once; a
campaign (:mod:`fieldnet.simulations.campaign`) runs models over lattice sizes and temperatures and writes
the data contract of :mod:`fieldnet.io.dataset`.
"""
