"""Multi-spin coding shared by the square (:mod:`fieldnet.simulations.ising2d`) and simple cubic
(:mod:`fieldnet.simulations.multispin3d`) Ising Metropolis kernels.

64 independent replicas live in the 64 bits (lanes) of one uint64 per site (bit set = spin up).
A site's class (s, a), its spin s and its number a of aligned neighbours (bit-sliced into three
words b0, b1, b2 by the lattice's adder), fixes its flip probability p = min(1, exp(-dE / T)).
Each lane gets its own Bernoulli decision: a uniform 32-bit number per lane is compared
bit-serially with the class threshold floor(p 2**32), most significant bit first, one random
word per bit position, stopping as soon as every lane that needs a decision is decided (about 7
words a site instead of 64).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from fieldnet.simulations.rng import next_u64, seeded_states
from fieldnet.simulations.rounds import RoundsSweeper
from numba import njit, uint64

#: replicas (bits) per multi-spin word
LANES = 64
ALL_LANES = 0xFFFFFFFFFFFFFFFF
_ZERO = uint64(0)
_ONE = uint64(1)
_M1 = uint64(0x5555555555555555)
_M2 = uint64(0x3333333333333333)
_M4 = uint64(0x0F0F0F0F0F0F0F0F)
_H01 = uint64(0x0101010101010101)


def classes_from_probabilities(p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The classes (s, a) that need a random decision and their bit-sliced thresholds.

    Args:
        p: (z + 1, 2) float flip probabilities min(1, exp(-dE / T)), p[a, s] for a site with
            a aligned neighbours and spin s (0 down, 1 up).

    Returns:
        class_a: (K,) int64 aligned-neighbour count of each random class.
        class_s: (K,) int64 0 = down spins only, 1 = up only, 2 = both (p independent of s).
        threshold_bits: (32, max(K, 1)) uint64, all ones where bit (31 - j) of floor(p * 2**32)
            is set: row j is compared at step j (most significant first).
        thresholds: (K,) uint64 floor(p * 2**32).
    """
    classes: list[tuple[int, int, int]] = []
    for a in range(p.shape[0]):
        thr = [None if p[a, s] >= 1.0 else min(int(p[a, s] * 2.0**32), 2**32 - 1) for s in (0, 1)]
        if thr[0] is not None and thr[0] == thr[1]:
            classes.append((a, 2, thr[0]))
        else:
            classes.extend((a, s, t) for s, t in ((0, thr[0]), (1, thr[1])) if t is not None)
    bits = np.zeros((32, max(len(classes), 1)), dtype=np.uint64)
    for k, (_, _, t) in enumerate(classes):
        for j in range(32):
            if (t >> (31 - j)) & 1:
                bits[j, k] = np.uint64(ALL_LANES)
    class_a = np.array([c[0] for c in classes], dtype=np.int64)
    class_s = np.array([c[1] for c in classes], dtype=np.int64)
    thresholds = np.array([c[2] for c in classes], dtype=np.uint64)
    return class_a, class_s, bits, thresholds


