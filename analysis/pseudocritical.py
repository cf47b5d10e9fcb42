"""Pseudo-critical temperatures of one lattice size, read off continuous curves.

A finite lattice has no singularity; its transition shows as the peak of a fluctuation (the
susceptibility, the variance of a network's output), the steepest point of an order parameter,
or the temperature where a dimensionless quantity (the Binder cumulant) of two sizes takes the
same value.  These functions locate such points on curves sampled on a fine temperature grid
(the output of histogram reweighting), refining the grid point by a parabola through its
neighbours.  They never look at a known critical temperature: where several candidates exist
the rule is stated and uses only the curves.
"""

from __future__ import annotations

import numpy as np


def peak(T: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """The maximum of a curve sampled on an increasing grid: (temperature, height).

    The grid maximum is refined by the vertex of the parabola through it and its neighbours;
    a maximum at the end of the grid is returned as it is (NaN temperature: the peak lies
    outside the simulated range, so no pseudo-critical temperature can be read off).

    Args:
        T: (m,) increasing temperatures (J/k_B).
        y: (m,) curve values.
    """
    T = np.asarray(T, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    ok = np.isfinite(y)
    if ok.sum() < 3:
        return float("nan"), float("nan")
    i = int(np.nanargmax(np.where(ok, y, -np.inf)))
    if i == 0 or i == len(T) - 1 or not (ok[i - 1] and ok[i + 1]):
        return float("nan"), float(y[i])
    t0, t1, t2 = T[i - 1 : i + 2]
    y0, y1, y2 = y[i - 1 : i + 2]
    denom = (t0 - t1) * (t0 - t2) * (t1 - t2)
    a = (t2 * (y1 - y0) + t1 * (y0 - y2) + t0 * (y2 - y1)) / denom
    b = (t2 * t2 * (y0 - y1) + t1 * t1 * (y2 - y0) + t0 * t0 * (y1 - y2)) / denom
    if a >= 0:
        return float(t1), float(y1)
    t_star = float(np.clip(-b / (2 * a), t0, t2))
    c = y1 - a * t1 * t1 - b * t1
    return t_star, float(a * t_star * t_star + b * t_star + c)


def crossings(T: np.ndarray, y1: np.ndarray, y2: np.ndarray) -> np.ndarray:
    """Every temperature where two curves on the same grid cross (linear interpolation of their
    difference between grid points), ascending; shape (c,), c may be 0."""
    T = np.asarray(T, dtype=np.float64)
    d = np.asarray(y1, dtype=np.float64) - np.asarray(y2, dtype=np.float64)
    ok = np.isfinite(d)
    T, d = T[ok], d[ok]
    sign = np.sign(d)
    out = [float(T[i]) for i in np.flatnonzero(sign == 0)]
    for i in np.flatnonzero(sign[:-1] * sign[1:] < 0):
        out.append(float(T[i] - d[i] * (T[i + 1] - T[i]) / (d[i + 1] - d[i])))
    return np.unique(np.asarray(out, dtype=np.float64))


def central_crossing(T: np.ndarray, y1: np.ndarray, y2: np.ndarray, weight: np.ndarray) -> float:
    """The crossing of two curves that lies where ``weight`` (e.g. the summed fluctuation of
    both sizes) is largest; NaN when they do not cross.

    Far from the transition two curves of different size may touch or cross by noise; the
    crossing that matters is inside the transition region, which the fluctuation marks.
    """
    found = crossings(T, y1, y2)
    if found.size == 0:
        return float("nan")
    w = np.interp(found, np.asarray(T, dtype=np.float64), np.asarray(weight, dtype=np.float64))
    return float(found[int(np.argmax(w))])
