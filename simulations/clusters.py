"""Wolff single-cluster growth for discrete spins on any lattice given by a neighbour table, and
the neighbour tables of periodic lattices (:func:`torus_neighbour_table`, :func:`square_tables`), and
the sites an antiferromagnet's ordered start sets apart on the square torus (:func:`staggered_sites`).

One kernel serves the Ising model (values +-1) on every lattice (simple cubic, triangular, ...)
and the q-state Potts model (values 0..q-1): a cluster grows from a random seed site through
neighbours that hold the seed's value, each bond joining with probability p_add, and every site
that joins is given the new value at once ("flip as you add").  A joined site then differs from
the seed's old value, so its value alone says that it may not join again, and no membership
marks are needed.  That is exact for ferromagnetic couplings, where every site of a cluster had
the seed's value.

* Ising: new value -s0, p_add = 1 - exp(-2 J / T).
* Potts: new value uniform among the q - 1 other states, p_add = 1 - exp(-J / T).

A Wolff "sweep" is a fixed number of clusters (:func:`calibrated_clusters_per_sweep`), chosen
so that about N spins change per sweep; tau_int is then in units comparable with local sweeps.
The number is fixed once calibrated: a sweep that stopped when N spins had changed would be a
stopping time depending on the states visited, and would bias the samples.
"""

from __future__ import annotations

import math

import numpy as np
from fieldnet.simulations.rng import next_u64
from numba import njit, uint64


def add_probability_threshold(p_add: float) -> np.uint64:
    """ceil(p_add * 2**53): a bond joins when ``next_u64 >> 11`` is below it (probability p_add)."""
    return np.uint64(math.ceil(min(max(p_add, 0.0), 1.0) * 2.0**53))


@njit(inline="always", cache=True)
def grow_cluster(sp, stack, rng, r, nbr, add_below, q):
    """Grow one Wolff cluster in the flat configuration ``sp`` (N,) int8 and change it in place.

    Args:
        sp: (N,) int8 spins of one replica: +-1 when ``q == 0`` (Ising), 0..q-1 otherwise (Potts).
        stack: (N + z,) int32 scratch; on return ``stack[:size]`` holds the cluster's sites.
        rng, r: xoshiro256** states (n, 4) uint64 and this replica's row.
        nbr: (N, z) int32 neighbour table.
        add_below: :func:`add_probability_threshold` of p_add.
        q: 0 for Ising spins, else the number of Potts states.

    Returns:
        (size, old value, new value) of the cluster.
    """
    N = sp.shape[0]
    z = nbr.shape[1]
    seed_site = int(next_u64(rng, r) % uint64(N))
    s0 = sp[seed_site]
    if q == 0:
        s_new = -s0
    else:
        s_new = np.int8((s0 + 1 + int(next_u64(rng, r) % uint64(q - 1))) % q)
    sp[seed_site] = s_new
    stack[0] = seed_site
    head = 0
    tail = 1
    while head < tail:
        i = stack[head]
        head += 1
        # branch-free: one random number per neighbour, so the ~50/50 join decision near Tc
        # never costs a branch misprediction; a rejected site is overwritten by the next push
        for d in range(z):
            j = nbr[i, d]
            u = next_u64(rng, r) >> uint64(11)
            join = (sp[j] == s0) & (u < add_below)
            stack[tail] = j
            tail += np.int64(join)
            sj = sp[j]
            sp[j] = np.int8(sj + int(join) * (s_new - sj))
    return tail, s0, s_new


@njit(cache=True)
def calibration_sizes(spins, stack, rng, nbr, add_below, q, n_sweeps, out):  # pragma: no cover - compiled
    """Grow clusters in every replica until ``n_sweeps * N`` sites changed; the calibration of
    the clusters per sweep (it also serves as burn-in; its stopping rule is biased, so it is used
    for nothing else).  out[r, 0] += clusters grown, out[r, 1] += sites changed."""
    R, N = spins.shape[0], spins.shape[1]
    for r in range(R):
        changed = 0
        clusters = 0
        while changed < n_sweeps * N:
            size, _, _ = grow_cluster(spins[r], stack[r], rng, r, nbr, add_below, q)
            changed += size
            clusters += 1
        out[r, 0] += clusters
        out[r, 1] += changed


def calibrated_clusters_per_sweep(spins: np.ndarray, rng: np.ndarray, nbr: np.ndarray, add_below: np.uint64,
                                  q: int, n_sweeps: int = 8) -> int:
    """Clusters per Wolff sweep, round(N / mean cluster size), measured on ``spins`` (R, N)
    int8 (advanced in place by about 2 ``n_sweeps`` sweeps).

    The first ``n_sweeps`` only relax the starting state: from an ordered start near Tc the
    first clusters span the lattice, and counting them would give too few clusters per sweep
    (measured: 1 instead of 2 for the 3-state Potts model at Tc)."""
    R, N = spins.shape
    stack = np.empty((R, N + nbr.shape[1]), dtype=np.int32)
    out = np.zeros((R, 2), dtype=np.int64)
    calibration_sizes(spins, stack, rng, nbr, add_below, int(q), int(n_sweeps), out)
    out[:] = 0
    calibration_sizes(spins, stack, rng, nbr, add_below, int(q), int(n_sweeps), out)
    mean_size = out[:, 1].sum() / max(1, out[:, 0].sum())
    return max(1, int(round(N / mean_size)))


def torus_neighbour_table(shape: tuple[int, ...], offsets: list[tuple[int, ...]]) -> np.ndarray:
    """Flat indices of the neighbours of every site of a periodic lattice.

    Args:
        shape: lattice shape, e.g. (L, L, L) (index order z, y, x; C order flattening).
        offsets: the neighbour displacements in the same index order; list the forward half
            first and their negatives after, so that ``table[:, :z//2]`` names each bond once.

    Returns:
        (N, len(offsets)) int32.
    """
    coords = np.indices(shape).reshape(len(shape), -1)
    dims = np.asarray(shape)[:, None]
    columns = []
    for off in offsets:
        moved = (coords + np.asarray(off)[:, None]) % dims
        columns.append(np.ravel_multi_index(tuple(moved), shape))
    return np.stack(columns, axis=1).astype(np.int32)


SQUARE_OFFSETS = [(0, 1), (1, 0), (0, -1), (-1, 0)]


def square_tables(L: int) -> tuple[np.ndarray, np.ndarray]:
    """Square L x L torus: neighbour table (L^2, 4) int32 (right, down first) and a local-update
    site order (L^2,) int32:
    checkerboard for even L, typewriter for odd L."""
    nbr = torus_neighbour_table((L, L), SQUARE_OFFSETS)
    if L % 2:
        return nbr, np.arange(L * L, dtype=np.int32)
    y, x = np.indices((L, L)).reshape(2, -1)
    colour = (x + y) % 2
    return nbr, np.concatenate([np.flatnonzero(colour == 0), np.flatnonzero(colour == 1)]).astype(np.int32)


def staggered_sites(L: int, order: np.ndarray) -> np.ndarray:
    """The sites an antiferromagnet's ordered start sets apart on the L x L torus: the second colour
    of the checkerboard ``order`` for even L, the odd flat indices for odd L."""
    N = L * L
    return order[N // 2 :] if L % 2 == 0 else np.arange(1, N, 2)