def ordered_start(n_replicas: int, L: int, ndim: int, J: float, h: float) -> np.ndarray:
    """The ordered start, (G, L, ..., L) uint64 with G = n_replicas / 64 groups: every spin along
    the field (up for h >= 0), staggered (checkerboard) for an antiferromagnet J < 0."""
    if n_replicas % LANES:
        raise ValueError(f"multi-spin Metropolis needs a multiple of {LANES} replicas, got {n_replicas}")
    spins = np.full((n_replicas // LANES,) + (L,) * ndim, ALL_LANES if h >= 0 else 0, dtype=np.uint64)
    if J < 0:
        spins[:, np.indices((L,) * ndim).sum(axis=0) % 2 == 1] ^= np.uint64(ALL_LANES)
    return spins


@njit(inline="always", cache=True)
def group_scratch(n_classes, n_bits):
    """Scratch of one group of 64 replicas: class lanes ``cm`` (max(K, 1),) uint64 for
    :func:`flip_decisions`, bit-sliced counters ``cu``, ``cb`` (n_bits,) uint64 and per-lane totals
    ``up``, ``aligned`` (64,) int64 for :func:`lane_totals`."""
    cm = np.empty(max(n_classes, 1), dtype=np.uint64)
    cu = np.zeros(n_bits, dtype=np.uint64)
    cb = np.zeros(n_bits, dtype=np.uint64)
    up = np.zeros(64, dtype=np.int64)
    aligned = np.zeros(64, dtype=np.int64)
    return cm, cu, cb, up, aligned


@njit(inline="always", cache=True)
def popcount(x):
    """Set bits of the uint64 ``x``."""
    x = x - ((x >> uint64(1)) & _M1)
    x = (x & _M2) + ((x >> uint64(2)) & _M2)
    x = (x + (x >> uint64(4))) & _M4
    return (x * _H01) >> uint64(56)


@njit(inline="always", cache=True)
def flip_decisions(w, b0, b1, b2, class_a, class_s, bits, cm, rng, stream):
    """Which of the 64 lanes of site word ``w`` flip (bit set = flip).

    Args:
        w: uint64 site word; b0, b1, b2: uint64 bit slices of each lane's aligned-neighbour
            count a = b0 + 2 b1 + 4 b2.
        class_a, class_s, bits: from :func:`classes_from_probabilities`.
        cm: (max(K, 1),) uint64 scratch (the lanes of each class).
        rng, stream: xoshiro256** states and the row that draws the random words.
    """
    need = _ZERO
    for k in range(class_a.shape[0]):
        a = class_a[k]
        m = (b0 if a & 1 else ~b0) & (b1 if a & 2 else ~b1) & (b2 if a & 4 else ~b2)
        s = class_s[k]
        if s == 0:
            m &= ~w
        elif s == 1:
            m &= w
        cm[k] = m
        need |= m
    # bit-serial comparison u < threshold per lane, most significant bit first
    less = _ZERO
    undecided = need
    j = 0
    while undecided != _ZERO and j < 32:
        r = next_u64(rng, stream)
        p = _ZERO
        for k in range(class_a.shape[0]):
            p |= cm[k] & bits[j, k]
        less |= undecided & p & ~r
        undecided &= ~(p ^ r)
        j += 1
    return ~need | less


@njit(cache=True)
def counter_bits(max_count):
    """Bits of a bit-sliced counter that holds every count up to ``max_count``."""
    n_bits = 1
    while (1 << n_bits) <= max_count:
        n_bits += 1
    return n_bits


@njit(inline="always", cache=True)
def vertical_add(counter, w):
    """Add the 64 lanes of ``w`` (0/1 each) to a bit-sliced counter (n_bits,) uint64."""
    i = 0
    while w != _ZERO:
        t = counter[i] & w
        counter[i] ^= w
        w = t
        i += 1


@njit(inline="always", cache=True)
def lane_totals(cu, cb, up, aligned):
    """Read the bit-sliced counters ``cu`` (up spins) and ``cb`` (aligned bonds), (n_bits,)
    uint64 each, into the per-lane totals ``up[64]`` and ``aligned[64]`` (int64)."""
    for b in range(64):
        nu = 0
        nb = 0
        for i in range(cu.shape[0]):
            nu += int((cu[i] >> uint64(b)) & _ONE) << i
            nb += int((cb[i] >> uint64(b)) & _ONE) << i
        up[b] = nu
        aligned[b] = nb


@njit(inline="always", cache=True)
def lane_observables(up, aligned, sign_word, n_sites, half_z, J, h, energy, magnetization, k, first):
    """Per-site energy and magnetisation of 64 lanes into ``energy[k, first + b]`` and
    ``magnetization[k, first + b]``, b = 0..63.

    Args:
        up, aligned: (64,) int64 up spins and aligned bonds per lane (:func:`lane_totals`).
        sign_word: uint64 lanes whose stored spins are inverted (the lazy global flip).
        n_sites: sites N; half_z: bonds per site, z / 2, as a float; J, h: couplings.
        energy, magnetization: (n_rounds, R) float64.
    """
    for b in range(64):
        n_up = up[b]
        if (sign_word >> uint64(b)) & _ONE:
            n_up = n_sites - n_up
        m = 2.0 * n_up - n_sites
        energy[k, first + b] = (-J * (2.0 * aligned[b] - half_z * n_sites) - h * m) / n_sites
        magnetization[k, first + b] = m / n_sites


class MultispinMetropolisBase(RoundsSweeper):
    """Sweeper (see :mod:`fieldnet.simulations.sampling`) for multi-spin coded Metropolis on the
    L^ndim torus; the replica count must be a multiple of 64, groups of 64 run in parallel.

    What the square and cubic sweepers share: the ordered start, one random stream per row of a
    group (G L^(ndim-1) streams), the lazy global-flip sign mask, the acceptance count.  A
    subclass sets ``ndim``, wraps its compiled rounds kernel in :meth:`_kernel` (arguments as
    the kernels of :mod:`fieldnet.simulations.ising2d` and :mod:`fieldnet.simulations.multispin3d`),
    gives its thresholds in :meth:`_classes` and the shape of one kernel copy in :meth:`_copy_shape`.
    """

    ndim: ClassVar[int] = 2

    def __init__(self, J: float, h: float):
        self.J = float(J)
        self.h = float(h)

    def _classes(self, temperature: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(class_a, class_s, threshold_bits) of the lattice's Metropolis classes at ``temperature``."""
        raise NotImplementedError

    def _copy_shape(self, L: int) -> tuple[int, ...]:
        """Shape of one replica's copy as the kernel writes it."""
        raise NotImplementedError

    def _kernel(self, *args: Any) -> None:
        """Call the lattice's compiled rounds kernel with ``args``."""
        raise NotImplementedError

    def init(self, L: int, temperature: float, n_replicas: int, seed: int, key: tuple[int, ...]) -> dict[str, Any]:
        # ordered start, aligned with the field (staggered for an antiferromagnet): below Tc it is
        # already near equilibrium, above Tc it melts within a few sweeps
        spins = ordered_start(n_replicas, L, self.ndim, self.J, self.h)
        G = spins.shape[0]
        class_a, class_s, bits = self._classes(temperature)
        return {
            "spins": spins,
            "sign": np.zeros(G, dtype=np.uint64),
            "rng": seeded_states(seed, G * L ** (self.ndim - 1), *key),
            "class_a": class_a,
            "class_s": class_s,
            "bits": bits,
            "flips": np.zeros(G, dtype=np.int64),
        }

    def _run(self, state: dict[str, Any], n_rounds: int, sweeps_per_round: int, store: bool):
        spins = state["spins"]
        G, L = spins.shape[0], spins.shape[1]
        R = G * LANES
        values = np.empty((2, n_rounds, R))
        configs = np.empty((n_rounds if store else 0, R, *self._copy_shape(L)), dtype=np.int8)
        flips = state["flips"]
        flips[:] = 0
        self._kernel(spins, state["sign"], state["rng"], state["class_a"], state["class_s"], state["bits"], self.J,
                     self.h, self.h == 0.0, int(sweeps_per_round), values[0], values[1], configs, flips)
        attempts = n_rounds * sweeps_per_round * R * L**self.ndim
        acceptance = float(flips.sum()) / attempts if attempts else float("nan")
        return configs, values, acceptance

    def measure(self, state: dict[str, Any]) -> dict[str, np.ndarray]:
        _, values, _ = self._run(state, 1, 0, False)  # no sweep: measurement only
        return {"energy": values[0, 0], "magnetization": values[1, 0]}

    def configs(self, state: dict[str, Any]) -> np.ndarray:
        return self._stored(state, self._run(state, 1, 0, True)[0])[0]
