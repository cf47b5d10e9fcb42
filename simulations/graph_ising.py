"""The Ising model on any lattice given by a neighbour table: Metropolis and Wolff sweepers.

H = -J sum_<ij> s_i s_j - h sum_i s_i with s_i = +-1 on a periodic lattice of N sites whose
neighbour table ``nbr`` (N, z) lists the forward half of the bonds first (so ``nbr[:, :z//2]``
names every bond once).  :mod:`fieldnet.simulations.ising3d` (simple cubic, z = 6) and
:mod:`fieldnet.simulations.triangular` (z = 6 on a sheared square array) are this module with their own
tables and site orders; the 2D square lattice keeps its faster multi-spin coded kernels in
:mod:`fieldnet.simulations.ising2d`.

Both updates run one byte a spin, one replica a thread (``prange`` over replicas), every replica
drawing from its own xoshiro256** stream, so results are identical whatever the thread count:

* **Metropolis**: single-site flips in a fixed order given by the model (sublattice by
  sublattice: colour classes of a proper colouring, i.e. checkerboard on the cubic lattice, three
  sublattices on the triangular lattice), acceptance min(1, exp(-dE / T)) looked up from the spin
  and its neighbour sum.
* **Wolff** (J > 0): single clusters from :mod:`fieldnet.simulations.clusters`, a fixed number per sweep
  (about N spins changed); with h != 0 a grown cluster is kept with the Metropolis probability
  of its field energy, min(1, exp(-2 h sum_cluster s / T)), which keeps detailed balance.

With h = 0 both end every round of sweeps (every stored sample, every pilot measurement) with a
random global spin flip, an exact symmetry move: ordered replicas then visit both signs of m
independently from sample to sample.

All the work of one sampler call (sweeps, measurements, copies of the configurations) is one
compiled kernel, :func:`ising_graph_run`, so the pilot and the sampling rounds cost one parallel
region each, and ising3d and triangular share one compiled specialisation.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
from fieldnet.simulations.clusters import (
    add_probability_threshold,
    calibrated_clusters_per_sweep,
    grow_cluster,
)
from fieldnet.simulations.ising_base import IsingModelBase
from fieldnet.simulations.rng import next_double, next_u64, seeded_states
from fieldnet.simulations.rounds import RoundsSweeper
from numba import njit, prange, uint64

from fieldnet.errors import FieldnetError

#: Wolff chains per temperature point (at most): few, so burn-in and pilot stay cheap
WOLFF_REPLICAS = 8
#: Metropolis chains per temperature point (at most); even, so two cores share them evenly
METROPOLIS_REPLICAS = 16
METROPOLIS = 0
WOLFF = 1
_ALWAYS = np.uint64(1 << 53)


def metropolis_thresholds(temperature: float, J: float, h: float, z: int) -> np.ndarray:
    """Acceptance thresholds of single-spin flips, (2, z + 1) uint64.

    Entry [(s + 1) / 2, k] is ceil(p * 2**53) with p = min(1, exp(-dE / T)) the flip probability
    of spin s whose neighbours sum to 2k - z, dE = 2 s (J (2k - z) + h).  A flip is accepted when
    ``next_u64 >> 11`` is below the threshold; 2**53 means always.
    """
    out = np.empty((2, z + 1), dtype=np.uint64)
    for si, s in enumerate((-1, 1)):
        for k in range(z + 1):
            dE = 2.0 * s * (J * (2 * k - z) + h)
            p = 1.0 if dE <= 0 else math.exp(-dE / temperature)
            out[si, k] = add_probability_threshold(p)
    return out


@njit(inline="always", cache=True)
def _metropolis_sweep(sp, rng, r, nbr, order, thresholds):
    """One sweep of replica r in the site order ``order``; returns the accepted flips."""
    z = nbr.shape[1]
    accepted = 0
    for k in range(order.shape[0]):
        i = order[k]
        s = sp[i]
        total = 0
        for d in range(z):
            total += sp[nbr[i, d]]
        th = thresholds[(s + 1) >> 1, (total + z) >> 1]
        if th >= _ALWAYS or (next_u64(rng, r) >> uint64(11)) < th:
            sp[i] = -s
            accepted += 1
    return accepted


@njit(inline="always", cache=True)
def _wolff_sweep(sp, stack, rng, r, nbr, add_below, n_clusters, two_beta_h):
    """``n_clusters`` Wolff clusters in replica r (kept with their field-energy probability when
    h != 0); returns the number of spins flipped."""
    flipped = 0
    for _ in range(n_clusters):
        size, s0, _ = grow_cluster(sp, stack, rng, r, nbr, add_below, 0)
        if two_beta_h != 0.0:
            exponent = two_beta_h * size * s0  # field energy change / T of flipping the cluster
            if exponent > 0.0 and next_double(rng, r) >= math.exp(-exponent):
                for k in range(size):
                    sp[stack[k]] = s0
                continue
        flipped += size
    return flipped


@njit(inline="always", cache=True)
def graph_observables(sp, nbr, J, h):
    """(energy per site, magnetisation per site) of flat +-1 spins ``sp`` (N,)."""
    N = sp.shape[0]
    half = nbr.shape[1] // 2
    bonds = 0
    m = 0
    for i in range(N):
        s = sp[i]
        m += s
        for d in range(half):
            bonds += s * sp[nbr[i, d]]
    return (-J * bonds - h * m) / N, m / N


@njit(parallel=True, cache=True)
def ising_graph_run(spins, rng, nbr, order, thresholds, algorithm, add_below, n_clusters, two_beta_h, J, h,
                    global_flip, sweeps_per_round, stack, energy, magnetization, configs, moves):  # pragma: no cover - compiled
    """Rounds of ``sweeps_per_round`` sweeps, each followed (``global_flip``) by a random global
    spin flip, a measurement and, when ``configs`` has rounds, a copy; replicas in parallel.

    Args:
        spins: (R, N) int8 +-1, updated in place.
        rng: (R, 4) uint64, one stream per replica.
        nbr: (N, z) int32 neighbour table, forward bonds first; order: (N,) int32 site order.
        thresholds: (2, z + 1) uint64 from :func:`metropolis_thresholds`.
        algorithm: METROPOLIS (0) or WOLFF (1).
        add_below, n_clusters, two_beta_h: Wolff's bond threshold, clusters per sweep, 2h/T.
        J, h: couplings (energies); global_flip: the random global flip (h = 0).
        sweeps_per_round: sweeps between measurements.
        stack: (R, N + z) int32 scratch.
        energy, magnetization: (n_rounds, R) float64, overwritten per round.
        configs: (n_rounds, R, N) int8 copies, or (0, R, N) to store none.
        moves: (R,) int64, incremented by accepted Metropolis flips (Wolff: flipped spins).
    """
    R = spins.shape[0]
    n_rounds = energy.shape[0]
    store = configs.shape[0] > 0
    for r in prange(R):
        sp = spins[r]
        count = 0
        for k in range(n_rounds):
            for _ in range(sweeps_per_round):
                if algorithm == METROPOLIS:
                    count += _metropolis_sweep(sp, rng, r, nbr, order, thresholds)
                else:
                    count += _wolff_sweep(sp, stack[r], rng, r, nbr, add_below, n_clusters, two_beta_h)
            if global_flip and sweeps_per_round > 0 and (next_u64(rng, r) >> uint64(63)) == uint64(1):
                for i in range(sp.shape[0]):
                    sp[i] = -sp[i]
            e, m = graph_observables(sp, nbr, J, h)
            energy[k, r] = e
            magnetization[k, r] = m
            if store:
                configs[k, r] = sp
        moves[r] += count


class GraphIsing(RoundsSweeper):
    """Sweeper (see :mod:`fieldnet.simulations.sampling`) of the Ising model on a neighbour table.

    Args:
        tables: L -> (neighbour table (N, z) int32 forward half first, Metropolis site order (N,)
            int32, sublattice parity (N,) int8 +-1 for the antiferromagnet's starting state).
        ndim: spatial dimensions (the flat spins are stored as (L,) * ndim).
        J, h: couplings; algorithm: "metropolis" or "wolff".
    """

    absolute_series: ClassVar[tuple[str, ...]] = ("magnetization",)

    def __init__(self, tables: Callable[[int], tuple[np.ndarray, np.ndarray, np.ndarray]], ndim: int,
                 J: float, h: float, algorithm: str):
        if algorithm == "wolff" and J <= 0:
            raise FieldnetError("Wolff clusters here need a ferromagnetic coupling J > 0; use --algorithm metropolis")
        self.tables = tables
        self.ndim = int(ndim)
        self.J = float(J)
        self.h = float(h)
        self.algorithm = algorithm

    def init(self, L: int, temperature: float, n_replicas: int, seed: int, key: tuple[int, ...]) -> dict[str, Any]:
        nbr, order, parity = self.tables(L)
        N, z = nbr.shape
        # ordered start along the field (staggered by sublattice for an antiferromagnet)
        initial = np.full(N, 1 if self.h >= 0 else -1, dtype=np.int8)
        if self.J < 0:
            initial = (initial * parity).astype(np.int8)
        state: dict[str, Any] = {
            "shape": (L,) * self.ndim,
            "nbr": np.ascontiguousarray(nbr, dtype=np.int32),
            "order": np.ascontiguousarray(order, dtype=np.int32),
            "spins": np.tile(initial, (n_replicas, 1)),
            "rng": seeded_states(seed, n_replicas, *key),
            "thresholds": metropolis_thresholds(temperature, self.J, self.h, z),
            "add_below": add_probability_threshold(-math.expm1(-2.0 * abs(self.J) / temperature)),
            "two_beta_h": 2.0 * self.h / temperature,
            "stack": np.empty((n_replicas, N + z), dtype=np.int32),
            "n_clusters": 0,
            "moves": np.zeros(n_replicas, dtype=np.int64),
        }
        if self.algorithm == "wolff":
            # the calibration grows clusters with h = 0 (its only use is the cluster count); it
            # also serves as burn-in
            state["n_clusters"] = calibrated_clusters_per_sweep(state["spins"], state["rng"], nbr, state["add_below"], 0)
        return state

    def _run(self, state: dict[str, Any], n_rounds: int, sweeps_per_round: int, store: bool):
        R, N = state["spins"].shape
        values = np.empty((2, n_rounds, R))
        configs = np.empty((n_rounds if store else 0, R, N), dtype=np.int8)
        moves = state["moves"]
        moves[:] = 0
        ising_graph_run(state["spins"], state["rng"], state["nbr"], state["order"], state["thresholds"],
                        METROPOLIS if self.algorithm == "metropolis" else WOLFF, state["add_below"],
                        int(state["n_clusters"]), state["two_beta_h"], self.J, self.h, self.h == 0.0,
                        int(sweeps_per_round), state["stack"], values[0], values[1], configs, moves)
        total = n_rounds * sweeps_per_round * R * N
        acceptance = float(moves.sum()) / total if self.algorithm == "metropolis" and total else float("nan")
        return configs, values, acceptance

    def _stored(self, state: dict[str, Any], configs: np.ndarray) -> np.ndarray:
        return configs.reshape(configs.shape[0], configs.shape[1], 1, *state["shape"])

    def measure(self, state: dict[str, Any]) -> dict[str, np.ndarray]:
        spins = state["spins"]
        energy = np.empty(spins.shape[0])
        magnetization = np.empty(spins.shape[0])
        for r in range(spins.shape[0]):
            energy[r], magnetization[r] = graph_observables(spins[r], state["nbr"], self.J, self.h)
        return {"energy": energy, "magnetization": magnetization}

    def configs(self, state: dict[str, Any]) -> np.ndarray:
        spins = state["spins"]
        return spins.reshape(spins.shape[0], 1, *state["shape"]).copy()


def replicas_for(algorithm: str, n_samples: int) -> int:
    """Chains per temperature point for ``algorithm`` (never more than the samples asked for)."""
    return max(1, min(WOLFF_REPLICAS if algorithm == "wolff" else METROPOLIS_REPLICAS, n_samples))


#: default ``auto`` window of T / Tc where Wolff is used (J > 0, h = 0), where critical slowing
#: down makes local updates lose: the window measured for fieldnet.simulations.ising2d
AUTO_WOLFF_T_OVER_TC = (0.85, 1.25)


class GraphIsingModel(IsingModelBase):
    """Base of Ising models on a neighbour-table lattice: couplings J and h, Metropolis and Wolff.

    Subclasses set ``name``, ``ndim``, ``parameters``, ``reference_tc`` (Tc / J of the
    ferromagnet), ``tc_source``, ``lattice_name`` and implement :meth:`tables`.
    """

    reference_tc: ClassVar[float] = float("nan")
    #: ``auto`` uses Wolff for auto_wolff_window[0] <= T / Tc <= auto_wolff_window[1]
    auto_wolff_window: ClassVar[tuple[float, float]] = AUTO_WOLFF_T_OVER_TC
    no_tc_source: ClassVar[str] = "none: h != 0 or J <= 0 (no ferromagnetic transition)"

    def tables(self, L: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(neighbour table (N, z) int32 forward half first, Metropolis site order (N,) int32,
        sublattice parity (N,) int8 +-1 used for the antiferromagnet's starting state)."""
        raise NotImplementedError

    def critical_temperature(self) -> float | None:
        """The reference Tc = reference_tc * J of the ferromagnet with h = 0, else None."""
        if self.h != 0.0 or self.J <= 0.0:
            return None
        return self.reference_tc * self.J

    def attrs(self) -> dict[str, Any]:
        return {
            **super().attrs(),
            "sweep_unit": "one Metropolis sweep = L^d attempted flips; one Wolff sweep = a fixed number of clusters "
            "(calibrated per point) that flips about L^d spins on average",
        }

    def resolve_algorithm(self, algorithm: str, temperature: float) -> str:
        """The update ``algorithm`` means at ``temperature`` ("auto": Wolff near Tc, else Metropolis)."""
        if algorithm == "auto":
            return "wolff" if self.near_tc(temperature, self.auto_wolff_window) else "metropolis"
        if self.known_algorithm(algorithm) == "wolff" and self.J <= 0.0:
            raise FieldnetError(f"Wolff clusters of {self.name} need a ferromagnetic J > 0; use --algorithm metropolis")
        return algorithm

    def sweeper(self, algorithm: str, n_samples: int) -> tuple[GraphIsing, int]:
        """The sweeper of a resolved ``algorithm`` and its number of replicas."""
        return GraphIsing(self.tables, self.ndim, self.J, self.h, algorithm), replicas_for(algorithm, n_samples)
