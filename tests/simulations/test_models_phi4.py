"""phi^4 scalar field: the free field exactly, the three updates agree, HMC's integrator and acceptance."""

from __future__ import annotations

import math

import numpy as np
import pytest
import xarray as xr
from fieldnet.simulations.clusters import square_tables
from fieldnet.simulations.exact import free_field_phi_squared
from fieldnet.simulations.phi4 import Phi4, hmc_trajectory
from fieldnet.simulations.rng import seeded_states
from scipy.special import erfc

from fieldnet.errors import FieldnetError
from tests.simulations.model_checks import binned_mean

ALGORITHMS = ("metropolis", "hmc", "wolff")


def _replicas(algorithm, n):
    return Phi4().sweeper(algorithm, n)[1]


def _numpy_action(phi, mu0sq, lam):
    phi = phi.astype(np.float64)
    grad = ((np.roll(phi, -1, -1) - phi) ** 2 + (np.roll(phi, -1, -2) - phi) ** 2).sum(axis=(-2, -1))
    return 0.5 * grad + (0.5 * mu0sq * phi**2 + 0.25 * lam * phi**4).sum(axis=(-2, -1))


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_free_field_matches_the_exact_propagator(algorithm):
    """lambda = 0: <phi^2> = (T/N) sum_k 1/(m^2 + khat^2) and S/N = T/2 (equipartition), exactly."""
    L, T, m2, n = 6, 1.3, 0.5, 960
    r = Phi4(mu0sq=m2, lam=0.0).simulate_point(L, T, n, algorithm=algorithm, seed=6, key=(L, 0))
    R = _replicas(algorithm, n)
    p2, dp2 = binned_mean(r.observables["phi_squared"], R)
    e, de = binned_mean(r.observables["energy"], R)
    assert abs(p2 - free_field_phi_squared(L, m2, T)) < 4 * dp2
    assert abs(e - T / 2) < 4 * de


def test_the_three_updates_agree_in_the_double_well():
    L, T, n = 6, 2.0, 960
    means = {}
    for algorithm in ALGORITHMS:
        r = Phi4(mu0sq=-1.0, lam=1.0).simulate_point(L, T, n, algorithm=algorithm, seed=8, key=(L, 1))
        R = _replicas(algorithm, n)
        means[algorithm] = [binned_mean(r.observables[k], R) for k in ("energy", "phi_squared")]
        means[algorithm].append(binned_mean(np.abs(r.observables["magnetization"]), R))
        phi = r.configs[:, 0]
        np.testing.assert_allclose(r.observables["energy"], _numpy_action(phi, -1.0, 1.0) / L**2, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(r.observables["magnetization"], phi.astype(np.float64).mean(axis=(1, 2)), atol=1e-6)
    for other in ("hmc", "wolff"):
        for (a, da), (b, db) in zip(means["metropolis"], means[other], strict=True):
            assert abs(a - b) < 4 * np.hypot(da, db)


def test_hmc_energy_violation_is_second_order_in_the_step():
    """Leapfrog: dH over a trajectory of fixed length scales as step^2 (halving it: / 4)."""
    L, T = 8, 1.5
    nbr, _ = square_tables(L)
    start = np.random.default_rng(0).normal(0.8, 0.5, size=L * L)
    violations = []
    for n_steps in (8, 16, 32):
        dhs = []
        for trial in range(20):
            rng = seeded_states(1, 1, trial)  # the same momenta for every step size
            phi = start.copy()
            scratch = np.empty((3, L * L))
            _, dh = hmc_trajectory(phi, scratch[0], scratch[1], scratch[2], rng, 0, nbr, -1.0, 1.0, 1.0 / T, n_steps)
            dhs.append(abs(dh))
        violations.append(np.mean(dhs))
    ratios = [violations[0] / violations[1], violations[1] / violations[2]]
    assert all(3.0 < q < 5.3 for q in ratios), (violations, ratios)


def test_hmc_acceptance_is_the_expected_rate():
    """<exp(-dH)> = 1 exactly (area preservation and reversibility), and for Gaussian dH the
    acceptance is erfc(sqrt(<dH>) / 2)."""
    L, T = 8, 1.5
    model = Phi4(mu0sq=-1.0, lam=1.0, hmc_steps=4)
    sweeper, R = model.sweeper("hmc", 16)
    state = sweeper.init(L, T, R, 3, (L, 0))
    sweeper.sweep(state, 50)
    state["hmc_sums"][:] = 0
    acceptance = sweeper.sweep(state, 400)
    n = 400 * R
    mean_boltzmann = state["hmc_sums"][:, 0].sum() / n
    mean_dh = state["hmc_sums"][:, 1].sum() / n
    assert 0.3 < acceptance < 0.95 and mean_dh > 0
    assert abs(mean_boltzmann - 1.0) < 0.05
    assert abs(acceptance - erfc(math.sqrt(mean_dh) / 2)) < 0.05


def test_records_errors_and_cli_file(run_cli, tmp_path):
    model = Phi4()
    assert model.critical_temperature() is None and model.label(1.0) == -1
    assert model.resolve_algorithm("auto", 1.0) == "wolff"
    with pytest.raises(FieldnetError, match="lambda > 0"):
        Phi4(lam=-1.0)
    run_cli("simulate", "--model", "phi4", "--param", "mu0sq=-1", "--param", "lam=0.5", "--L", "4", "--T", "1,3",
            "--samples", "8", "--algorithm", "hmc", "-o", "f.h5", "-q", check=True)
    ds = xr.open_dataset(tmp_path / "f.h5", engine="h5netcdf", group="L4")
    assert ds["config"].dtype == np.float32 and ds["config"].shape[-3:] == (1, 4, 4)
    assert "phi_squared" in ds.data_vars and ds.attrs["lam"] == 0.5
