"""Where the transition is, roughly, from a wide scan: the window a measurement should zoom into.

A blind study starts with a scan over a wide temperature range that holds both phases.  The
transition shows in the scan's raw per-temperature averages (no reweighting: the scan's grid is
too coarse for energy histograms of large lattices to overlap): the susceptibility and the
specific heat peak near it and the Binder cumulants of two sizes cross near it.  The window
spans every such marker of the largest sizes, widened on each side by a fraction of its centre,
so that the measurement's grid holds the pseudo-critical points of all sizes with room to spare.
No known critical temperature is read.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from fieldnet.analysis.pseudocritical import crossings

from fieldnet.errors import FieldnetError


@dataclass(frozen=True)
class Window:
    """A temperature window (J/k_B) and the markers it was built from.

    Attributes:
        low, high: the window.
        markers: name -> temperature of each transition marker found in the scan.
    """

    low: float
    high: float
    markers: dict[str, float]

    def grid(self, points: int) -> np.ndarray:
        """``points`` evenly spaced temperatures across the window."""
        return np.linspace(self.low, self.high, points)


def _per_temperature(T: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    temps = np.unique(T)
    return temps, [values[T == t] for t in temps]


def markers_of_size(L: int, n_sites: int, T: np.ndarray, energy: np.ndarray, magnetization: np.ndarray | None
                    ) -> dict[str, float]:
    """The grid temperatures where the susceptibility and the specific heat of one size peak.

    Args:
        T: (n,) temperatures.  energy: (n,) energy per site.  magnetization: (n,) per site or None.
    """
    temps, e = _per_temperature(T, energy)
    heat = np.array([n_sites * c.var() for c in e]) / temps**2
    out = {f"specific heat peak L={L}": float(temps[int(np.argmax(heat))])}
    if magnetization is not None:
        _, m = _per_temperature(T, np.abs(magnetization))
        chi = np.array([n_sites * (np.mean(c * c) - np.mean(c) ** 2) for c in m]) / temps
        out[f"susceptibility peak L={L}"] = float(temps[int(np.argmax(chi))])
    return out


def binder_crossing(T_a, m_a, T_b, m_b) -> float:
    """The crossing of two sizes' per-temperature Binder cumulants closest to where both are
    between their extremes; NaN when they do not cross."""
    ta, ua = _binder(T_a, m_a)
    tb, ub = _binder(T_b, m_b)
    common = np.intersect1d(ta, tb)
    if common.size < 2:
        return float("nan")
    da = ua[np.searchsorted(ta, common)]
    db = ub[np.searchsorted(tb, common)]
    found = crossings(common, da, db)
    if found.size == 0:
        return float("nan")
    mid = 0.5 * (np.nanmax(da) + np.nanmin(da))
    return float(found[int(np.argmin(np.abs(np.interp(found, common, da) - mid)))])


def _binder(T, m):
    temps, ms = _per_temperature(T, np.asarray(m, dtype=np.float64))
    u = np.array([1.0 - np.mean(c**4) / (3.0 * np.mean(c**2) ** 2) for c in ms])
    return temps, u


def transition_window(sizes: list[tuple[int, int, np.ndarray, np.ndarray, np.ndarray | None]],
                      margin: float = 0.06) -> Window:
    """The window a measurement should cover, from a scan.

    Args:
        sizes: per lattice size (L, n_sites, T (n,), energy per site (n,), magnetisation (n,) or
            None), at least one.
        margin: the window is widened on each side by this fraction of its centre.

    Returns:
        The :class:`Window`, inside the scanned range.

    Raises:
        FieldnetError: no marker lies inside the scan (the scan does not hold the transition).
    """
    if not sizes:
        raise FieldnetError("locating the transition needs a scan of at least one lattice size")
    sizes = sorted(sizes, key=lambda s: s[0])
    markers: dict[str, float] = {}
    for L, n_sites, T, e, m in sizes[-2:]:
        markers.update(markers_of_size(L, n_sites, T, e, m))
    if len(sizes) >= 2 and sizes[-1][4] is not None and sizes[-2][4] is not None:
        tx = binder_crossing(sizes[-2][2], sizes[-2][4], sizes[-1][2], sizes[-1][4])
        if np.isfinite(tx):
            markers[f"Binder crossing L={sizes[-2][0]},{sizes[-1][0]}"] = tx
    T_all = np.concatenate([s[2] for s in sizes])
    lo_scan, hi_scan = float(T_all.min()), float(T_all.max())
    inside = [t for t in markers.values() if lo_scan < t < hi_scan]
    if not inside:
        raise FieldnetError(f"no sign of a transition inside the scan {lo_scan:g}..{hi_scan:g} (every peak sits at its "
                            "edge); widen the scan's temperature range [simulate] T")
    centre = 0.5 * (min(inside) + max(inside))
    low = max(lo_scan, min(inside) - margin * centre)
    high = min(hi_scan, max(inside) + margin * centre)
    return Window(float(low), float(high), markers)
