"""Systematic errors: how far an estimate moves when a choice the user made is changed.

Two choices move a blind Tc estimate:

* **the training range** -- where the bands of temperatures labelled ordered and disordered lie.
  The analysis is repeated with the networks retrained on bands shifted up and down
  (placements).  The systematic error is half the spread of the placements' estimates, and the
  *sensitivity* dTc/d(shift) is the slope of a straight line through them (0 for an estimator
  that does not follow the training range, 1 for one that moves with it);
* **the sizes** -- the estimate from all pairs of sizes against the one without the smallest
  (finite-size corrections that the pairs do not resolve).

The total systematic error adds the two in quadrature.  Statistical and systematic errors are
reported separately.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from fieldnet.analysis.tc import Measurement


@dataclass(frozen=True)
class Placement:
    """One training range: bands (J/k_B) and the estimate made with networks trained on them."""

    shift: float
    ordered_below: float
    disordered_above: float
    Tc: float
    Tc_err: float
    nu: float
    nu_err: float


@dataclass(frozen=True)
class Systematics:
    """The systematic errors of an estimate (temperatures in J/k_B).

    Attributes:
        training_range: half the spread of the placements' Tc.
        sensitivity: dTc / d(shift of the training range), dimensionless; NaN with one placement.
        sensitivity_err: its standard error from the placements' statistical errors.
        sizes: |Tc(all pairs) - Tc(without the smallest pair)| (0 with one pair).
        nu_training_range, nu_sizes: the same for nu.
    """

    training_range: float
    sensitivity: float
    sensitivity_err: float
    sizes: float
    nu_training_range: float
    nu_sizes: float

    @property
    def Tc(self) -> float:
        """The total systematic error of Tc."""
        return float(np.hypot(self.training_range, self.sizes))

    @property
    def nu(self) -> float:
        return float(np.hypot(self.nu_training_range, self.nu_sizes))


def half_spread(values) -> float:
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    return float(0.5 * (v.max() - v.min())) if v.size >= 2 else 0.0


def sensitivity(placements: list[Placement]) -> tuple[float, float]:
    """dTc/d(shift) by weighted least squares through the placements, and its error."""
    ok = [p for p in placements if np.isfinite(p.Tc)]
    if len({p.shift for p in ok}) < 2:
        return float("nan"), float("nan")
    x = np.array([p.shift for p in ok])
    y = np.array([p.Tc for p in ok])
    err = np.array([p.Tc_err if np.isfinite(p.Tc_err) and p.Tc_err > 0 else 1.0 for p in ok])
    w = 1.0 / err**2
    xm = np.sum(w * x) / np.sum(w)
    sxx = np.sum(w * (x - xm) ** 2)
    slope = np.sum(w * (x - xm) * (y - np.sum(w * y) / np.sum(w))) / sxx
    return float(slope), float(np.sqrt(1.0 / sxx))


def without_smallest_pair(m: Measurement) -> tuple[float, float]:
    """(Tc, nu) of a crossing estimate recombined without its smallest pair (NaN with one pair)."""
    est = m.estimate
    if est.T_L.size < 2:
        return float("nan"), float("nan")
    keep = slice(1, None)

    def mean(values, errors):
        v, e = values[keep], errors[keep]
        ok = np.isfinite(v) & np.isfinite(e) & (e > 0)
        return float(np.sum(v[ok] / e[ok] ** 2) / np.sum(1 / e[ok] ** 2)) if ok.any() else float("nan")

    return mean(est.T_L, m.T_L_err), mean(est.nu_L, m.nu_L_err)


def systematics(base: Measurement, placements: list[Placement]) -> Systematics:
    """The systematic errors of ``base`` (the estimate of the unshifted training range)."""
    slope, slope_err = sensitivity(placements)
    tc_small, nu_small = without_smallest_pair(base)
    return Systematics(
        training_range=half_spread([p.Tc for p in placements]),
        sensitivity=slope, sensitivity_err=slope_err,
        sizes=abs(base.Tc - tc_small) if np.isfinite(tc_small) else 0.0,
        nu_training_range=half_spread([p.nu for p in placements]),
        nu_sizes=abs(base.nu - nu_small) if np.isfinite(nu_small) else 0.0,
    )
