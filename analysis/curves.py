"""Continuous curves of one lattice size: canonical averages reweighted onto a temperature grid.

For each size the configurations of all simulated temperatures are combined by multiple-histogram
reweighting (:mod:`fieldnet.analysis.reweighting`); every curve is then a canonical average at
any temperature of the grid, and every temperature derivative comes from the fluctuation formula
d<O>/dT = (<O E> - <O><E>) / T^2 (E the total energy in J, T in J/k_B), with no finite differences.

Curves of the network output p (the ensemble's mean output, configuration by configuration):
    ``p_mean`` <p>, ``p_var`` <p^2> - <p>^2, ``p_slope`` d<p>/dT, and for the configurations
    coarse-grained by one and by two block steps ``blocked_mean``, ``blocked_slope``,
    ``twice_blocked_mean`` and ``twice_blocked_slope``.
Curves of the magnetisation m (per site) for the Binder baseline:
    ``binder`` U = 1 - <m^4>/(3<m^2>^2), ``binder_slope`` dU/dT,
    ``susceptibility`` N (<m^2> - <|m|>^2)/T, ``log_m_slope`` d ln<|m|>/dT.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from fieldnet.analysis import reweighting
from fieldnet.analysis.observables import SizeSamples

from fieldnet.errors import FieldnetError

#: temperatures of the common grid on which every size's curves are evaluated
CURVE_POINTS = 161


@dataclass
class Curves:
    """Reweighted curves of one lattice size on the common temperature grid (see the module)."""

    L: int
    temperature: np.ndarray
    p_mean: np.ndarray
    p_var: np.ndarray
    p_slope: np.ndarray
    blocked_mean: np.ndarray | None = None
    blocked_slope: np.ndarray | None = None
    twice_blocked_mean: np.ndarray | None = None
    twice_blocked_slope: np.ndarray | None = None
    binder: np.ndarray | None = None
    binder_slope: np.ndarray | None = None
    susceptibility: np.ndarray | None = None
    log_m_slope: np.ndarray | None = None


def common_grid(samples: list[SizeSamples], points: int = CURVE_POINTS) -> np.ndarray:
    """The temperatures (J/k_B) simulated at every size: the overlap of their ranges, ``points``
    evenly spaced (curves of different sizes must share a grid to be compared)."""
    lo = max(float(s.temperature.min()) for s in samples)
    hi = min(float(s.temperature.max()) for s in samples)
    if not hi > lo:
        raise FieldnetError("the lattice sizes were simulated at temperature ranges that do not overlap; "
                            "simulate every size over the same temperatures")
    return np.linspace(lo, hi, points)


def _with_slope(avg: np.ndarray, T: np.ndarray, col: int, e_col: int, oe_col: int) -> tuple[np.ndarray, np.ndarray]:
    mean = avg[:, col]
    return mean, (avg[:, oe_col] - mean * avg[:, e_col]) / (T * T)


@dataclass
class Weights:
    """The multiple-histogram weights of one size's configurations on a temperature grid.

    They depend on the configurations' temperatures and energies only, so every curve of the
    same configurations (each network's output, each training-range placement) shares them.

    Attributes:
        weights: (m, n) normalised weight of each of the n configurations at each of the m grid
            temperatures (each row sums to 1).
        free_energies: (k,) the multiple-histogram free energies (the warm start for bootstrap
            replicas of the same configurations).
    """

    weights: np.ndarray
    free_energies: np.ndarray


def weights_of(s: SizeSamples, grid: np.ndarray, start: np.ndarray | None = None) -> Weights:
    """Solve the multiple-histogram equations of ``s``'s configurations and weight them on ``grid``."""
    ens = reweighting.multi_histogram(s.temperature, s.energy, start_free_energies=start)
    return Weights(np.exp(reweighting.log_weights(ens, grid)), ens.log_f)


def curves_of(s: SizeSamples, grid: np.ndarray, start: np.ndarray | None = None,
              weights: Weights | None = None) -> tuple[Curves, np.ndarray]:
    """The curves of one size on ``grid``; also returns the multiple-histogram free energies
    (the warm start for this size's bootstrap replicas).  ``weights`` of the same configurations
    (:func:`weights_of`) skip the solution."""
    w = weights_of(s, grid, start) if weights is None else weights
    E = s.energy
    p = s.output.mean(axis=0)
    columns = {"E": E, "p": p, "p2": p * p, "pE": p * E}
    if s.blocked_output is not None:
        q = s.blocked_output.mean(axis=0)
        columns.update(q=q, qE=q * E)
    if s.twice_blocked_output is not None:
        q2 = s.twice_blocked_output.mean(axis=0)
        columns.update(q2=q2, q2E=q2 * E)
    if s.magnetization is not None:
        am = np.abs(s.magnetization)
        m2 = am * am
        columns.update(am=am, m2=m2, m4=m2 * m2, amE=am * E, m2E=m2 * E, m4E=m2 * m2 * E)
    names = list(columns)
    avg = w.weights @ np.stack([columns[n] for n in names], axis=1).astype(np.float64, copy=False)
    col = {n: i for i, n in enumerate(names)}
    T = grid
    p_mean, p_slope = _with_slope(avg, T, col["p"], col["E"], col["pE"])
    curves = Curves(s.L, T, p_mean, avg[:, col["p2"]] - p_mean**2, p_slope)
    if s.blocked_output is not None:
        curves.blocked_mean, curves.blocked_slope = _with_slope(avg, T, col["q"], col["E"], col["qE"])
    if s.twice_blocked_output is not None:
        curves.twice_blocked_mean, curves.twice_blocked_slope = _with_slope(avg, T, col["q2"], col["E"], col["q2E"])
    if s.magnetization is not None:
        am, am_slope = _with_slope(avg, T, col["am"], col["E"], col["amE"])
        m2, m2_slope = _with_slope(avg, T, col["m2"], col["E"], col["m2E"])
        m4, m4_slope = _with_slope(avg, T, col["m4"], col["E"], col["m4E"])
        curves.binder = 1.0 - m4 / (3.0 * m2 * m2)
        curves.binder_slope = -(m4_slope * m2 - 2.0 * m4 * m2_slope) / (3.0 * m2**3)
        curves.susceptibility = s.n_sites * (m2 - am * am) / T
        curves.log_m_slope = am_slope / am
    return curves, w.free_energies
