"""2D Ising Monte Carlo against exact results: enumeration of tiny tori, Onsager and Yang."""

from __future__ import annotations

import numpy as np
import pytest
from fieldnet.simulations.exact import (
    boltzmann_probabilities,
    ising2d_energy,
    ising2d_energy_levels,
    kaufman_energy_per_site,
    kaufman_log_partition,
    onsager_energy_per_site,
    onsager_tc,
    yang_magnetization,
)
from fieldnet.simulations.ising2d import Ising2D, acceptance_classes

from tests.simulations.model_checks import energy_histogram_pvalue, every_other_round


def _replicas(algorithm, n_samples):
    return Ising2D().sweeper(algorithm, n_samples)[1]


CASES = [
    # (L, J, h, T, algorithm)
    (3, 1.0, 0.0, 2.0, "metropolis"),  # odd L: typewriter order
    (4, 1.0, 0.0, 2.5, "metropolis"),  # even L: checkerboard order
    (4, 1.0, 0.0, 1.6, "metropolis"),
    (3, 1.0, 0.3, 2.2, "metropolis"),  # field: acceptance depends on the spin
    (4, -1.0, 0.5, 2.0, "metropolis"),  # antiferromagnet in a field
    (3, 1.0, 0.0, 2.0, "wolff"),
    (4, 1.0, 0.0, 2.5, "wolff"),
    (4, 1.0, 0.0, 1.6, "wolff"),
    (4, -1.0, 0.0, 2.2, "wolff"),
    (3, 1.0, 0.3, 2.2, "wolff"),  # field: clusters flipped with their field-energy probability
    (4, -1.0, 0.5, 2.0, "wolff"),
]


@pytest.mark.parametrize("L, J, h, T, algorithm", CASES)
def test_energy_distribution_matches_exact_enumeration(L, J, h, T, algorithm):
    model = Ising2D(J=J, h=h)
    result = model.simulate_point(L, T, 6000, algorithm=algorithm, seed=11, key=(L, 0))
    assert result.algorithm == algorithm
    assert result.configs.shape == (6000, 1, L, L) and result.configs.dtype == np.int8
    energy = every_other_round(result.observables["energy"], _replicas(algorithm, 6000))
    levels, degeneracy = ising2d_energy_levels(L, J, h)
    assert energy_histogram_pvalue(np.asarray(energy, dtype=np.float64) * L * L, levels, degeneracy, T) > 1e-3


def test_observables_are_those_of_the_stored_configurations():
    for algorithm in ("metropolis", "wolff"):
        result = Ising2D().simulate_point(6, 2.3, 150, algorithm=algorithm, seed=3, key=(6, 1))
        spins = result.configs[:, 0]
        np.testing.assert_allclose(result.observables["energy"], ising2d_energy(spins) / 36)
        np.testing.assert_allclose(result.observables["magnetization"], spins.mean(axis=(1, 2)))


def test_both_signs_of_m_appear_below_tc():
    """h = 0 has the spin-flip symmetry; Metropolis applies it as an exact global move."""
    result = Ising2D().simulate_point(8, 1.5, 256, algorithm="metropolis", seed=5, key=(8, 0))
    m = result.observables["magnetization"]
    assert (m > 0.5).sum() > 60 and (m < -0.5).sum() > 60


def test_acceptance_classes_cover_exactly_the_uphill_moves():
    class_a, class_s, bits, exact = acceptance_classes(2.0, 1.0, 0.0)
    assert sorted(class_a.tolist()) == [3, 4] and set(class_s.tolist()) == {2}
    thresholds = [sum(1 << (31 - j) for j in range(32) if bits[j, k]) for k in range(2)]
    assert thresholds == exact.tolist()
    expected = [np.exp(-4 * (a - 2) / 2.0) for a in class_a]
    np.testing.assert_allclose(np.array(thresholds) / 2.0**32, expected, atol=1e-9)
    class_a, class_s, _, _ = acceptance_classes(2.0, 1.0, 0.5)
    assert (2, 1) in set(zip(class_a.tolist(), class_s.tolist(), strict=True))  # flipping an up spin against h > 0


def _binned_mean(x, algorithm):
    """Mean and error from blocks that are independent: each replica's samples, split into the
    first and second half of its run (samples of one replica are correlated across rounds, but
    replicas are independent chains)."""
    R = _replicas(algorithm, len(x))
    rounds = len(x) // R
    per_round = np.asarray(x, dtype=np.float64)[: rounds * R].reshape(rounds, R)
    half = rounds // 2
    blocks = np.concatenate([per_round[:half].mean(axis=0), per_round[half : 2 * half].mean(axis=0)])
    return blocks.mean(), blocks.std(ddof=1) / np.sqrt(len(blocks))


