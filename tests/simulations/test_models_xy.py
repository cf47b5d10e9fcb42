"""XY model: local and cluster updates agree, observables, overrelaxation, spin waves, the file."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from fieldnet.simulations.clusters import square_tables
from fieldnet.simulations.xy import METROPOLIS, T_KT, XY, xy_run

from tests.simulations.model_checks import binned_mean


def _numpy_observables(configs, J, T):
    """energy, |m|, vorticity, helicity estimator of (M, 2, L, L) (cos, sin) configurations."""
    th = np.arctan2(configs[:, 1].astype(np.float64), configs[:, 0].astype(np.float64))
    N = th[0].size
    dx = th - np.roll(th, -1, axis=2)
    dy = th - np.roll(th, -1, axis=1)
    cos_sum = (np.cos(dx) + np.cos(dy)).sum(axis=(1, 2))
    energy = -J * cos_sum / N
    m = np.hypot(np.cos(th).sum(axis=(1, 2)), np.sin(th).sum(axis=(1, 2))) / N

    def wrap(a):
        return (a + np.pi) % (2 * np.pi) - np.pi

    right = np.roll(th, -1, axis=2)
    corner = np.roll(right, -1, axis=1)
    down = np.roll(th, -1, axis=1)
    winding = wrap(right - th) + wrap(corner - right) + wrap(down - corner) + wrap(th - down)
    vorticity = (np.abs(winding) > np.pi).sum(axis=(1, 2)) / N
    helicity = (J * cos_sum - J**2 / T * (np.sin(dx).sum(axis=(1, 2)) ** 2 + np.sin(dy).sum(axis=(1, 2)) ** 2)) / (2 * N)
    return energy, m, vorticity, helicity


@pytest.mark.parametrize("T", [0.7, 1.2])
def test_cluster_and_local_updates_agree(T):
    L, n = 8, 640
    means = {}
    for algorithm in ("metropolis", "wolff"):
        R = XY().sweeper(algorithm, n)[1]
        r = XY().simulate_point(L, T, n, algorithm=algorithm, seed=12, key=(L, 0))
        means[algorithm] = [binned_mean(r.observables[k], R) for k in ("energy", "magnetization", "helicity_modulus")]
    for (a, da), (b, db) in zip(means["metropolis"], means["wolff"], strict=True):
        assert abs(a - b) < 4 * np.hypot(da, db)


def test_observables_are_those_of_the_stored_configurations():
    L, T = 6, 1.0
    for algorithm in ("metropolis", "wolff"):
        r = XY().simulate_point(L, T, 64, algorithm=algorithm, seed=2, key=(L, 1))
        assert r.configs.shape == (64, 2, L, L) and r.configs.dtype == np.float32
        np.testing.assert_allclose(np.hypot(r.configs[:, 0], r.configs[:, 1]), 1.0, atol=1e-6)
        expected = _numpy_observables(r.configs, 1.0, T)
        for name, value in zip(("energy", "magnetization", "vorticity", "helicity_modulus"), expected, strict=True):
            np.testing.assert_allclose(r.observables[name], value, atol=2e-5)
        assert r.observables["vorticity"].max() > 0  # at T = 1.0 vortex pairs are common


def test_overrelaxation_keeps_the_energy_and_moves_the_spins():
    L, T = 6, 1.0
    nbr, order = square_tables(L)
    theta = np.random.default_rng(0).uniform(0, 2 * np.pi, size=(2, L * L))
    spins = np.stack([np.cos(theta), np.sin(theta)], axis=1)
    start = spins.copy()
    observables = np.empty((4, 3, 2))
    rng = np.random.default_rng(1).integers(1, 2**62, size=(2, 4)).astype(np.uint64)
    # step 0: every Metropolis proposal is the old spin, so only overrelaxation changes spins
    xy_run(spins, rng, nbr, order, METROPOLIS, 0.0, 3, 1.0, T, 0, 1, np.zeros((2, L * L), np.int64), np.zeros(2, np.int64),
           np.empty((2, L * L), np.int32), observables, np.empty((0, 2, 2, L * L), np.float32), np.zeros(2, np.int64),
           np.zeros(2, np.int64))
    e0 = _numpy_observables(start.reshape(2, 2, L, L), 1.0, T)[0]
    np.testing.assert_allclose(observables[0], np.broadcast_to(e0, (3, 2)), atol=1e-10)
    np.testing.assert_allclose(np.hypot(spins[:, 0], spins[:, 1]), 1.0, atol=1e-12)
    assert np.abs(spins - start).max() > 0.1


@pytest.mark.parametrize("algorithm", ["metropolis", "wolff"])
def test_low_temperature_spin_waves(algorithm):
    """Equipartition of the harmonic spin waves: u = -2J + T/2 + O(T^2) per site."""
    T = 0.1
    r = XY().simulate_point(8, T, 128, algorithm=algorithm, seed=3, key=(8, 2))
    assert abs(r.observables["energy"].mean() - (-2.0 + T / 2)) < 0.01
    assert r.observables["vorticity"].max() == 0.0


def test_records_and_cli_file(run_cli, tmp_path):
    model = XY()
    assert model.critical_temperature() is None and model.label(0.5) == -1
    assert model.attrs()["T_KT_reference"] == pytest.approx(T_KT)
    assert model.resolve_algorithm("auto", 0.9) == "wolff" and model.resolve_algorithm("auto", 3.0) == "metropolis"
    args = ["simulate", "--model", "xy", "--L", "4", "--T", "0.5,1.0", "--samples", "10", "--seed", "4", "-q"]
    run_cli(*args, "-o", "a.h5", env={"NUMBA_NUM_THREADS": "1"}, check=True)
    run_cli(*args, "-o", "b.h5", env={"NUMBA_NUM_THREADS": "2"}, check=True)
    a, b = (xr.open_dataset(tmp_path / name, engine="h5netcdf", group="L4") for name in ("a.h5", "b.h5"))
    assert a["config"].dtype == np.float32 and a["config"].shape[-3:] == (2, 4, 4)
    assert {"energy", "magnetization", "vorticity", "helicity_modulus"} <= set(a.data_vars)
    assert a.attrs["T_KT_reference"] == pytest.approx(T_KT) and np.all(a["label"].values == -1)
    np.testing.assert_array_equal(a["config"].values, b["config"].values)
    np.testing.assert_array_equal(a["helicity_modulus"].values, b["helicity_modulus"].values)
