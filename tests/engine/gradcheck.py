"""Finite-difference gradient checks shared by the engine tests (float64 throughout)."""

from __future__ import annotations

import numpy as np


def numeric_grad(f, a: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of the scalar f() with respect to every element of ``a`` (in place)."""
    g = np.zeros_like(a)
    flat, gflat = a.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        up = f()
        flat[i] = old - eps
        down = f()
        flat[i] = old
        gflat[i] = (up - down) / (2 * eps)
    return g


def check_layer_gradients(layer, x: np.ndarray, training: bool = False, seed: int = 0, rtol: float = 1e-5) -> None:
    """Compare a built layer's input and parameter gradients with central differences.

    The scalar is sum(forward(x) * r) for a fixed random r, so d/d out = r.
    """
    for k in list(layer.params):
        layer.params[k] = layer.params[k].astype(np.float64)
    x = x.astype(np.float64)
    r = np.random.default_rng(seed).standard_normal(layer.forward(x, training).shape)

    def scalar() -> float:
        return float(np.sum(layer.forward(x, training) * r))

    layer.forward(x, training)
    dx = layer.backward(r.copy())
    analytic = {k: np.array(layer.grads[k], dtype=np.float64) for k in layer.params}
    np.testing.assert_allclose(dx, numeric_grad(scalar, x), rtol=rtol, atol=1e-7)
    for k, p in layer.params.items():
        np.testing.assert_allclose(analytic[k], numeric_grad(scalar, p), rtol=rtol, atol=1e-7, err_msg=k)
