"""Tc(L) from the crossing of p(ordered) with 1/2: recovery of planted crossings, errors, edge cases."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from fieldnet.analysis.tc import (
    isotonic_fit,
    load_predictions,
    ordered_probability_curve,
    select_crossing,
    synthetic_predictions,
    tc_crossing,
)
from scipy.special import expit, logit

from fieldnet.errors import DataFileError, FieldnetError

TC = 2.269185


def _planted(pred: xr.Dataset, tc=TC, a=0.3, nu=1.0):
    L = pred.L.values if pred.L.ndim == 0 else np.unique(pred.L.values)
    return tc + a * np.asarray(L, dtype=float) ** (-1.0 / nu)


def test_recovers_bernoulli_crossings_within_stated_error():
    pred = synthetic_predictions((8, 16, 32), np.linspace(1.9, 2.7, 17), 400, seed=3)
    res = tc_crossing(pred, n_bootstrap=300, seed=1)
    true = _planted(pred)
    err = res.Tc_err.values
    assert np.all(np.abs(res.Tc.values - true) < 3 * err), (res.Tc.values, true, err)
    assert np.all((err > 1e-4) & (err < 0.01)), err  # honest but not absurd
    assert np.all(res.Tc_p16.values < res.Tc.values + err) and np.all(res.Tc_p84.values > res.Tc.values - err)
    assert res.n_crossings.values.tolist() == [1, 1, 1]
    assert res.attrs["Tc_reference"] == pytest.approx(TC)


def test_bootstrap_errors_are_calibrated_over_seeds():
    """Across independent data sets the scatter of Tc(L) matches the bootstrap error."""
    est, errs = [], []
    for s in range(12):
        pred = synthetic_predictions((16,), np.linspace(2.0, 2.6, 13), 200, seed=200 + s)
        r = tc_crossing(pred, n_bootstrap=200, seed=s)
        est.append(float(r.Tc[0]))
        errs.append(float(r.Tc_err[0]))
    pulls = (np.array(est) - _planted(pred)[0]) / np.array(errs)
    assert np.all(np.abs(pulls) < 4), pulls
    assert 0.4 < np.std(np.array(est)) / np.mean(errs) < 2.0


def _pulls(n_networks: int, spread: float = 0.02, replicas: int = 30):
    pulls, err_net = [], []
    for s in range(replicas):
        pred = synthetic_predictions((16,), np.linspace(2.0, 2.6, 13), 200, n_networks=n_networks,
                                     network_spread=spread, seed=500 + s)
        r = tc_crossing(pred, n_bootstrap=60, seed=s)
        pulls.append((float(r.Tc[0]) - _planted(pred)[0]) / float(r.Tc_err[0]))
        err_net.append(float(r.Tc_err_networks[0]))
    return np.array(pulls), np.array(err_net)


def test_ensemble_error_includes_the_networks_spread():
    """Networks whose crossings scatter by 0.02 (as seeds do for r1): one network's sample-only error
    bar is several times too small; an ensemble of 6 measures the spread and its error is calibrated."""
    single, net1 = _pulls(1)
    assert np.all(net1 == 0.0)
    assert np.std(single) > 3.0, np.std(single)  # the understatement that the ensemble repairs
    ensemble, net6 = _pulls(6)
    assert 0.7 < np.std(ensemble) < 1.6, np.std(ensemble)
    assert np.mean(np.abs(ensemble) < 1.0) > 0.5
    # std of 6 crossings / sqrt(6), each shifted by Normal(0, 0.02) (+ a little sample noise)
    assert 0.6 < np.mean(net6) / (0.02 / np.sqrt(6)) < 1.4, np.mean(net6)


def test_ensemble_layout_per_network_crossings_and_curve_errors():
    pred = synthetic_predictions((8, 16), np.linspace(1.9, 2.7, 17), 100, n_networks=3, network_spread=0.05, seed=4)
    assert pred.member_probability.dims == ("network", "sample", "class")
    np.testing.assert_allclose(pred.probability.values, pred.member_probability.mean("network").values, atol=1e-6)
    r = tc_crossing(pred, n_bootstrap=40, seed=0)
    assert r.Tc_network.dims == ("L", "network") and r.attrs["n_networks"] == 3
    for L in (8, 16):  # each network's crossing is the estimator applied to that network alone
        alone = pred.assign(probability=pred.member_probability.isel(network=1)).drop_vars("member_probability")
        alone = alone.drop_dims("network") if "network" in alone.dims else alone
        assert float(r.Tc_network.sel(L=L, network=1)) == pytest.approx(float(tc_crossing(alone, 0).Tc.sel(L=L)))
        expected = np.std(r.Tc_network.sel(L=L).values, ddof=1) / np.sqrt(3)
        assert float(r.Tc_err_networks.sel(L=L)) == pytest.approx(expected)
        assert float(r.Tc_err.sel(L=L)) == pytest.approx(np.hypot(expected, float(r.Tc_err_samples.sel(L=L))))
    # the curve's error bars grow by the networks' spread
    single = pred.drop_vars("member_probability").drop_dims("network")
    wide, narrow = ordered_probability_curve(pred), ordered_probability_curve(single)
    assert wide.attrs["n_networks"] == 3 and narrow.attrs["n_networks"] == 1
    assert np.nanmax(wide.stderr.values - narrow.stderr.values) > 0.01
    assert np.all(wide.stderr.values >= narrow.stderr.values - 1e-12)


def test_noisy_logistic_outputs():
    """Continuous per-sample outputs (logistic curve with noise in the logit) cross at the centre."""
    rng = np.random.default_rng(7)
    centre, temps, n = 2.31, np.linspace(1.8, 2.8, 21), 300
    T = np.repeat(temps, n)
    p = expit(-(T - centre) / 0.08 + rng.normal(0, 1.5, T.size)).astype(np.float32)
    pred = xr.Dataset(
        {"probability": (("sample", "class"), np.stack([1 - p, p], axis=1))},
        coords={"class": ["disordered", "ordered"], "temperature": ("sample", T), "L": ("sample", np.full(T.size, 24))},
        attrs={"fieldnet_format": "predictions", "Tc_reference": np.nan},
    )
    r = tc_crossing(pred, n_bootstrap=300)
    assert abs(float(r.Tc[0]) - centre) < 3 * float(r.Tc_err[0]) and float(r.Tc_err[0]) < 0.01


def test_exact_on_a_logistic_between_grid_points():
    """logit-linear interpolation is exact for a logistic curve, whatever the grid offset."""
    temps = np.array([2.0, 2.2, 2.4, 2.6])
    m = expit(-(temps - 2.2713) / 0.1)
    tc, n = select_crossing(temps, m)
    assert n == 1 and tc == pytest.approx(2.2713, abs=1e-9)


def test_several_crossings_pick_the_central_one():
    temps = np.arange(9, dtype=float)
    # a noise dip at T=2 gives two spurious crossings before the real one between 5 and 6
    m = np.array([1, 1, 0.4, 0.9, 0.8, 0.6, 0.3, 0.1, 0.0])
    tc, n = select_crossing(temps, m)
    assert n == 3 and 5 < tc < 6
    # wiggles around 1/2: the monotone fit pools 0.45, 0.52 (and 0.48) and crosses 1/2 just
    # after T=4, so the crossing at 4.5 is chosen over those at ~5.6 and 6.5
    m = np.array([1, 1, 0.9, 0.8, 0.55, 0.45, 0.52, 0.48, 0.2, 0.1, 0.0])
    tc, n = select_crossing(np.arange(11.0), m)
    assert n == 3 and tc == pytest.approx(4.5)


def test_isotonic_fit_is_monotone_and_least_squares():
    y = np.array([1.0, 0.4, 0.9, 0.8, 0.6, 0.3, 0.35, 0.0])
    f = isotonic_fit(y)
    assert np.all(np.diff(f) <= 0)
    assert f[1] == pytest.approx(f[2]) and f[1] == pytest.approx((0.4 + 0.9) / 2 * 0 + (0.4 + 0.9 + 0.8) / 3)


def test_no_crossing_is_a_clear_error():
    pred = synthetic_predictions((16,), np.linspace(1.0, 1.8, 5), 50)
    with pytest.raises(FieldnetError, match="never crosses 1/2.*widen the temperature range"):
        tc_crossing(pred, n_bootstrap=10)


def test_unresolved_crossing_gets_the_grid_width_as_error():
    # the step is far narrower than the grid spacing: every sample is 0 or 1 on each side
    pred = synthetic_predictions((64,), np.array([2.0, 2.1, 2.2, 2.3, 2.4]), 100, width=0.001, a=0.0)
    r = tc_crossing(pred, n_bootstrap=50)
    assert int(r.resolved[0]) == 0
    assert float(r.Tc[0]) == pytest.approx(2.25) and float(r.Tc_err[0]) == pytest.approx(0.1 / np.sqrt(12))


def test_ordered_probability_curve_matches_groupby():
    pred = synthetic_predictions((8, 16), np.linspace(2.0, 2.5, 6), 30, seed=2)
    curve = ordered_probability_curve(pred)
    assert curve.dims == ("L", "temperature") and curve.shape == (2, 6)
    sub = pred.where(pred.L == 16, drop=True)
    p = sub.probability.sel({"class": "ordered"})
    expect = p.groupby(sub.temperature).mean()
    np.testing.assert_allclose(curve.sel(L=16).values, expect.values, rtol=1e-6)
    stderr = p.groupby(sub.temperature).std(ddof=1) / np.sqrt(30)
    np.testing.assert_allclose(curve.stderr.sel(L=16).values, stderr.values, rtol=1e-5)
    assert np.all(curve["count"].values == 30)


def test_load_predictions_rejects_missing_and_foreign_files(tmp_path):
    with pytest.raises(DataFileError, match="no such file"):
        load_predictions(tmp_path / "nope.nc")
    text = tmp_path / "notes.nc"
    text.write_text("hello")
    with pytest.raises(DataFileError):
        load_predictions(text)
    other = tmp_path / "data.nc"
    xr.Dataset({"config": ("sample", np.zeros(3))}, attrs={"fieldnet_format": "dataset"}).to_netcdf(other, engine="h5netcdf")
    with pytest.raises(DataFileError, match="not predictions"):
        load_predictions(other)
    good = tmp_path / "pred.nc"
    synthetic_predictions((8,), np.linspace(2, 2.5, 4), 5).to_netcdf(good, engine="h5netcdf")
    assert load_predictions(good).probability.shape == (20, 2)


def test_logit_helper_consistency():
    # guard: scipy's logit and the estimator agree on the level 1/2
    assert logit(0.5) == 0.0
