"""Finite-size scaling fits: how pseudo-critical quantities of finite lattices approach the
infinite lattice.

* :func:`fit_power_law`: y(L) = A L^x, a straight line in log-log (e.g. the steepest slope of an
  order parameter, which grows as L^(1/nu)); needs no critical temperature.
* :func:`fit_shift`: T*(L) = Tc + a L^(-1/nu), linear in (Tc, a) for a given nu; with nu free it
  is profiled over a model-independent grid of 1/nu (no starting value, so nothing a user or the
  code knows about the model can steer it).

Fits return point values and their chi^2; the errors that :mod:`fieldnet.analysis.tc` reports
come from repeating the whole chain on bootstrap replicas, which also carries the correlations
between the sizes' pseudo-critical temperatures and the fitted exponent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize

from fieldnet.errors import FieldnetError

#: the range of 1/nu a free fit explores: any exponent of a lattice model lies well inside
INVERSE_NU_RANGE = (0.1, 10.0)


@dataclass(frozen=True)
class PowerLaw:
    """y = amplitude * L^exponent; chi2 over dof (unweighted residuals in log y when no errors)."""

    exponent: float
    amplitude: float
    chi2: float
    dof: int


@dataclass(frozen=True)
class Shift:
    """T*(L) = Tc + a L^(-1/nu) (temperatures in J/k_B); ``nu_fitted`` says whether nu was free."""

    Tc: float
    a: float
    nu: float
    chi2: float
    dof: int
    nu_fitted: bool
    message: str = ""


def _weights(y: np.ndarray, err: np.ndarray | None) -> np.ndarray:
    if err is None:
        return np.ones_like(y)
    err = np.asarray(err, dtype=np.float64)
    if not np.all(np.isfinite(err) & (err > 0)):
        return np.ones_like(y)
    return 1.0 / err


def fit_power_law(L: np.ndarray, y: np.ndarray, err: np.ndarray | None = None) -> PowerLaw:
    """Weighted straight-line fit of ln y against ln L.

    Args:
        L: (n,) sizes, n >= 2.  y: (n,) positive values.  err: (n,) errors of y (optional).
    """
    L = np.asarray(L, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if L.size < 2 or np.any(y <= 0):
        raise FieldnetError(f"a power law in L needs at least two sizes with positive values, got {y}")
    w = _weights(y, None if err is None else np.asarray(err) / y)
    A = np.stack([np.ones_like(L), np.log(L)], axis=1) * w[:, None]
    coef, *_ = np.linalg.lstsq(A, np.log(y) * w, rcond=None)
    resid = (np.log(y) - coef[0] - coef[1] * np.log(L)) * w
    return PowerLaw(float(coef[1]), float(np.exp(coef[0])), float(resid @ resid), int(L.size - 2))


def _linear_shift(L, T, w, inv_nu) -> tuple[float, float, float]:
    x = np.power(L, -inv_nu)
    A = np.stack([np.ones_like(x), x], axis=1) * w[:, None]
    coef, *_ = np.linalg.lstsq(A, T * w, rcond=None)
    resid = (T - coef[0] - coef[1] * x) * w
    return float(coef[0]), float(coef[1]), float(resid @ resid)


def fit_shift(L: np.ndarray, T_L: np.ndarray, err: np.ndarray | None = None, nu: float | None = None) -> Shift:
    """Fit T*(L) = Tc + a L^(-1/nu).

    Args:
        L: (n,) sizes.  T_L: (n,) pseudo-critical temperatures (J/k_B).  err: (n,) their errors.
        nu: the exponent (measured elsewhere, e.g. by :func:`fit_power_law`); None fits it too,
            which needs at least four sizes to leave a degree of freedom.

    Returns:
        The :class:`Shift`; with nu free, ``message`` says when 1/nu ran to the end of
        :data:`INVERSE_NU_RANGE` (the sizes then do not determine nu).
    """
    L = np.asarray(L, dtype=np.float64)
    T = np.asarray(T_L, dtype=np.float64)
    w = _weights(T, err)
    if nu is not None:
        if not nu > 0:
            raise FieldnetError(f"nu must be positive, got {nu}")
        if L.size < 2:
            raise FieldnetError("extrapolating T*(L) needs at least two sizes")
        tc, a, chi2 = _linear_shift(L, T, w, 1.0 / nu)
        return Shift(tc, a, float(nu), chi2, int(L.size - 2), False)
    if L.size < 3:
        raise FieldnetError(f"fitting T*(L) = Tc + a L^(-1/nu) with nu free needs at least three sizes, got {L.size}")
    lo, hi = np.log(INVERSE_NU_RANGE[0]), np.log(INVERSE_NU_RANGE[1])
    grid = np.linspace(lo, hi, 61)
    profile = np.array([_linear_shift(L, T, w, np.exp(g))[2] for g in grid])
    i = int(np.argmin(profile))
    bracket = (grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)])
    res = optimize.minimize_scalar(lambda g: _linear_shift(L, T, w, np.exp(g))[2], bounds=bracket, method="bounded")
    inv_nu = float(np.exp(res.x))
    tc, a, chi2 = _linear_shift(L, T, w, inv_nu)
    message = ""
    if i in (0, grid.size - 1):
        message = f"1/nu ran to the end of its range ({inv_nu:.3g}): these sizes do not determine nu"
    return Shift(tc, a, 1.0 / inv_nu, chi2, int(L.size - 3), True, message)
