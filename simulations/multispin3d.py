"""Multi-spin coded Metropolis for the Ising model on the simple cubic L x L x L torus.

The 3D counterpart of the square-lattice kernel in :mod:`fieldnet.simulations.ising2d`: 64 independent
replicas live in the 64 bits of one uint64 per site (bit b of ``spins[g, z, y, x]`` is replica
64 g + b; bit set = spin up), so one pass of bitwise logic updates a site in 64 replicas.  The
number of aligned neighbours a = 0..6 is added bit-sliced (two full adders and a carry); the flip
probability min(1, exp(-dE/T)), dE = 2J(2a - 6) + 2h s, depends on the class (s, a) only, and
each replica gets its own Bernoulli decision by comparing a uniform 32-bit number per lane with
the class threshold bit-serially, most significant bit first (about 7 random words a site
instead of 64).  Sites go in checkerboard order (x + y + z even, then odd) for even L, typewriter
order for odd L; each row (g, z, y) draws from its own xoshiro256** stream, and groups of 64
replicas run in parallel, so results do not depend on the thread count.  With h = 0 every round
applies a random global spin flip per replica (an exact symmetry move, kept as a lazy sign mask).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
from fieldnet.simulations.multispin import (
    MultispinMetropolisBase,
    classes_from_probabilities,
    counter_bits,
    flip_decisions,
    group_scratch,
    lane_observables,
    lane_totals,
    popcount,
    vertical_add,
)
from fieldnet.simulations.rng import next_u64
from numba import njit, prange, uint64

#: groups of 64 replicas per temperature point: two, so two cores each update a group
GROUPS = 2
NEIGHBOURS = 6
_ZERO = uint64(0)
_ONE = uint64(1)


def acceptance_classes_cubic(temperature: float, J: float, h: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The (s, a) classes that need a random decision and their bit-sliced thresholds.

    Returns:
        class_a: (K,) int64 aligned-neighbour counts a (0..6).
        class_s: (K,) int64 0 = down spins only, 1 = up only, 2 = both (p independent of s).
        threshold_bits: (32, max(K, 1)) uint64, all ones where bit (31 - j) of floor(p 2**32)
            is set (row j is compared at step j).
    """
    p = np.ones((NEIGHBOURS + 1, 2))
    for a in range(NEIGHBOURS + 1):
        for s in (0, 1):
            dE = 2.0 * J * (2 * a - NEIGHBOURS) + 2.0 * h * (2 * s - 1)
            if dE > 0:
                p[a, s] = math.exp(-dE / temperature)
    class_a, class_s, bits, _ = classes_from_probabilities(p)
    return class_a, class_s, bits


@njit(inline="always", cache=True)
def _aligned_bits6(w, n1, n2, n3, n4, n5, n6):
    """Bit slices (b0, b1, b2) of each lane's number a = x1 + ... + x6 of neighbours aligned with
    site word ``w``: two full adders, then the weight-2 carries."""
    x1 = ~(w ^ n1)
    x2 = ~(w ^ n2)
    x3 = ~(w ^ n3)
    x4 = ~(w ^ n4)
    x5 = ~(w ^ n5)
    x6 = ~(w ^ n6)
    s1 = x1 ^ x2 ^ x3
    c1 = (x1 & x2) | (x3 & (x1 ^ x2))
    s2 = x4 ^ x5 ^ x6
    c2 = (x4 & x5) | (x6 & (x4 ^ x5))
    b0 = s1 ^ s2
    k0 = s1 & s2
    b1 = c1 ^ c2 ^ k0
    b2 = (c1 & c2) | (k0 & (c1 ^ c2))
    return b0, b1, b2


@njit(inline="always", cache=True)
def _sweep_group(spins, g, rng, class_a, class_s, bits, cm):
    """One sweep of group g; row (z, y) draws from stream (g L + z) L + y.  Returns the flips."""
    L = spins.shape[1]
    count = 0
    step = 2 if L % 2 == 0 else 1
    for colour in range(step):
        for z in range(L):
            zu = z - 1 if z > 0 else L - 1
            zd = z + 1 if z < L - 1 else 0
            for y in range(L):
                stream = (g * L + z) * L + y
                yu = y - 1 if y > 0 else L - 1
                yd = y + 1 if y < L - 1 else 0
                start = (colour + y + z) & 1 if step == 2 else 0
                for x in range(start, L, step):
                    xl = x - 1 if x > 0 else L - 1
                    xr = x + 1 if x < L - 1 else 0
                    w = spins[g, z, y, x]
                    b0, b1, b2 = _aligned_bits6(w, spins[g, zu, y, x], spins[g, zd, y, x], spins[g, z, yu, x],
                                                spins[g, z, yd, x], spins[g, z, y, xl], spins[g, z, y, xr])
                    f = flip_decisions(w, b0, b1, b2, class_a, class_s, bits, cm, rng, stream)
                    spins[g, z, y, x] = w ^ f
                    count += popcount(f)
    return count


