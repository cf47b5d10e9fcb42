"""XY (plane rotator, O(2)) model on the L x L square torus: H = -J sum_<ij> cos(theta_i - theta_j).

Stored as two float32 channels (cos theta, sin theta).  The simulator keeps each spin as its
unit vector (cos theta, sin theta) in float64, so that the local field, overrelaxation and the
Wolff reflections need no trigonometry.  Updates, one replica a thread, each
replica drawing from its own xoshiro256** stream (files identical at any thread count):

* **Metropolis + overrelaxation**: a sweep is one Metropolis sweep (rotation theta -> theta + d,
  d uniform in [-delta, delta], delta = pi min(1, T / J): large steps where the spins are loose,
  smaller ones where they are stiff) followed by ``OVERRELAXATION_SWEEPS`` overrelaxation sweeps,
  theta_i -> 2 phi_i - theta_i with phi_i the angle of the local field h_i = sum_j s_j, i.e. the
  reflection s_i -> 2 (s_i . h_i) h_i / |h_i|^2 - s_i.
  Overrelaxation keeps the energy exactly (microcanonical) and moves the spins far for free;
  the Metropolis steps make the chain ergodic.  Sites go in checkerboard order for even L,
  typewriter order for odd L.
* **Wolff embedding** (Wolff 1989): pick a random direction r; clusters of the Ising variables
  sign(s_i . r) grow through bond (i, j) with probability 1 - exp(min(0, -2 J (s_i . r)(s_j . r) / T))
  and flip by reflection s -> s - 2 (s . r) r.  A sweep is a fixed number of clusters (about L^2
  spins reflected), calibrated once per point.

Both end every round of sweeps (every stored sample, and every pilot measurement) with a global
symmetry move, a uniformly random rotation (and, with probability 1/2, reflection) of all spins:
below T_KT local updates turn the direction of the magnetisation of a finite lattice only slowly
(lag-1 correlation 0.96 between samples at T = 0.3 J, L = 16 without it), while with the move it
is uniform and independent between samples.

``auto`` picks Wolff for 0.5 <= T / J <= 2.0 (measured with benchmarks/simulate_models.py: it
delivers more independent samples/s there, 5x at T = 1.2 J for L = 24), Metropolis +
overrelaxation elsewhere (faster at 0.4 J, where the spins are stiff and clusters span the lattice).

Observables per sample (all per site, units of J):

* ``energy``: H / N;
* ``magnetization``: |sum_i s_i| / N (the magnitude of the O(2) order parameter);
* ``vorticity``: (vortices + antivortices) / N, plaquettes whose angle differences (each wrapped
  into (-pi, pi]) add up to +-2 pi;
* ``helicity_modulus``: the per-sample estimator
  Y = 1/(2N) sum_{mu = x, y} [ J sum_i cos(theta_i - theta_{i+mu}) - (J^2 / T) (sum_i sin(theta_i - theta_{i+mu}))^2 ],
  whose ensemble mean is the helicity modulus (the mean of sum sin vanishes by symmetry).  At the
  Kosterlitz-Thouless temperature T_KT ~ 0.893 J it jumps from 2 T_KT / pi to 0 (infinite L).

The transition has no local order parameter, so labels are -1 (``critical_temperature`` is
None); T_KT = 0.8929 J (Hasenbusch 2005) is recorded as the attribute ``T_KT_reference``.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
from fieldnet.simulations.base import LatticeModel
from fieldnet.simulations.clusters import staggered_sites
from fieldnet.simulations.rng import next_double, next_u64
from fieldnet.simulations.rounds import SquareLatticeSweeper
from numba import njit, prange, uint64

from fieldnet.errors import FieldnetError

#: Kosterlitz-Thouless temperature of the square-lattice XY model, units of J (Hasenbusch,
#: J. Phys. A 38, 5869 (2005): T_KT = 0.8929(1))
T_KT = 0.8929
#: overrelaxation sweeps after each Metropolis sweep
OVERRELAXATION_SWEEPS = 2
#: ``auto`` uses Wolff for these T / J (measured, L = 24: Wolff delivers more samples/s from
#: 0.6 to 2.0 J, Metropolis + overrelaxation at 0.4 J)
AUTO_WOLFF_T_OVER_J = (0.5, 2.0)
WOLFF_REPLICAS = 8
METROPOLIS_REPLICAS = 16
METROPOLIS = 0
WOLFF = 1
TWO_PI = 2.0 * math.pi


def metropolis_step(temperature: float, J: float) -> float:
    """Half-width delta of the Metropolis angle proposal: pi min(1, T / |J|)."""
    return math.pi * min(1.0, temperature / abs(J))


@njit(inline="always", cache=True)
def _local_field(sx, sy, nbr, i):
    hx = 0.0
    hy = 0.0
    for d in range(nbr.shape[1]):
        j = nbr[i, d]
        hx += sx[j]
        hy += sy[j]
    return hx, hy


@njit(inline="always", cache=True)
def _metropolis_overrelax_sweep(sx, sy, rng, r, nbr, order, step, n_overrelax, beta_j):
    """One Metropolis sweep (rotate by d, |d| <= step) then ``n_overrelax`` overrelaxation
    sweeps (reflect s_i about its local field h_i: s -> 2 (s.h) h / |h|^2 - s, no trigonometry);
    returns the accepted Metropolis moves."""
    accepted = 0
    for k in range(order.shape[0]):
        i = order[k]
        hx, hy = _local_field(sx, sy, nbr, i)
        d = step * (2.0 * next_double(rng, r) - 1.0)
        c = math.cos(d)
        s = math.sin(d)
        x0 = sx[i]
        y0 = sy[i]
        x1 = c * x0 - s * y0
        y1 = s * x0 + c * y0
        # -beta dE = beta J h . (s_new - s_old)
        x = beta_j * (hx * (x1 - x0) + hy * (y1 - y0))
        if x >= 0.0 or next_double(rng, r) < math.exp(x):
            norm = 1.0 / math.sqrt(x1 * x1 + y1 * y1)  # keep |s| = 1 against rounding drift
            sx[i] = x1 * norm
            sy[i] = y1 * norm
            accepted += 1
    for _ in range(n_overrelax):
        for k in range(order.shape[0]):
            i = order[k]
            hx, hy = _local_field(sx, sy, nbr, i)
            h2 = hx * hx + hy * hy
            if h2 > 0.0:  # a vanishing field leaves the reflection undefined
                f = 2.0 * (sx[i] * hx + sy[i] * hy) / h2
                sx[i] = f * hx - sx[i]
                sy[i] = f * hy - sy[i]
    return accepted


@njit(inline="always", cache=True)
def _wolff_sweep(sx, sy, stamp, stack, cluster_id, rng, r, nbr, two_beta_j, n_clusters):
    """``n_clusters`` embedded-Ising clusters (or, with n_clusters == 0, clusters until N spins
    were reflected: calibration only).  Returns (clusters, spins reflected)."""
    N = sx.shape[0]
    z = nbr.shape[1]
    clusters = 0
    reflected = 0
    while (n_clusters == 0 and reflected < N) or (n_clusters > 0 and clusters < n_clusters):
        clusters += 1
        alpha = TWO_PI * next_double(rng, r)
        rx = math.cos(alpha)
        ry = math.sin(alpha)
        cluster_id[r] += 1
        cid = cluster_id[r]
        seed_site = int(next_u64(rng, r) % uint64(N))
        stamp[seed_site] = cid
        stack[0] = seed_site
        head = 0
        tail = 1
        while head < tail:
            i = stack[head]
            head += 1
            pi_ = sx[i] * rx + sy[i] * ry  # projections are read before any reflection
            for d in range(z):
                j = nbr[i, d]
                if stamp[j] != cid:
                    x = two_beta_j * pi_ * (sx[j] * rx + sy[j] * ry)
                    if x > 0.0 and next_double(rng, r) < -math.expm1(-x):
                        stamp[j] = cid
                        stack[tail] = j
                        tail += 1
        # reflect the cluster across the line perpendicular to r: s -> s - 2 (s . r) r
        for k in range(tail):
            i = stack[k]
            p = 2.0 * (sx[i] * rx + sy[i] * ry)
            sx[i] -= p * rx
            sy[i] -= p * ry
        reflected += tail
    return clusters, reflected


@njit(inline="always", cache=True)
def _global_o2(sx, sy, rng, r):
    """Apply one uniformly random element of O(2) to every spin of replica r: a reflection
    (theta -> -theta) with probability 1/2, then a rotation by an angle uniform in [0, 2 pi).
    H depends on angle differences only, so the move is an exact symmetry that keeps the
    Boltzmann weight and is reversed by the inverse element with the same (Haar) probability:
    detailed balance."""
    alpha = TWO_PI * next_double(rng, r)
    c = math.cos(alpha)
    s = math.sin(alpha)
    mirror = 1.0 - 2.0 * float(next_u64(rng, r) >> uint64(63))
    for i in range(sx.shape[0]):
        x = sx[i]
        y = mirror * sy[i]
        sx[i] = c * x - s * y
        sy[i] = s * x + c * y


@njit(inline="always", cache=True)
def _angle_from_to(sx, sy, a, b):
    """theta_b - theta_a in (-pi, pi]."""
    return math.atan2(sx[a] * sy[b] - sy[a] * sx[b], sx[a] * sx[b] + sy[a] * sy[b])


@njit(inline="always", cache=True)
def xy_observables(sx, sy, nbr, J, beta):
    """(energy, |m|, vorticity, helicity-modulus estimator), all per site, of unit spins
    (sx, sy) (N,) each, on the square torus (``nbr[:, 0]`` right, ``nbr[:, 1]`` down)."""
    N = sx.shape[0]
    cos_sum = 0.0
    sin_x = 0.0
    sin_y = 0.0
    mx = 0.0
    my = 0.0
    vortices = 0
    for i in range(N):
        mx += sx[i]
        my += sy[i]
        right = nbr[i, 0]
        down = nbr[i, 1]
        # cos and sin of theta_i - theta_j from dot and cross products
        cos_sum += sx[i] * sx[right] + sy[i] * sy[right] + sx[i] * sx[down] + sy[i] * sy[down]
        sin_x += sy[i] * sx[right] - sx[i] * sy[right]
        sin_y += sy[i] * sx[down] - sx[i] * sy[down]
        # plaquette i -> right -> right-down -> down -> i
        corner = nbr[right, 1]
        winding = (_angle_from_to(sx, sy, i, right) + _angle_from_to(sx, sy, right, corner)
                   + _angle_from_to(sx, sy, corner, down) + _angle_from_to(sx, sy, down, i))
        if abs(winding) > math.pi:
            vortices += 1
    energy = -J * cos_sum / N
    magnetization = math.sqrt(mx * mx + my * my) / N
    helicity = (J * cos_sum - beta * J * J * (sin_x * sin_x + sin_y * sin_y)) / (2.0 * N)
    return energy, magnetization, vortices / N, helicity


@njit(parallel=True, cache=True)
def xy_run(spins, rng, nbr, order, algorithm, step, n_overrelax, J, temperature, n_clusters, sweeps_per_round,
           stamp, cluster_id, stack, observables, configs, moves, clusters_out):  # pragma: no cover - compiled
    """Rounds of ``sweeps_per_round`` sweeps, each followed by a random global O(2) move
    (:func:`_global_o2`: local updates of an ordered replica turn its magnetisation only
    slowly), a measurement and, when ``configs`` has rounds, a float32 copy; replicas in
    parallel.

    Args:
        spins: (R, 2, N) float64 unit vectors (cos theta, sin theta), updated in place.
        rng: (R, 4) uint64, one stream per replica.
        nbr: (N, 4) int32 square-torus neighbours (right, down, left, up); order: (N,) int32.
        algorithm: METROPOLIS (0, with overrelaxation) or WOLFF (1).
        step: Metropolis half-width; n_overrelax: overrelaxation sweeps per sweep.
        J, temperature: coupling and T (units of J/k_B).
        n_clusters: Wolff clusters per sweep (0: calibration, clusters until N reflected).
        sweeps_per_round: sweeps between measurements.
        stamp: (R, N) int64 cluster marks; cluster_id: (R,) int64; stack: (R, N) int32 scratch.
        observables: (4, n_rounds, R) float64 energy, |m|, vorticity, helicity, overwritten.
        configs: (n_rounds, R, 2, N) float32 copies, or (0, R, 2, N) for none.
        moves: (R,) int64 += accepted Metropolis moves (Wolff: spins reflected).
        clusters_out: (R,) int64 += Wolff clusters grown.
    """
    R = spins.shape[0]
    n_rounds = observables.shape[1]
    store = configs.shape[0] > 0
    beta = 1.0 / temperature
    for r in prange(R):
        sx = spins[r, 0]
        sy = spins[r, 1]
        count = 0
        grown = 0
        for k in range(n_rounds):
            for _ in range(sweeps_per_round):
                if algorithm == METROPOLIS:
                    count += _metropolis_overrelax_sweep(sx, sy, rng, r, nbr, order, step, n_overrelax, beta * J)
                else:
                    c, f = _wolff_sweep(sx, sy, stamp[r], stack[r], cluster_id, rng, r, nbr, 2.0 * beta * J, n_clusters)
                    grown += c
                    count += f
            if sweeps_per_round > 0:
                _global_o2(sx, sy, rng, r)
            e, m, v, y = xy_observables(sx, sy, nbr, J, beta)
            observables[0, k, r] = e
            observables[1, k, r] = m
            observables[2, k, r] = v
            observables[3, k, r] = y
            if store:
                for i in range(sx.shape[0]):
                    configs[k, r, 0, i] = sx[i]
                    configs[k, r, 1, i] = sy[i]
        moves[r] += count
        clusters_out[r] += grown


OBSERVABLES = ("energy", "magnetization", "vorticity", "helicity_modulus")


class XYSweeper(SquareLatticeSweeper):
    """Sweeper (see :mod:`fieldnet.simulations.sampling`) of the XY model.

    Args:
        J: coupling; algorithm: "metropolis" (with overrelaxation) or "wolff".
        n_overrelax: overrelaxation sweeps after each Metropolis sweep.
    """

    observables: ClassVar[tuple[str, ...]] = OBSERVABLES

    def __init__(self, J: float, algorithm: str, n_overrelax: int = OVERRELAXATION_SWEEPS):
        self.J = float(J)
        self.algorithm = algorithm
        self.n_overrelax = int(n_overrelax)

    def _model_state(self, state: dict[str, Any], temperature: float, n_replicas: int) -> dict[str, Any]:
        L = state["L"]
        N = L * L
        spins = np.zeros((n_replicas, 2, N))
        spins[:, 0] = 1.0  # ordered start: all spins along x (staggered for an antiferromagnet)
        if self.J < 0:
            spins[:, 0, staggered_sites(L, state["order"])] = -1.0
        return {
            "temperature": float(temperature),
            "spins": spins,
            "step": metropolis_step(temperature, self.J),
            "stamp": np.zeros((n_replicas, N), dtype=np.int64),
            "cluster_id": np.zeros(n_replicas, dtype=np.int64),
            "stack": np.empty((n_replicas, N), dtype=np.int32),
            "n_clusters": 0,
            "moves": np.zeros(n_replicas, dtype=np.int64),
            "clusters": np.zeros(n_replicas, dtype=np.int64),
        }

    def _clusters_per_sweep(self, state: dict[str, Any]) -> int:
        # moves: spins reflected
        N = state["L"] ** 2
        return self._calibrated_clusters(state, N, lambda s: (s["moves"].sum(), s["clusters"].sum()))

    def _run(self, state: dict[str, Any], n_rounds: int, sweeps_per_round: int, store: bool):
        R, _, N = state["spins"].shape
        observables = np.empty((4, n_rounds, R))
        configs = np.empty((n_rounds if store else 0, R, 2, N), dtype=np.float32)
        state["moves"][:] = 0
        state["clusters"][:] = 0
        xy_run(state["spins"], state["rng"], state["nbr"], state["order"],
               METROPOLIS if self.algorithm == "metropolis" else WOLFF, state["step"], self.n_overrelax, self.J,
               state["temperature"], int(state["n_clusters"]), int(sweeps_per_round), state["stamp"], state["cluster_id"],
               state["stack"], observables, configs, state["moves"], state["clusters"])
        total = n_rounds * sweeps_per_round * R * N
        acceptance = float(state["moves"].sum()) / total if self.algorithm == "metropolis" and total else float("nan")
        return configs, observables, acceptance

    def _stored(self, state: dict[str, Any], configs: np.ndarray) -> np.ndarray:
        """(n_rounds, R, 2, N) -> (n_rounds, R, 2, L, L) float32."""
        L = state["L"]
        return configs.reshape(configs.shape[0], configs.shape[1], 2, L, L)

    def measure(self, state: dict[str, Any]) -> dict[str, np.ndarray]:
        beta = 1.0 / state["temperature"]
        values = np.array([xy_observables(s[0], s[1], state["nbr"], self.J, beta) for s in state["spins"]])
        return {name: values[:, k] for k, name in enumerate(OBSERVABLES)}

    def configs(self, state: dict[str, Any]) -> np.ndarray:
        spins = state["spins"]
        L = state["L"]
        return spins.astype(np.float32).reshape(spins.shape[0], 2, L, L)


class XY(LatticeModel):
    """XY model on the square torus, H = -J sum_<ij> cos(theta_i - theta_j)."""

    name: ClassVar[str] = "xy"
    parameters: ClassVar[dict[str, tuple[Any, str]]] = {
        "J": (1.0, "nearest-neighbour coupling in units of k_B (J > 0 ferromagnet)"),
    }
    ndim: ClassVar[int] = 2
    channel_names: ClassVar[tuple[str, ...]] = ("cos_theta", "sin_theta")
    dtype: ClassVar[str] = "float32"
    observables: ClassVar[tuple[str, ...]] = OBSERVABLES
    algorithms: ClassVar[tuple[str, ...]] = ("metropolis", "wolff")

    def __init__(self, J: float = 1.0):
        if J == 0.0:
            raise FieldnetError("XY J = 0 leaves the spins independent; give --param J=1")
        self.J = float(J)

    def critical_temperature(self) -> float | None:
        """None: the BKT transition has no local order parameter; labels are -1 (see T_KT)."""
        return None

    def reference_temperature(self) -> float | None:
        """T_KT = 0.8929 J of the ferromagnet (no label, but the grid belongs around it)."""
        return T_KT * self.J if self.J > 0 else None

    @property
    def nu_source(self) -> str:
        """Why :meth:`nu_reference` is None."""
        return "none: Kosterlitz-Thouless transition, the correlation length diverges exponentially, not as a power"

    def attrs(self) -> dict[str, Any]:
        return {
            "model": self.name,
            "J": self.J,
            "lattice": "square",
            "hamiltonian": "H = -J sum_<ij> cos(theta_i - theta_j)",
            "Tc": float("nan"),
            "Tc_source": "none: Kosterlitz-Thouless transition, no label (see T_KT_reference)",
            "T_KT_reference": T_KT * abs(self.J),
            "T_KT_source": "Hasenbusch, J. Phys. A 38, 5869 (2005): T_KT = 0.8929(1) J; helicity modulus jumps to 2 T_KT / pi",
            "overrelaxation_sweeps": OVERRELAXATION_SWEEPS,
            "global_moves": "a random O(2) rotation and reflection of all spins every round of sweeps",
            "sweep_unit": f"one Metropolis sweep = L^2 attempted rotations followed by {OVERRELAXATION_SWEEPS} overrelaxation "
            "sweeps; one Wolff sweep = a fixed number of embedded clusters (calibrated per point) reflecting about L^2 spins",
        }

    def resolve_algorithm(self, algorithm: str, temperature: float) -> str:
        """The update ``algorithm`` means at ``temperature`` ("auto": Wolff near T_KT)."""
        if algorithm == "auto":
            low, high = AUTO_WOLFF_T_OVER_J
            return "wolff" if self.J > 0 and low <= temperature / self.J <= high else "metropolis"
        return self.known_algorithm(algorithm)

    def sweeper(self, algorithm: str, n_samples: int) -> tuple[XYSweeper, int]:
        """The sweeper of a resolved ``algorithm`` and its number of replicas."""
        cap = WOLFF_REPLICAS if algorithm == "wolff" else METROPOLIS_REPLICAS
        return XYSweeper(self.J, algorithm), max(1, min(cap, n_samples))


MODEL = XY
