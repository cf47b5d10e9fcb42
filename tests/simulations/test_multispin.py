"""The multi-spin coding shared by the 2D and 3D Ising Metropolis kernels (fieldnet.simulations.multispin)."""

from __future__ import annotations

import numpy as np
from fieldnet.simulations.ising2d import _aligned_bits
from fieldnet.simulations.multispin import (
    LANES,
    classes_from_probabilities,
    flip_decisions,
    ordered_start,
)
from fieldnet.simulations.multispin3d import _aligned_bits6
from fieldnet.simulations.rng import seeded_states
from numba import njit


@njit(cache=False)
def _counts(w, nbrs):
    if nbrs.shape[0] == 4:
        return _aligned_bits(w, nbrs[0], nbrs[1], nbrs[2], nbrs[3])
    return _aligned_bits6(w, nbrs[0], nbrs[1], nbrs[2], nbrs[3], nbrs[4], nbrs[5])


@njit(cache=False)
def _flips(w, b0, b1, b2, class_a, class_s, bits, rng, n):
    cm = np.empty(max(class_a.shape[0], 1), dtype=np.uint64)
    out = np.empty(n, dtype=np.uint64)
    for i in range(n):
        out[i] = flip_decisions(w, b0, b1, b2, class_a, class_s, bits, cm, rng, 0)
    return out


def _lanes(word) -> np.ndarray:
    return ((np.uint64(word) >> np.arange(LANES, dtype=np.uint64)) & np.uint64(1)).astype(np.int64)


def test_adders_count_the_aligned_neighbours_of_every_lane():
    gen = np.random.default_rng(1)
    for z in (4, 6):
        for _ in range(20):
            w, *nbrs = gen.integers(0, 2**64, size=z + 1, dtype=np.uint64)
            b0, b1, b2 = _counts(w, np.array(nbrs, dtype=np.uint64))
            a = _lanes(b0) + 2 * _lanes(b1) + 4 * _lanes(b2)
            expected = sum(1 - (_lanes(w) ^ _lanes(n)) for n in nbrs)
            np.testing.assert_array_equal(a, expected)


def test_flip_decisions_follow_the_class_probabilities():
    # z = 4; a = 0..4 aligned neighbours; spins up and down alike
    p = np.ones((5, 2))
    p[3] = 0.0  # never flips
    p[4] = 0.25
    class_a, class_s, bits, thresholds = classes_from_probabilities(p)
    assert class_a.tolist() == [3, 4] and class_s.tolist() == [2, 2]
    assert thresholds.tolist() == [0, 2**30]
    # lanes 0-15 have a = 4, 16-31 a = 3, the others a = 1 (p = 1: always flip)
    b2 = np.uint64(0xFFFF)
    b0 = np.uint64(0xFFFF0000) | np.uint64(0xFFFFFFFF00000000)
    b1 = np.uint64(0xFFFF0000)
    flips = _flips(np.uint64(0), b0, b1, b2, class_a, class_s, bits, seeded_states(0, 1, 0), 4000)
    rate = np.mean([_lanes(f) for f in flips], axis=0)
    assert np.all(rate[32:] == 1.0) and np.all(rate[16:32] == 0.0)
    assert abs(rate[:16].mean() - 0.25) < 0.02


def test_ordered_start_is_along_the_field_and_staggered_for_an_antiferromagnet():
    up = ordered_start(128, 4, 3, 1.0, 0.0)
    assert up.shape == (2, 4, 4, 4) and np.all(up == np.uint64(2**64 - 1))
    assert np.all(ordered_start(64, 4, 2, 1.0, -0.5) == 0)
    staggered = ordered_start(64, 4, 2, -1.0, 0.0)[0]
    assert staggered[0, 0] != staggered[0, 1] and staggered[0, 0] == staggered[1, 1]
