"""Every model gives bit-identical samples at 1 and 2 numba threads (per-replica random streams)."""

from __future__ import annotations

import numba
import numpy as np
import pytest
from fieldnet.simulations.registry import get_model

CASES = [
    ("ising3d", {}, 4, 4.3, "metropolis"),
    ("ising3d", {}, 4, 4.3, "wolff"),
    ("ising2d", {"lattice": "triangular"}, 6, 3.5, "metropolis"),
    ("ising2d", {"lattice": "triangular"}, 6, 3.5, "wolff"),
    ("potts", {"q": 3}, 5, 1.0, "heatbath"),
    ("potts", {"q": 3}, 5, 1.0, "wolff"),
    ("xy", {}, 6, 0.9, "metropolis"),
    ("xy", {}, 6, 0.9, "wolff"),
    ("phi4", {}, 6, 2.0, "metropolis"),
    ("phi4", {}, 6, 2.0, "hmc"),
    ("phi4", {}, 6, 2.0, "wolff"),
]


@pytest.mark.parametrize("name, params, L, T, algorithm", CASES)
def test_same_samples_at_one_and_two_threads(name, params, L, T, algorithm):
    model = get_model(name, **params)
    threads = numba.get_num_threads()
    results = []
    try:
        for n in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(n)
            results.append(model.simulate_point(L, T, 40, algorithm=algorithm, seed=7, key=(L, 3)))
    finally:
        numba.set_num_threads(threads)
    a, b = results
    np.testing.assert_array_equal(a.configs, b.configs)
    for key in a.observables:
        np.testing.assert_array_equal(a.observables[key], b.observables[key])
    assert a.stats == b.stats or all(
        (x == y) or (np.isnan(x) and np.isnan(y)) for x, y in zip(a.stats.values(), b.stats.values(), strict=True)
    )
    other = model.simulate_point(L, T, 40, algorithm=algorithm, seed=8, key=(L, 3))
    assert not np.array_equal(a.configs, other.configs)
