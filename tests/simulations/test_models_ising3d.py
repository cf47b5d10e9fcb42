"""3D Ising model (simple cubic torus): exact enumeration of 2^3, observables, CLI and 3D files."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from fieldnet.simulations.exact import cubic_ising_energy
from fieldnet.simulations.ising3d import Ising3D, cubic_tables
from fieldnet.simulations.multispin3d import MultispinCubicMetropolis, acceptance_classes_cubic

from fieldnet.errors import FieldnetError
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
    p = enumeration_pvalue(result, lambda c: cubic_ising_energy(c, J, h), (2, 2, 2), (-1, 1), T, Ising3D().sweeper(algorithm, n)[1])
    assert p > 1e-3


@pytest.mark.parametrize("L", [3, 4])
def test_observables_are_those_of_the_stored_configurations(L):
    for algorithm in ("metropolis", "wolff"):
        result = Ising3D(h=0.1).simulate_point(L, 4.6, 40, algorithm=algorithm, seed=3, key=(L, 1))
        spins = result.configs[:, 0]
        np.testing.assert_allclose(result.observables["energy"], cubic_ising_energy(spins, 1.0, 0.1) / L**3)
        np.testing.assert_allclose(result.observables["magnetization"], spins.mean(axis=(1, 2, 3)))


def test_metropolis_and_wolff_agree_near_tc():
    L, T = 4, 4.6  # multi-spin Metropolis (128 replicas) against Wolff (8)
    means = {}
    for algorithm in ("metropolis", "wolff"):
        r = Ising3D().simulate_point(L, T, 800, algorithm=algorithm, seed=9, key=(L, 3))
        R = Ising3D().sweeper(algorithm, 800)[1]
        means[algorithm] = [binned_mean(r.observables["energy"], R), binned_mean(np.abs(r.observables["magnetization"]), R)]
    for (a, da), (b, db) in zip(means["metropolis"], means["wolff"], strict=True):
        assert abs(a - b) < 4 * np.hypot(da, db)


def test_multispin_classes_cover_exactly_the_uphill_moves():
    class_a, class_s, bits = acceptance_classes_cubic(4.0, 1.0, 0.0)
    assert class_a.tolist() == [4, 5, 6] and set(class_s.tolist()) == {2}  # dE = 4, 8, 12
    thresholds = [sum(1 << (31 - j) for j in range(32) if bits[j, k]) for k in range(3)]
    np.testing.assert_allclose(np.array(thresholds) / 2.0**32, np.exp(-np.array([4, 8, 12]) / 4.0), atol=1e-9)
    class_a, class_s, _ = acceptance_classes_cubic(4.0, 1.0, 0.5)
    assert (3, 1) in set(zip(class_a.tolist(), class_s.tolist(), strict=True))  # up spin, a = 3: dE = 2h > 0


def test_multispin_measure_and_configs_agree_and_zero_temperature_goes_downhill():
    sweeper = MultispinCubicMetropolis(1.0, 0.0)
    state = sweeper.init(4, 4.0, 128, seed=1, key=(0,))
    sweeper.sweep(state, 5)
    obs = sweeper.measure(state)
    spins = sweeper.configs(state)[:, 0]
    np.testing.assert_allclose(obs["energy"], cubic_ising_energy(spins) / 64)
    np.testing.assert_allclose(obs["magnetization"], spins.mean(axis=(1, 2, 3)))
    cold = sweeper.init(4, 0.05, 64, seed=2, key=(0,))
    cold["spins"] = np.random.default_rng(0).integers(0, 2**63, size=cold["spins"].shape, dtype=np.uint64)
    before = sweeper.measure(cold)["energy"]
    sweeper.sweep(cold, 2)
    assert np.all(sweeper.measure(cold)["energy"] <= before + 1e-12) and np.any(sweeper.measure(cold)["energy"] < before)


def test_both_signs_of_m_appear_below_tc():
    """h = 0: Metropolis applies the spin-flip symmetry as an exact global move."""
    m = Ising3D().simulate_point(4, 3.5, 256, algorithm="metropolis", seed=5, key=(4, 0)).observables["magnetization"]
    assert (m > 0.5).sum() > 60 and (m < -0.5).sum() > 60


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
    assert model.resolve_algorithm("auto", 4.0) == "metropolis"  # 0.89 Tc: multi-spin Metropolis is faster there
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
