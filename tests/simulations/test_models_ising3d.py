"""3D Ising model (simple cubic torus): exact enumeration of 2^3, observables, CLI and 3D files."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from fieldnet.errors import FieldnetError
from simulations.exact import cubic_ising_energy
from simulations.graph_ising import replicas_for
from simulations.ising3d import Ising3D, cubic_tables
from tests.simulations.model_checks import binned_mean, enumeration_pvalue

CASES = [
    # (J, h, T, algorithm)
    (1.0, 0.0, 4.5, "metropolis"),
    (1.0, 0.0, 8.0, "metropolis"),
    (1.0, 0.4, 6.0, "metropolis"),  # the field makes the acceptance depend on the spin
    (-1.0, 0.0, 6.0, "metropolis"),
    (1.0, 0.0, 4.5, "wolff"),
    (1.0, 0.0, 8.0, "wolff"),
    (1.0, 0.4, 6.0, "wolff"),  # clusters kept with their field-energy probability
]


@pytest.mark.parametrize("J, h, T, algorithm", CASES)
def test_energy_distribution_on_2cubed_matches_exact_enumeration(J, h, T, algorithm):
    """All 256 states of the 2x2x2 torus (where +mu and -mu reach the same site, so each pair
    of neighbours is coupled twice, in the simulator as in ``cubic_ising_energy``)."""
    n = 4000
    result = Ising3D(J=J, h=h).simulate_point(2, T, n, algorithm=algorithm, seed=21, key=(2, 0))
    assert result.configs.shape == (n, 1, 2, 2, 2) and result.configs.dtype == np.int8
    p = enumeration_pvalue(result, lambda c: cubic_ising_energy(c, J, h), (2, 2, 2), (-1, 1), T, replicas_for(algorithm, n))
    assert p > 1e-3


@pytest.mark.parametrize("L", [3, 4])
def test_observables_are_those_of_the_stored_configurations(L):
    for algorithm in ("metropolis", "wolff"):
        result = Ising3D(h=0.1).simulate_point(L, 4.6, 40, algorithm=algorithm, seed=3, key=(L, 1))
        spins = result.configs[:, 0]
        np.testing.assert_allclose(result.observables["energy"], cubic_ising_energy(spins, 1.0, 0.1) / L**3)
        np.testing.assert_allclose(result.observables["magnetization"], spins.mean(axis=(1, 2, 3)))


def test_metropolis_and_wolff_agree_near_tc():
    L, T = 4, 4.6
    means = {}
    for algorithm in ("metropolis", "wolff"):
        r = Ising3D().simulate_point(L, T, 800, algorithm=algorithm, seed=9, key=(L, 3))
        R = replicas_for(algorithm, 800)
        means[algorithm] = [binned_mean(r.observables["energy"], R), binned_mean(np.abs(r.observables["magnetization"]), R)]
    for (a, da), (b, db) in zip(means["metropolis"], means["wolff"], strict=True):
        assert abs(a - b) < 4 * np.hypot(da, db)


def test_tables_checkerboard_and_labels():
    nbr, order, parity = cubic_tables(4)
    assert nbr.shape == (64, 6) and sorted(order.tolist()) == list(range(64))
    # the first half of the order is one colour: no two of its sites are neighbours
    first = set(order[:32].tolist())
    assert not any(int(j) in first for i in first for j in nbr[i])
    assert np.all(parity[nbr] == -parity[:, None])
    model = Ising3D()
    # 1 / K_c = 4.5115233; the often quoted 4.511528 is 1 / 0.2216544 (Talapov and Bloete 1996)
    assert model.critical_temperature() == pytest.approx(1 / 0.221654626, rel=1e-12) == pytest.approx(4.511528, abs=1e-5)
    assert model.label(4.0) == 1 and model.label(5.0) == 0 and Ising3D(h=0.1).label(1.0) == -1
    assert model.resolve_algorithm("auto", 4.5) == "wolff" and model.resolve_algorithm("auto", 8.0) == "metropolis"
    assert model.attrs()["lattice"] == "simple cubic"
    with pytest.raises(FieldnetError, match="J > 0"):
        Ising3D(J=-1.0).resolve_algorithm("wolff", 4.0)


def test_cli_writes_3d_file_identical_at_one_and_two_threads(run_cli, tmp_path):
    args = ["simulate", "--model", "ising3d", "--L", "4", "6", "--T", "3.5,4.5,6", "--samples", "12", "--seed", "2", "-q"]
    run_cli(*args, "-o", "a.h5", env={"NUMBA_NUM_THREADS": "1"}, check=True)
    run_cli(*args, "-o", "b.h5", env={"NUMBA_NUM_THREADS": "2"}, check=True)

    for L in (4, 6):
        a, b = (xr.open_dataset(tmp_path / name, engine="h5netcdf", group=f"L{L}") for name in ("a.h5", "b.h5"))
        assert a["config"].dims[-3:] == ("z", "y", "x") and a["config"].shape[-4:] == (1, L, L, L)
        assert a["config"].dtype == np.int8
        np.testing.assert_array_equal(a["config"].values, b["config"].values)
        np.testing.assert_array_equal(a["energy"].values, b["energy"].values)
        assert a.attrs["model"] == "ising3d"
