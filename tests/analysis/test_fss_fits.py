"""Finite-size scaling fits and pseudo-critical points on exact synthetic curves."""

from __future__ import annotations

import numpy as np
import pytest
from fieldnet.analysis.fss import INVERSE_NU_RANGE, fit_power_law, fit_shift
from fieldnet.analysis.pseudocritical import central_crossing, crossings, peak

from fieldnet.errors import FieldnetError


def test_peak_of_a_sampled_parabola_is_its_vertex_between_grid_points():
    T = np.linspace(2.0, 2.6, 31)
    t, h = peak(T, 5.0 - 40.0 * (T - 2.3137) ** 2)
    assert t == pytest.approx(2.3137, abs=1e-9) and h == pytest.approx(5.0, abs=1e-9)


def test_a_peak_at_the_edge_of_the_range_is_no_peak():
    T = np.linspace(2.0, 2.6, 31)
    assert np.isnan(peak(T, T)[0])


def test_crossings_of_two_lines_and_the_central_one():
    T = np.linspace(0.0, 1.0, 11)
    assert crossings(T, T, 0.37 + 0 * T) == pytest.approx([0.37])
    wiggle = 0.5 + 0.3 * np.sin(12 * T)
    found = crossings(T, wiggle, 0.5 + 0 * T)
    assert found.size >= 3
    weight = np.exp(-((T - 0.78) ** 2) / 0.005)
    assert abs(central_crossing(T, wiggle, 0.5 + 0 * T, weight) - 0.78) < 0.05


def test_power_law_recovers_the_exponent():
    L = np.array([8, 12, 16, 24, 32], float)
    fit = fit_power_law(L, 0.7 * L**1.31)
    assert fit.exponent == pytest.approx(1.31) and fit.amplitude == pytest.approx(0.7)
    with pytest.raises(FieldnetError, match="positive values"):
        fit_power_law(L, -L)


@pytest.mark.parametrize("tc, a, nu", [(2.2692, 1.7, 1.0), (4.5115, -2.0, 0.63), (0.995, 0.8, 0.833)])
def test_shift_fit_recovers_tc_and_nu_with_no_starting_value(tc, a, nu):
    L = np.array([8, 12, 16, 24, 32, 48], float)
    T_L = tc + a * L ** (-1 / nu)
    free = fit_shift(L, T_L)
    assert free.Tc == pytest.approx(tc, abs=1e-6) and free.nu == pytest.approx(nu, rel=1e-4) and free.nu_fitted
    fixed = fit_shift(L, T_L, nu=nu)
    assert fixed.Tc == pytest.approx(tc, abs=1e-9) and fixed.a == pytest.approx(a)


def test_shift_fit_says_when_the_sizes_do_not_determine_nu():
    L = np.array([8.0, 16.0, 32.0])
    fit = fit_shift(L, np.array([2.0, 2.0, 2.0]) + np.array([0.0, 1e-9, -1e-9]))
    assert fit.message == "" or "do not determine nu" in fit.message
    assert INVERSE_NU_RANGE[0] <= 1 / fit.nu <= INVERSE_NU_RANGE[1]
    with pytest.raises(FieldnetError, match="at least three sizes"):
        fit_shift(L[:2], np.array([2.0, 2.1]))
