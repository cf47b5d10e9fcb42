"""Several sets of network outputs of the same configurations (the training-range placements of a
study) are measured together, sharing each size's reweighting and each bootstrap draw: every
result must be exactly what measuring that set alone gives."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from fieldnet.analysis.curves import common_grid
from fieldnet.analysis.observables import SizeSamples
from fieldnet.analysis.tc import _with_errors, measure_placements, point_estimates

from fieldnet.engine.blas import single_threaded_blas

TEMPERATURES = np.linspace(2.0, 2.6, 7)
PER_T = 24


def synthetic_sizes(rng: np.random.Generator, boundary: float) -> list[SizeSamples]:
    """Sizes 8 and 16 with energies, magnetisations, chains and outputs that switch near ``boundary``."""
    sizes = []
    for L in (8, 16):
        N = L * L
        T = np.repeat(TEMPERATURES, PER_T)
        energy = -N * (2.2 - 0.9 * (T - 2.0)) + rng.normal(0.0, np.sqrt(N), T.size)
        m = np.clip(1.0 / (1.0 + np.exp((T - 2.27) * L)) + rng.normal(0.0, 0.05, T.size), -1, 1)
        chain = np.repeat(np.arange(T.size // 4), 4)
        out = np.stack([1.0 / (1.0 + np.exp((T - boundary - 0.01 * k) * L / 2 + rng.normal(0, 0.3, T.size)))
                        for k in range(2)])
        blocked = np.clip(out + rng.normal(0.0, 0.02, out.shape), 0, 1)
        sizes.append(SizeSamples(L, N, T, energy, out, blocked, 2, m, chain))
    return sizes


def with_outputs(sizes: list[SizeSamples], rng: np.random.Generator) -> list[SizeSamples]:
    """The same configurations with other networks' outputs."""
    return [replace(s, output=np.clip(s.output + rng.normal(0, 0.05, s.output.shape), 0, 1),
                    blocked_output=np.clip(s.blocked_output + rng.normal(0, 0.05, s.output.shape), 0, 1)) for s in sizes]


def measure_alone(samples: list[SizeSamples], n_bootstrap: int, seed: int):
    """The measurement of one set, written out plainly: every replica resampled and reweighted
    from scratch (warm-started), every network's curves reweighted again."""
    grid = common_grid(samples)
    with single_threaded_blas():
        full, curves, starts = point_estimates(samples, grid)
        rng = np.random.default_rng(seed)
        replicas = [point_estimates([s.resampled(rng) for s in samples], grid, starts)[0] for _ in range(n_bootstrap)]
        networks = [point_estimates([s.network(k) for s in samples], grid, starts)[0] for k in range(samples[0].n_networks)]
    return {m: _with_errors(m, est, replicas, networks) for m, est in full.items()}, curves


def assert_same(a, b) -> None:
    (ma, ca), (mb, cb) = a, b
    assert ma.keys() == mb.keys() and ca.keys() == cb.keys()
    for key in ma:
        for name in ("Tc", "nu", "Tc_err", "nu_err", "Tc_err_networks", "replicas"):
            assert np.array_equal(getattr(ma[key], name), getattr(mb[key], name), equal_nan=True), (key, name)
        assert np.array_equal(ma[key].T_L_err, mb[key].T_L_err, equal_nan=True)
        assert np.array_equal(ma[key].estimate.T_L, mb[key].estimate.T_L, equal_nan=True)
    for L in ca:
        assert np.array_equal(ca[L].p_mean, cb[L].p_mean) and np.array_equal(ca[L].blocked_mean, cb[L].blocked_mean)


def test_placements_measured_together_equal_each_measured_alone():
    rng = np.random.default_rng(3)
    first = synthetic_sizes(rng, 2.25)
    second = with_outputs(first, rng)
    together = measure_placements([first, second], n_bootstrap=4, seed=5)
    assert "rg_matching" in together[0][0] and "binder" in together[0][0]
    assert_same(together[0], measure_alone(first, 4, 5))
    assert_same(together[1], measure_alone(second, 4, 5))
    assert together[0][0]["rg_matching"].Tc != together[1][0]["rg_matching"].Tc  # the outputs do matter


def test_sets_of_other_configurations_are_measured_on_their_own():
    rng = np.random.default_rng(4)
    first = synthetic_sizes(rng, 2.25)
    other = synthetic_sizes(rng, 2.25)  # other energies: no shared reweighting
    together = measure_placements([first, other], n_bootstrap=4, seed=5)
    assert_same(together[1], measure_alone(other, 4, 5))
