"""Finite-size scaling: Tc(L) = Tc + a L^(-1/nu) and the data collapse recover planted Tc and nu."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from fieldnet.analysis.fss import analyze_tc, data_collapse, fit_tc_infinite, quality
from fieldnet.analysis.tc import (
    classified,
    ordered_probability_curve,
    synthetic_predictions,
    tc_crossing,
)

from fieldnet.errors import FieldnetError

TC = 2.269185


def _tc_L(L, tc, a, nu, sigma, seed):
    L = np.asarray(L, dtype=float)
    rng = np.random.default_rng(seed)
    y = tc + a * L ** (-1 / nu) + sigma * rng.standard_normal(L.size)
    return xr.Dataset({"Tc": ("L", y), "Tc_err": ("L", np.full(L.size, sigma))}, coords={"L": L.astype(int)})


@pytest.mark.parametrize("nu,a", [(1.0, 0.4), (0.63, -0.6)])
def test_fit_with_nu_fixed_recovers_tc(nu, a):
    pulls = []
    for s in range(20):
        fit = fit_tc_infinite(_tc_L([8, 12, 16, 24, 32], TC, a, nu, 0.002, s), nu=nu)
        pulls.append((float(fit.Tc) - TC) / float(fit.Tc_err))
        assert float(fit.nu) == nu and float(fit.nu_err) == 0 and int(fit.dof) == 3
    assert np.all(np.abs(pulls) < 3.5) and 0.5 < np.std(pulls) < 1.6, pulls
    assert float(fit.Tc_err) < 0.01


@pytest.mark.parametrize("nu,a", [(1.0, 0.8), (0.63, -1.0)])
def test_fit_with_nu_free_recovers_tc_and_nu(nu, a):
    fit = fit_tc_infinite(_tc_L([6, 8, 12, 16, 24, 32, 48, 64], TC, a, nu, 0.0005, 1))
    assert int(fit.attrs["nu_fixed"]) == 0
    assert abs(float(fit.Tc) - TC) < 3 * float(fit.Tc_err) and float(fit.Tc_err) < 0.01
    assert abs(float(fit.nu) - nu) < 3 * float(fit.nu_err) and float(fit.nu_err) < 0.2 * nu


def test_fit_needs_enough_sizes():
    with pytest.raises(FieldnetError, match="at least 3 lattice sizes.*--nu"):
        fit_tc_infinite(_tc_L([8, 16], TC, 0.3, 1.0, 0.01, 0))


def test_crossings_then_fit_recover_tc_from_synthetic_predictions():
    pred = synthetic_predictions((8, 16, 32, 64), np.linspace(2.0, 2.6, 31), 300, a=0.3, seed=5)
    fit = fit_tc_infinite(tc_crossing(pred, n_bootstrap=200), nu=1.0)
    assert abs(float(fit.Tc) - TC) < 3 * float(fit.Tc_err) and float(fit.Tc_err) < 0.005
    assert abs(float(fit.a) - 0.3) < 3 * float(fit.a_err)


def test_quality_is_small_at_the_true_parameters():
    pred = synthetic_predictions((8, 16, 32), np.linspace(2.0, 2.6, 31), 300, seed=4)
    from fieldnet.analysis.fss import _curves

    curves = _curves(ordered_probability_curve(pred))
    s_true, n = quality(curves, TC, 1.0)
    assert n > 20 and s_true < 3
    assert quality(curves, TC + 0.02, 1.0)[0] > 5 * s_true
    assert quality(curves, TC, 1.5)[0] > 5 * s_true


@pytest.mark.parametrize(
    "nu,L,temps,width,a",
    [
        (1.0, (8, 16, 32, 64), np.linspace(2.0, 2.6, 31), 0.5, 0.3),
        (0.63, (8, 12, 16, 24, 32), np.linspace(2.1, 2.45, 71), 2.0, -0.5),
    ],
)
def test_collapse_recovers_tc_and_nu(nu, L, temps, width, a):
    pred = synthetic_predictions(L, temps, 300, nu=nu, a=a, width=width, seed=11)
    res = data_collapse(pred, 2.3, 0.8, n_bootstrap=25)
    tc, dtc, nu_fit, dnu = (float(res[k]) for k in ("Tc", "Tc_err", "nu", "nu_err"))
    assert abs(tc - TC) < 3 * dtc and dtc < 0.005, (tc, dtc)
    assert abs(nu_fit - nu) < 3 * dnu and dnu < 0.1 * nu, (nu_fit, dnu)
    assert res.S_min < 3
    # the collapsed curves: x is (T - Tc) L^(1/nu)
    x = res.x.sel(L=L[-1]).values
    np.testing.assert_allclose(x, (temps - tc) * L[-1] ** (1 / nu_fit))


def test_collapse_with_nu_fixed():
    pred = synthetic_predictions((8, 16, 32), np.linspace(2.0, 2.6, 31), 300, seed=12)
    res = data_collapse(ordered_probability_curve(pred), 2.35, 1.0, nu=1.0, n_bootstrap=20)
    assert float(res.nu) == 1.0 and float(res.nu_err) == 0
    assert abs(float(res.Tc) - TC) < 3 * float(res.Tc_err) and float(res.Tc_err) < 0.005


def test_collapse_needs_two_sizes():
    pred = synthetic_predictions((16,), np.linspace(2.0, 2.6, 11), 50)
    with pytest.raises(FieldnetError, match="at least two lattice sizes"):
        data_collapse(pred, 2.3, 1.0)


def test_classified_turns_outputs_into_decisions():
    pred = synthetic_predictions((8,), np.linspace(2.0, 2.6, 7), 50, n_networks=3, network_spread=0.02,
                                 confidence_width=0.05, seed=2)
    dec = classified(pred)
    members = dec.member_probability.sel({"class": "ordered"}).values
    assert set(np.unique(members)) <= {0.0, 1.0}
    np.testing.assert_array_equal(members, pred.member_probability.sel({"class": "ordered"}).values > 0.5)
    np.testing.assert_allclose(dec.probability.sum("class"), 1.0)
    np.testing.assert_allclose(dec.probability.values, dec.member_probability.mean("network").values, atol=1e-6)
    single = classified(synthetic_predictions((8,), np.linspace(2.0, 2.6, 7), 50, confidence_width=0.05, seed=2))
    assert set(np.unique(single.probability.values)) == {0.0, 1.0} and "member_probability" not in single


def test_collapse_of_decisions_is_free_of_the_networks_confidence_width(tmp_path):
    """Soft outputs with a confidence width fixed in temperature at every L (as per-L networks learn
    it) bias the collapse of the mean probability; the fraction classified ordered keeps the scaling."""
    pred = synthetic_predictions((16, 24, 32, 48, 64), np.linspace(1.9, 2.7, 33), 400, confidence_width=0.01, seed=1)
    dec = analyze_tc(pred, tmp_path / "dec", nu=1.0, n_bootstrap=50, collapse_bootstrap=20, figures=False)
    prob = analyze_tc(pred, tmp_path / "prob", nu=1.0, n_bootstrap=50, collapse_bootstrap=20,
                      collapse_of="probability", figures=False)
    assert dec["collapse"]["collapse_of"] == "decisions" and prob["settings"]["collapse_of"] == "probability"
    assert abs(dec["collapse"]["nu"] - 1.0) < 3 * dec["collapse"]["nu_err"] and abs(dec["collapse"]["nu"] - 1.0) < 0.1
    assert abs(dec["collapse"]["Tc"] - TC) < 3 * dec["collapse"]["Tc_err"]
    assert prob["collapse"]["nu"] > 1.3  # the confidence width masquerades as slower scaling
    with pytest.raises(FieldnetError, match="collapse_of"):
        analyze_tc(pred, tmp_path / "bad", collapse_of="soft", figures=False)
