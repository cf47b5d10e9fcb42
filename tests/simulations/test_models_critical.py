"""Critical points from finite-size scaling of the simulated data, against the reference values:
Binder-cumulant crossings of two sizes (ising3d, triangular Ising, 3-state Potts) and the
helicity-modulus criterion of the XY model (Wolff updates throughout)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from fieldnet.analysis.rg import binder_cumulant
from fieldnet.simulations.registry import get_model

SAMPLES = 3000


def _binder_curve(model, L, temps):
    return np.array([binder_cumulant(model.simulate_point(L, T, SAMPLES, algorithm="wolff", seed=31, key=(L, i))
                                     .observables["magnetization"]) for i, T in enumerate(temps)])


def _crossing(temps, a, b):
    """Where quadratic fits of two curves over ``temps`` cross inside the range (the one root)."""
    diff = np.polyfit(temps, a, 2) - np.polyfit(temps, b, 2)
    roots = [r.real for r in np.roots(diff) if abs(r.imag) < 1e-12 and temps[0] <= r.real <= temps[-1]]
    assert len(roots) == 1, f"expected one crossing in range, got {roots}"
    return roots[0]


@pytest.mark.parametrize(
    "name, params, sizes, tc, tolerance",
    [
        # (model, parameters, two sizes, reference Tc, stated relative tolerance)
        ("ising3d", {}, (4, 8), 1.0 / 0.221654626, 0.01),
        ("ising2d", {"lattice": "triangular"}, (6, 18), 4.0 / math.log(3.0), 0.01),
        ("potts", {"q": 3}, (6, 18), 1.0 / math.log(1.0 + math.sqrt(3.0)), 0.01),
    ],
)
def test_binder_cumulant_crossing_lands_on_the_reference_tc(name, params, sizes, tc, tolerance):
    model = get_model(name, **params)
    temps = tc * np.linspace(0.96, 1.04, 5)
    small, large = (_binder_curve(model, L, temps) for L in sizes)
    # below Tc the larger lattice is more ordered (U nearer 2/3), above it less
    assert large[0] > small[0] and large[-1] < small[-1]
    assert abs(_crossing(temps, small, large) / tc - 1.0) < tolerance


def test_xy_helicity_modulus_criterion_extrapolates_to_t_kt():
    """Upsilon_L(T) = 2T/pi at T_L; Kosterlitz-Thouless scaling T_L = T_KT + c / (ln L)^2 through
    L = 8 and 16 gives T_KT (reference 0.8929) within 0.03."""
    model = get_model("xy")
    temps = np.linspace(0.86, 1.02, 5)
    t_cross = {}
    for L in (8, 16):
        excess = np.array([model.simulate_point(L, T, 1000, algorithm="wolff", seed=5, key=(L, i))
                           .observables["helicity_modulus"].mean() - 2 * T / math.pi for i, T in enumerate(temps)])
        t_cross[L] = float(np.roots(np.polyfit(temps, excess, 1))[0])
    x8, x16 = 1 / math.log(8) ** 2, 1 / math.log(16) ** 2
    slope = (t_cross[8] - t_cross[16]) / (x8 - x16)
    t_kt = t_cross[16] - slope * x16
    assert t_cross[8] > t_cross[16] > 0.893  # finite lattices cross above T_KT, approaching it
    assert abs(t_kt - 0.8929) < 0.03
