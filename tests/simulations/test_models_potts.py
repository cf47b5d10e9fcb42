"""q-state Potts model: exact enumeration of the 3x3 torus at q = 3, the q = 2 <-> Ising mapping."""

from __future__ import annotations

import math

import numpy as np
import pytest
import xarray as xr
from fieldnet.simulations.campaign import INTERRUPT_ENV
from fieldnet.simulations.exact import kaufman_energy_per_site, potts_energy
from fieldnet.simulations.potts import Potts
from fieldnet.simulations.registry import get_model

from fieldnet.errors import FieldnetError
from tests.simulations.model_checks import binned_mean, enumeration_pvalue


def _replicas(algorithm, n):
    return Potts().sweeper(algorithm, n)[1]


@pytest.mark.parametrize("T, algorithm", [(0.9, "heatbath"), (2.0, "heatbath"), (0.9, "wolff"), (1.3, "wolff")])
def test_q3_energy_distribution_on_3x3_matches_exact_enumeration(T, algorithm):
    n = 4000
    result = Potts(q=3).simulate_point(3, T, n, algorithm=algorithm, seed=23, key=(3, 0))
    assert result.configs.shape == (n, 1, 3, 3) and result.configs.dtype == np.int8
    assert result.configs.min() >= 0 and result.configs.max() <= 2
    p = enumeration_pvalue(result, potts_energy, (3, 3), (0, 1, 2), T, _replicas(algorithm, n))
    assert p > 1e-3


def test_antiferromagnet_heatbath_matches_exact_enumeration():
    n, T = 4000, 0.8
    result = Potts(q=3, J=-1.0).simulate_point(3, T, n, algorithm="heatbath", seed=4, key=(3, 1))
    assert enumeration_pvalue(result, lambda c: potts_energy(c, -1.0), (3, 3), (0, 1, 2), T, _replicas("heatbath", n)) > 1e-3


@pytest.mark.parametrize("algorithm", ["heatbath", "wolff"])
def test_q2_is_the_ising_model_at_twice_the_temperature(algorithm):
    """delta(s, s') = (1 + sigma sigma') / 2, so with J = 1 and two bonds per site,
    E_potts / N = (E_ising / N at T_I = 2 T - 2) / 2; Kaufman gives E_ising of this very torus."""
    L, T = 8, 1.15  # just above Tc(q=2) = 1 / ln(1 + sqrt 2) = 1.1346
    result = Potts(q=2).simulate_point(L, T, 1600, algorithm=algorithm, seed=8, key=(L, 0))
    e, de = binned_mean(result.observables["energy"], _replicas(algorithm, 1600))
    expected = (kaufman_energy_per_site(L, 2 * T) - 2.0) / 2.0
    assert abs(e - expected) < 4 * de
    assert Potts(q=2).critical_temperature() == pytest.approx(2.269185314 / 2, rel=1e-9)


def test_onehot_channels_observables_and_records():
    L = 5
    model = get_model("potts", q="4", onehot="true")
    assert model.channel_names == ("state_0", "state_1", "state_2", "state_3")
    r = model.simulate_point(L, 0.8, 30, algorithm="wolff", seed=1, key=(L, 0))
    assert r.configs.shape == (30, 4, L, L) and r.configs.dtype == np.int8
    assert np.all(r.configs.sum(axis=1) == 1)
    states = r.configs.argmax(axis=1)
    np.testing.assert_allclose(r.observables["energy"], potts_energy(states) / L**2)
    rho_max = np.max([(states == k).mean(axis=(1, 2)) for k in range(4)], axis=0)
    np.testing.assert_allclose(r.observables["magnetization"], (4 * rho_max - 1) / 3)
    assert model.critical_temperature() == pytest.approx(1 / math.log(3.0))
    assert Potts(q=3).critical_temperature() == pytest.approx(0.994973, abs=1e-6)
    assert model.label(0.5) == 1 and model.label(1.0) == 0
    assert model.resolve_algorithm("auto", 0.9) == "wolff" and model.resolve_algorithm("auto", 0.3) == "heatbath"
    with pytest.raises(FieldnetError, match="between 2"):
        Potts(q=1)
    with pytest.raises(FieldnetError, match="J > 0"):
        Potts(J=-1.0).resolve_algorithm("wolff", 1.0)


def test_cli_potts_onehot(run_cli, tmp_path):
    run_cli("simulate", "--model", "potts", "--param", "q=3", "--param", "onehot=true", "--L", "4", "--T", "0.7,1.0,1.5",
            "--samples", "8", "-o", "p.h5", "-q", check=True)
    ds = xr.open_dataset(tmp_path / "p.h5", engine="h5netcdf", group="L4")
    assert ds["config"].shape[-3:] == (3, 4, 4) and ds.attrs["q"] == 3
    assert "heat-bath" in ds.attrs["sweep_unit"]  # the model's own sweep unit, not the Ising default


def test_interrupted_multichannel_run_resumes_to_the_identical_file(run_cli, tmp_path):
    """q one-hot channels through the crash-safe writer: Ctrl-C after 2 points, then --resume."""
    args = ["simulate", "--model", "potts", "--param", "q=3", "--param", "onehot=1", "--L", "4", "--T", "0.8,1.0,1.2",
            "--samples", "6", "--seed", "3", "-q"]
    run_cli(*args, "-o", "whole.h5", check=True)
    cut = run_cli(*args, "-o", "cut.h5", env={INTERRUPT_ENV: "2"})
    assert cut.returncode == 130 and (tmp_path / "cut.h5.partial").exists()
    run_cli(*args, "-o", "cut.h5", "--resume", check=True)
    a, b = (xr.open_dataset(tmp_path / name, engine="h5netcdf", group="L4") for name in ("whole.h5", "cut.h5"))
    for name in ("config", "energy", "magnetization"):
        np.testing.assert_array_equal(a[name].values, b[name].values)