@pytest.mark.parametrize("T, algorithm", [(1.8, "metropolis"), (1.8, "wolff"), (3.2, "metropolis"), (3.2, "wolff")])
def test_energy_and_magnetization_match_onsager_and_yang(T, algorithm):
    L = 24
    result = Ising2D().simulate_point(L, T, 1000, algorithm=algorithm, seed=7, key=(L, 2))
    e, de = _binned_mean(result.observables["energy"], algorithm)
    assert abs(e - onsager_energy_per_site(T)) < 4 * de + 1e-3
    if T < onsager_tc():
        m, dm = _binned_mean(np.abs(result.observables["magnetization"]), algorithm)
        assert abs(m - yang_magnetization(T)) < 4 * dm + 1e-3


@pytest.mark.parametrize("algorithm", ["metropolis", "wolff"])
def test_energy_at_tc_matches_kaufman_finite_torus(algorithm):
    """At Tc finite-size effects are largest; Kaufman's solution is exact for this very lattice."""
    L, T = 16, onsager_tc()
    result = Ising2D().simulate_point(L, T, 2560, algorithm=algorithm, seed=13, key=(L, 4))
    e, de = _binned_mean(result.observables["energy"], algorithm)
    assert abs(e - kaufman_energy_per_site(L, T)) < 4 * de


def test_kaufman_matches_enumeration():
    for L in (3, 4):
        levels, g = ising2d_energy_levels(L)
        for T in (1.5, onsager_tc(), 3.0):
            p = boltzmann_probabilities(levels, g, T)
            assert kaufman_energy_per_site(L, T) == pytest.approx((p * levels).sum() / L**2, abs=1e-8)
            log_z = np.log(np.sum(g * np.exp(-(levels - levels.min()) / T))) - levels.min() / T
            assert kaufman_log_partition(L, L, T) == pytest.approx(log_z, rel=1e-12)


def test_metropolis_and_wolff_agree_near_tc():
    L, T = 12, 2.4
    stats = {}
    for algorithm in ("metropolis", "wolff"):
        r = Ising2D().simulate_point(L, T, 1500, algorithm=algorithm, seed=9, key=(L, 3))
        stats[algorithm] = [_binned_mean(r.observables["energy"], algorithm),
                            _binned_mean(np.abs(r.observables["magnetization"]), algorithm)]
    for (a, da), (b, db) in zip(stats["metropolis"], stats["wolff"], strict=True):
        assert abs(a - b) < 4 * np.hypot(da, db)


def test_same_seed_same_samples_and_other_key_other_samples():
    a = Ising2D().simulate_point(8, 2.2, 70, algorithm="metropolis", seed=1, key=(8, 0))
    b = Ising2D().simulate_point(8, 2.2, 70, algorithm="metropolis", seed=1, key=(8, 0))
    c = Ising2D().simulate_point(8, 2.2, 70, algorithm="metropolis", seed=1, key=(8, 1))
    np.testing.assert_array_equal(a.configs, b.configs)
    np.testing.assert_equal(a.stats, b.stats)  # NaN equals NaN here
    assert not np.array_equal(a.configs, c.configs)


def test_records_and_tc():
    model = Ising2D(J=2.0)
    assert model.critical_temperature() == pytest.approx(2 * 2.269185314, rel=1e-9)
    assert model.label(4.0) == 1 and model.label(5.0) == 0
    assert Ising2D(h=0.1).label(1.0) == -1
    assert model.resolve_algorithm("auto", 4.0) == "wolff"  # 0.88 Tc
    assert model.resolve_algorithm("auto", 6.0) == "metropolis"  # 1.32 Tc
    assert model.resolve_algorithm("auto", 3.0) == "metropolis"  # 0.66 Tc
    assert Ising2D(h=0.1).resolve_algorithm("auto", 1.0) == "metropolis"
    r = model.simulate_point(4, 6.0, 10, algorithm="auto", seed=0, key=(4, 0))
    assert set(r.stats) == set(model.point_stats) == {
        "tau_int_energy", "tau_int_abs_magnetization", "thinning", "burn_in", "acceptance",
        "lag1_autocorr_energy", "lag1_autocorr_abs_magnetization", "effective_samples", "replicas"}
    assert 0 < r.stats["acceptance"] < 1 and r.stats["thinning"] >= 1
    assert r.stats["replicas"] == model.sweeper("metropolis", 10)[1] == 128


def test_exact_helpers():
    levels, g = ising2d_energy_levels(4)
    assert g.sum() == 2**16 and levels[0] == -32 and g[0] == 2
    assert onsager_energy_per_site(onsager_tc()) == pytest.approx(-np.sqrt(2), rel=1e-6)
    assert yang_magnetization(3.0) == 0.0
    assert 0.9 < yang_magnetization(2.0) < 0.92