@njit(inline="always", cache=True)
def _count_group(spins, g, cu, cb, up, aligned):
    """Per-lane up spins and aligned forward bonds of group g into up[64], aligned[64]."""
    L = spins.shape[1]
    cu[:] = 0
    cb[:] = 0
    for z in range(L):
        zd = z + 1 if z < L - 1 else 0
        for y in range(L):
            yd = y + 1 if y < L - 1 else 0
            for x in range(L):
                xr = x + 1 if x < L - 1 else 0
                w = spins[g, z, y, x]
                vertical_add(cu, w)
                vertical_add(cb, ~(w ^ spins[g, z, y, xr]))
                vertical_add(cb, ~(w ^ spins[g, z, yd, x]))
                vertical_add(cb, ~(w ^ spins[g, zd, y, x]))
    lane_totals(cu, cb, up, aligned)


@njit(parallel=True, cache=True)
def multispin3d_run(spins, sign, rng, class_a, class_s, bits, J, h, symmetric, sweeps_per_round,
                    energy, magnetization, configs, flips):  # pragma: no cover - compiled
    """Rounds of ``sweeps_per_round`` sweeps, each followed by the random global flip
    (``symmetric``; not in a round without sweeps, a bare measurement), a measurement and, when
    ``configs`` has rounds, a copy; groups in parallel.

    Args:
        spins: (G, L, L, L) uint64, bit b of group g = replica 64 g + b (1 = up).
        sign: (G,) uint64 lanes whose stored spins are inverted (the lazy global flip).
        rng: (G L L, 4) uint64 streams, one per (group, z, y) row.
        class_a, class_s, bits: from :func:`acceptance_classes_cubic`.
        J, h: couplings; symmetric: apply the global flip (h = 0).
        sweeps_per_round: sweeps between measurements.
        energy, magnetization: (n_rounds, 64 G) float64 per site, overwritten.
        configs: (n_rounds, 64 G, L^3) int8 +-1, or (0, 64 G, L^3) for none.
        flips: (G,) int64, incremented by the accepted flips.
    """
    G, L = spins.shape[0], spins.shape[1]
    N = L * L * L
    K = class_a.shape[0]
    n_rounds = energy.shape[0]
    store = configs.shape[0] > 0
    n_bits = counter_bits(3 * N)
    for g in prange(G):
        cm, cu, cb, up, aligned = group_scratch(K, n_bits)
        count = 0
        for k in range(n_rounds):
            for _ in range(sweeps_per_round):
                count += _sweep_group(spins, g, rng, class_a, class_s, bits, cm)
            if symmetric and sweeps_per_round > 0:
                sign[g] ^= next_u64(rng, g * L * L)
            _count_group(spins, g, cu, cb, up, aligned)
            lane_observables(up, aligned, sign[g], N, 3.0, J, h, energy, magnetization, k, 64 * g)
            if store:
                i = 0
                for z in range(L):
                    for y in range(L):
                        for x in range(L):
                            w = spins[g, z, y, x] ^ sign[g]
                            for b in range(64):
                                configs[k, 64 * g + b, i] = np.int8(2 * int((w >> uint64(b)) & _ONE) - 1)
                            i += 1
        flips[g] += count


class MultispinCubicMetropolis(MultispinMetropolisBase):
    """Sweeper (see :mod:`fieldnet.simulations.sampling`) for multi-spin coded Metropolis on the cubic
    torus (:class:`fieldnet.simulations.multispin.MultispinMetropolisBase`); the replica count must
    be a multiple of 64."""

    absolute_series: ClassVar[tuple[str, ...]] = ("magnetization",)
    ndim: ClassVar[int] = 3

    def _classes(self, temperature: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return acceptance_classes_cubic(temperature, self.J, self.h)

    def _copy_shape(self, L: int) -> tuple[int, ...]:
        return (L**3,)

    def _kernel(self, *args: Any) -> None:
        multispin3d_run(*args)

    def _stored(self, state: dict[str, Any], configs: np.ndarray) -> np.ndarray:
        """(n_rounds, R, L^3) -> (n_rounds, R, 1, L, L, L) int8."""
        L = state["spins"].shape[1]
        return configs.reshape(configs.shape[0], -1, 1, L, L, L)
