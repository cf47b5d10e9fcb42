"""q-state Potts model on the L x L square torus: H = -J sum_<ij> delta(s_i, s_j), s_i in 0..q-1.

Stored as one int8 channel of states 0..q-1 (default) or, with ``onehot=True``, q int8 channels
that are 1 where the site holds that state (what a network classifying by colour sees without an
arbitrary order of the states).

Updates, one byte a spin, one replica a thread, per-replica xoshiro256** streams (files identical
at any thread count):

* **heat bath**: each site in turn (checkerboard order for even L, typewriter for odd L) draws its
  new state from its conditional Boltzmann law, P(k) ~ exp(J n_k / T), n_k its neighbours in state
  k (any J);
* **Wolff** single clusters (J > 0) from :mod:`fieldnet.simulations.clusters`: bonds between equal states
  join with p_add = 1 - exp(-J / T), and the cluster takes one of the other q - 1 states
  uniformly; a fixed number of clusters per sweep changes about L^2 sites.

Both end every round of sweeps (every stored sample, and every pilot measurement) with a global
symmetry move, a uniformly random permutation of the q states: the heat bath alone never changes
the majority state of an ordered replica, and Wolff's ordered-phase clusters, which span the
lattice, change it in a fixed pattern.  With the move the state labels of successive samples are
independent and uniform.

``auto`` picks Wolff for 0.5 Tc <= T <= 1.5 Tc (J > 0), the heat bath elsewhere (measured:
Wolff is faster over all of 0.6-1.4 Tc, 35x at Tc for L = 24).

Observables per sample: energy per site, and the order parameter
m = (q max_k rho_k - 1) / (q - 1) with rho_k the fraction of sites in state k (0 in a perfectly
disordered configuration, 1 in an ordered one; for q = 2 it is the Ising |m|).

Labels use the exact Tc = J / ln(1 + sqrt q) of the square lattice (Baxter 1973); the transition
is continuous for q <= 4 and first order for q > 4.  For q = 2, delta(s, s') = (1 + sigma sigma')/2
makes the Potts model at (J, T) the Ising model at (J/2, T), i.e. E_potts = (E_ising(J=1, T_I = 2T/J)
- N_bonds) J / 2 (tested against Kaufman's exact finite torus).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
from fieldnet.simulations.base import LatticeModel, TemperatureRange
from fieldnet.simulations.clusters import (
    add_probability_threshold,
    calibrated_clusters_per_sweep,
    grow_cluster,
    staggered_sites,
)
from fieldnet.simulations.rng import next_double, next_u64
from fieldnet.simulations.rounds import SquareLatticeSweeper
from numba import njit, prange, uint64

from fieldnet.errors import FieldnetError

#: ``auto`` uses Wolff for these T / Tc (J > 0), the heat bath elsewhere: measured
#: (benchmarks/simulate_models.py, q = 3, L = 24) Wolff delivers 1.1-35x more samples/s than
#: the heat bath over the whole range 0.6-1.4 Tc that was measured
AUTO_WOLFF_T_OVER_TC = (0.5, 1.5)
WOLFF_REPLICAS = 8
HEATBATH_REPLICAS = 16
HEATBATH = 0
WOLFF = 1
MAX_Q = 127  # states must fit int8
#: the heat bath's weights exp(|J| n / T), n <= 4, must stay well inside float64 (exp(709) is its limit)
MAX_WEIGHT_EXPONENT = 700.0
#: exact correlation-length exponents of the continuous transitions, q -> nu (den Nijs 1979,
#: Nienhuis 1982); for q > 4 the transition is first order
POTTS_NU = {2: 1.0, 3: 5.0 / 6.0, 4: 2.0 / 3.0}
POTTS_NU_SOURCE = {
    2: "exact: nu = 1 (q = 2 is the 2D Ising model, Onsager 1944)",
    3: "exact: nu = 5/6 (den Nijs 1979, Nienhuis 1982)",
    4: "exact: nu = 2/3 (den Nijs 1979, Nienhuis 1982)",
}


@njit(inline="always", cache=True)
def _heatbath_sweep(sp, rng, r, nbr, order, weights, counts, cumulative):
    """One heat-bath sweep of replica r; weights[n] = exp(J n / T).  Returns the sites whose
    state changed."""
    z = nbr.shape[1]
    q = counts.shape[0]
    changed = 0
    for k in range(order.shape[0]):
        i = order[k]
        counts[:] = 0
        for d in range(z):
            counts[sp[nbr[i, d]]] += 1
        total = 0.0
        for s in range(q):
            total += weights[counts[s]]
            cumulative[s] = total
        u = next_double(rng, r) * total
        new = 0
        while new < q - 1 and cumulative[new] <= u:
            new += 1
        if new != sp[i]:
            changed += 1
        sp[i] = np.int8(new)
    return changed


@njit(inline="always", cache=True)
def _permute_states(sp, perm, rng, r):
    """Relabel the states of replica r by a uniformly random permutation (Fisher-Yates on
    ``perm`` (q,) int8 scratch).  H depends only on which neighbours agree, so the move is an
    exact symmetry: it keeps the Boltzmann weight, and the inverse permutation, which undoes it,
    is drawn with the same probability 1/q!: detailed balance."""
    q = perm.shape[0]
    for s in range(q):
        perm[s] = s
    for s in range(q - 1, 0, -1):
        j = int(next_u64(rng, r) % uint64(s + 1))
        t = perm[s]
        perm[s] = perm[j]
        perm[j] = t
    for i in range(sp.shape[0]):
        sp[i] = perm[sp[i]]


@njit(inline="always", cache=True)
def potts_observables(sp, nbr, J, counts):
    """(energy per site, order parameter) of flat states ``sp`` (N,); counts: (q,) scratch."""
    N = sp.shape[0]
    half = nbr.shape[1] // 2
    q = counts.shape[0]
    same = 0
    counts[:] = 0
    for i in range(N):
        s = sp[i]
        counts[s] += 1
        for d in range(half):
            same += sp[nbr[i, d]] == s
    largest = 0
    for s in range(q):
        largest = max(largest, counts[s])
    return -J * same / N, (q * largest / N - 1.0) / (q - 1.0)


@njit(parallel=True, cache=True)
def potts_run(spins, rng, nbr, order, q, weights, algorithm, add_below, n_clusters, J, sweeps_per_round,
              stack, energy, order_parameter, configs, moves):  # pragma: no cover - compiled
    """Rounds of ``sweeps_per_round`` sweeps, each followed by a random permutation of the
    states (:func:`_permute_states`: the heat bath alone keeps the majority state of an ordered
    replica forever), a measurement and, when ``configs`` has rounds, a copy; replicas in
    parallel.

    Args:
        spins: (R, N) int8 states 0..q-1, updated in place.
        rng: (R, 4) uint64, one stream per replica.
        nbr: (N, 4) int32 neighbour table; order: (N,) int32 heat-bath site order.
        q: number of states; weights: (z + 1,) float64 exp(J n / T).
        algorithm: HEATBATH (0) or WOLFF (1); add_below, n_clusters: Wolff's bond threshold and
            clusters per sweep.
        J: coupling (energies); sweeps_per_round: sweeps between measurements.
        stack: (R, N + z) int32 scratch.
        energy, order_parameter: (n_rounds, R) float64, overwritten.
        configs: (n_rounds, R, N) int8 copies, or (0, R, N) for none.
        moves: (R,) int64, incremented by the sites changed.
    """
    R = spins.shape[0]
    n_rounds = energy.shape[0]
    store = configs.shape[0] > 0
    for r in prange(R):
        sp = spins[r]
        counts = np.zeros(q, dtype=np.int64)
        cumulative = np.zeros(q, dtype=np.float64)
        perm = np.empty(q, dtype=np.int8)
        count = 0
        for k in range(n_rounds):
            for _ in range(sweeps_per_round):
                if algorithm == HEATBATH:
                    count += _heatbath_sweep(sp, rng, r, nbr, order, weights, counts, cumulative)
                else:
                    for _c in range(n_clusters):
                        size, _, _ = grow_cluster(sp, stack[r], rng, r, nbr, add_below, q)
                        count += size
            if sweeps_per_round > 0:
                _permute_states(sp, perm, rng, r)
            e, m = potts_observables(sp, nbr, J, counts)
            energy[k, r] = e
            order_parameter[k, r] = m
            if store:
                configs[k, r] = sp
        moves[r] += count


class PottsSweeper(SquareLatticeSweeper):
    """Sweeper (see :mod:`fieldnet.simulations.sampling`) of the Potts model, heat bath or Wolff.

    Args:
        q, J: the model; algorithm: "heatbath" or "wolff"; onehot: store q one-hot channels.
    """

    def __init__(self, q: int, J: float, algorithm: str, onehot: bool):
        self.q = int(q)
        self.J = float(J)
        self.algorithm = algorithm
        self.onehot = bool(onehot)

    def _model_state(self, state: dict[str, Any], temperature: float, n_replicas: int) -> dict[str, Any]:
        L = state["L"]
        N, z = state["nbr"].shape
        # ordered start (all state 0) for a ferromagnet, a checkerboard of two states otherwise
        spins = np.zeros((n_replicas, N), dtype=np.int8)
        if self.J < 0:
            spins[:, staggered_sites(L, state["order"])] = 1
        return {
            "spins": spins,
            # the heat bath's only: Wolff runs at temperatures where they overflow
            "weights": np.exp(self.J * np.arange(z + 1) / temperature) if self.algorithm == "heatbath" else np.ones(z + 1),
            "add_below": add_probability_threshold(-math.expm1(-self.J / temperature) if self.J > 0 else 0.0),
            "stack": np.empty((n_replicas, N + z), dtype=np.int32),
            "n_clusters": 0,
            "moves": np.zeros(n_replicas, dtype=np.int64),
        }

    def _clusters_per_sweep(self, state: dict[str, Any]) -> int:
        return calibrated_clusters_per_sweep(state["spins"], state["rng"], state["nbr"], state["add_below"], self.q)

    def _run(self, state: dict[str, Any], n_rounds: int, sweeps_per_round: int, store: bool):
        R, N = state["spins"].shape
        values = np.empty((2, n_rounds, R))  # energy, order parameter
        configs = np.empty((n_rounds if store else 0, R, N), dtype=np.int8)
        moves = state["moves"]
        moves[:] = 0
        potts_run(state["spins"], state["rng"], state["nbr"], state["order"], self.q, state["weights"],
                  HEATBATH if self.algorithm == "heatbath" else WOLFF, state["add_below"], int(state["n_clusters"]),
                  self.J, int(sweeps_per_round), state["stack"], values[0], values[1], configs, moves)
        total = n_rounds * sweeps_per_round * R * N
        acceptance = float(moves.sum()) / total if self.algorithm == "heatbath" and total else float("nan")
        return configs, values, acceptance

    def _stored(self, state: dict[str, Any], configs: np.ndarray) -> np.ndarray:
        return self._channels(configs, state["L"])

    def _channels(self, flat: np.ndarray, L: int) -> np.ndarray:
        """(..., N) int8 states -> (..., C, L, L) int8 stored channels."""
        lead = flat.shape[:-1]
        states = flat.reshape(*lead, 1, L, L)
        if not self.onehot:
            return states
        return (states == np.arange(self.q, dtype=np.int8).reshape(self.q, 1, 1)).astype(np.int8)

    def measure(self, state: dict[str, Any]) -> dict[str, np.ndarray]:
        spins = state["spins"]
        counts = np.zeros(self.q, dtype=np.int64)
        values = np.array([potts_observables(sp, state["nbr"], self.J, counts) for sp in spins])
        return {"energy": values[:, 0], "magnetization": values[:, 1]}

    def configs(self, state: dict[str, Any]) -> np.ndarray:
        return self._channels(state["spins"].copy(), state["L"])


class Potts(LatticeModel):
    """q-state Potts model on the square torus, H = -J sum_<ij> delta(s_i, s_j)."""

    name: ClassVar[str] = "potts"
    parameters: ClassVar[dict[str, tuple[Any, str]]] = {
        "q": (3, "number of states per site (2..127); the transition is continuous for q <= 4, first order above"),
        "J": (1.0, "coupling in units of k_B (J > 0 ferromagnet, J < 0 antiferromagnet: heat bath only)"),
        "onehot": (False, "store q one-hot int8 channels instead of one channel of states 0..q-1"),
    }
    ndim: ClassVar[int] = 2
    dtype: ClassVar[str] = "int8"
    observables: ClassVar[tuple[str, ...]] = ("energy", "magnetization")
    algorithms: ClassVar[tuple[str, ...]] = ("heatbath", "wolff")

    def __init__(self, q: int = 3, J: float = 1.0, onehot: bool = False):
        if not 2 <= int(q) <= MAX_Q:
            raise FieldnetError(f"Potts q must be between 2 and {MAX_Q}, got {q}; give --param q=3 (for example)")
        if J == 0.0:
            raise FieldnetError("Potts J = 0 leaves the states independent; give --param J=1 (ferromagnet)")
        self.q = int(q)
        self.J = float(J)
        self.onehot = bool(onehot)
        self.channel_names = tuple(f"state_{k}" for k in range(self.q)) if self.onehot else ("state",)

    def critical_temperature(self) -> float | None:
        """Exact Tc = J / ln(1 + sqrt q) of the ferromagnet; None for J < 0."""
        return self.J / math.log1p(math.sqrt(self.q)) if self.J > 0 else None

    def nu_reference(self) -> float | None:
        """Exact nu of the ferromagnet's continuous transition (q <= 4), else None."""
        return POTTS_NU.get(self.q) if self.critical_temperature() is not None else None

    @property
    def nu_source(self) -> str:
        """Where :meth:`nu_reference` comes from, or why there is none."""
        if self.critical_temperature() is None:
            return "none: antiferromagnet"
        if self.q not in POTTS_NU:
            return "none: first-order transition for q > 4"
        return POTTS_NU_SOURCE[self.q]

    def attrs(self) -> dict[str, Any]:
        tc = self.critical_temperature()
        return {
            "model": self.name,
            "q": self.q,
            "J": self.J,
            "onehot": self.onehot,
            "lattice": "square",
            "hamiltonian": "H = -J sum_<ij> delta(s_i, s_j), s_i in 0..q-1",
            "Tc": float("nan") if tc is None else tc,
            "Tc_source": "exact: Tc = J / ln(1 + sqrt q) (Baxter 1973)" if tc is not None else "none: antiferromagnet",
            "transition_order": ("continuous" if self.q <= 4 else "first order") if tc is not None else "",
            "sweep_unit": "one heat-bath sweep = L^2 site updates; one Wolff sweep = a fixed number of clusters "
            "(calibrated per point) that changes about L^2 sites on average",
            "global_moves": "a random permutation of the q states every round of sweeps",
            "magnetization_definition": "(q max_k rho_k - 1) / (q - 1), rho_k the fraction of sites in state k",
        }

    def usable_temperatures(self, L: int, algorithm: str) -> TemperatureRange:
        """The heat bath's lowest T is where its weights exp(|J| n / T), n up to 4 neighbours,
        would leave float64; Wolff samples any T."""
        usable = super().usable_temperatures(L, algorithm)
        if algorithm != "heatbath":
            return usable
        return usable._replace(low=max(usable.low, 4.0 * abs(self.J) / MAX_WEIGHT_EXPONENT), below=(
            "below it the heat-bath weights exp(|J| n / T) overflow" + ("; --algorithm wolff samples any T" if self.J > 0 else "")))

    def resolve_algorithm(self, algorithm: str, temperature: float) -> str:
        """The update ``algorithm`` means at ``temperature`` ("auto": Wolff near Tc, else heat bath)."""
        if algorithm == "auto":
            return "wolff" if self.near_tc(temperature, AUTO_WOLFF_T_OVER_TC) else "heatbath"
        if self.known_algorithm(algorithm) == "wolff" and self.J <= 0:
            raise FieldnetError("Potts Wolff clusters need a ferromagnetic J > 0; use --algorithm heatbath")
        return algorithm

    def sweeper(self, algorithm: str, n_samples: int) -> tuple[PottsSweeper, int]:
        """The sweeper of a resolved ``algorithm`` and its number of replicas."""
        cap = WOLFF_REPLICAS if algorithm == "wolff" else HEATBATH_REPLICAS
        return PottsSweeper(self.q, self.J, algorithm, self.onehot), max(1, min(cap, n_samples))


MODEL = Potts
