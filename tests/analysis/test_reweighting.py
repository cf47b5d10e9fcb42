"""Histogram reweighting against exact enumeration of the 4x4 Ising torus.

Samples are drawn from the exact Boltzmann distribution of the energy at a few temperatures;
reweighted averages at other temperatures must match the exact ones within their statistical
errors, and the multiple-histogram free energies must match the exact ln Z ratios.
"""

from __future__ import annotations

import numpy as np
import pytest
from fieldnet.analysis.reweighting import (
    effective_sizes,
    multi_histogram,
    reweight,
    solve_free_energies,
)
from fieldnet.simulations.exact import ising2d_energy_levels

from fieldnet.errors import FieldnetError

LEVELS, DEGENERACY = ising2d_energy_levels(4)


def exact_average(f, T: float) -> float:
    w = DEGENERACY * np.exp(-(LEVELS - LEVELS.min()) / T)
    return float(np.sum(f(LEVELS) * w) / np.sum(w))


def exact_log_z(T: float) -> float:
    return float(np.log(np.sum(DEGENERACY * np.exp(-LEVELS / T))))


def draw(temperatures, n: int, seed: int):
    rng = np.random.default_rng(seed)
    T, E = [], []
    for t in temperatures:
        p = DEGENERACY * np.exp(-(LEVELS - LEVELS.min()) / t)
        E.append(rng.choice(LEVELS, size=n, p=p / p.sum()))
        T.append(np.full(n, t))
    return np.concatenate(T), np.concatenate(E).astype(np.float64)


def test_multi_histogram_free_energies_are_the_exact_log_partition_ratios():
    temps = [1.8, 2.2, 2.6, 3.0]
    T, E = draw(temps, 4000, seed=1)
    ens = multi_histogram(T, E)
    # betas ascend (T descends): f_k = -ln Z_k + const
    exact = np.array([-exact_log_z(t) for t in sorted(temps, reverse=True)])
    assert np.allclose(ens.log_f - ens.log_f[0], exact - exact[0], atol=0.05)


@pytest.mark.parametrize("target", [1.9, 2.27, 2.45, 2.9])
def test_reweighted_energy_and_its_square_match_exact_enumeration(target):
    temps = [1.8, 2.2, 2.6, 3.0]
    estimates = []
    for seed in range(8):  # the spread of independent data sets is the statistical error
        T, E = draw(temps, 1500, seed=10 + seed)
        ens = multi_histogram(T, E)
        estimates.append(reweight(ens, np.stack([E, E * E], axis=1), [target])[0])
    estimates = np.array(estimates)
    mean, err = estimates.mean(axis=0), estimates.std(axis=0, ddof=1) / np.sqrt(len(estimates))
    exact = np.array([exact_average(lambda e: e, target), exact_average(lambda e: e * e, target)])
    assert np.all(np.abs(mean - exact) < 4 * err + 1e-9), (mean, exact, err)


def test_single_temperature_is_single_histogram_reweighting():
    T, E = draw([2.3], 20000, seed=3)
    ens = multi_histogram(T, E)
    target = 2.4
    w = np.exp(-(1 / target - 1 / 2.3) * (E - E.mean()))
    assert reweight(ens, E, [target])[0] == pytest.approx(np.sum(w * E) / np.sum(w), rel=1e-12)
    assert exact_average(lambda e: e, target) == pytest.approx(reweight(ens, E, [target])[0], rel=0.02)


def test_newton_solution_does_not_depend_on_the_starting_point():
    T, E = draw([1.8, 2.4, 3.0], 2000, seed=4)
    ens = multi_histogram(T, E)
    minus_beta_E = -np.outer(E, ens.betas)
    from_zero = solve_free_energies(minus_beta_E, np.log(ens.n_eff), np.zeros(3))
    assert np.allclose(from_zero, ens.log_f - ens.log_f[0], atol=1e-8)


def test_effective_sizes_shrink_far_from_the_data():
    T, E = draw([2.0, 2.2], 2000, seed=5)
    ens = multi_histogram(T, E)
    near, far = effective_sizes(ens, [2.1, 4.0])
    assert near > 1000 and far < near / 10


def test_bad_input_is_a_one_line_error():
    with pytest.raises(FieldnetError, match="one temperature and one energy per sample"):
        multi_histogram(np.ones(3), np.ones(4))
    with pytest.raises(FieldnetError, match="positive finite temperatures"):
        multi_histogram(np.array([1.0, -1.0]), np.array([0.0, 1.0]))
