"""Real scalar phi^4 field theory on the L x L square torus.

Action S = sum_x [ 1/2 sum_mu (phi_{x+mu} - phi_x)^2 + 1/2 mu0^2 phi_x^2 + lambda/4 phi_x^4 ],
sampled with weight exp(-S / T).  T = 1 is the usual field theory; rescaling phi -> sqrt(T) phi
shows that T acts as an effective quartic coupling lambda T at fixed mu0^2, so with mu0^2 < 0 a
temperature scan crosses from the ordered (Ising-like, phi of one sign) to the disordered phase.
Where the transition lies depends on (mu0^2, lambda) and is not known to the program: labels are
-1 (find it with learning by confusion, or from the Binder cumulant of ``magnetization``).

Stored as one float32 channel (phi).  Updates, one replica a thread, per-replica xoshiro256**
streams (files identical at any thread count):

* **metropolis**: phi_x -> phi_x + d, d uniform in [-delta, delta], delta = sqrt(T), site by site
  (checkerboard order for even L, typewriter for odd L);
* **hmc**: one hybrid Monte Carlo trajectory per sweep: Gaussian momenta, ``hmc_steps``
  leapfrog steps of size 1 / hmc_steps (trajectory length 1), accepted with min(1, exp(-dH));
  dH = O(step^2) for the second-order leapfrog integrator;
* **wolff**: a Metropolis sweep followed by Brower-Tamayo embedded clusters (Brower and Tamayo,
  PRL 62, 1087 (1989)): the signs of phi are an Ising model with couplings phi_x phi_y / T;
  clusters of equal sign grow through bond (x, y) with probability 1 - exp(-2 phi_x phi_y / T)
  and flip phi -> -phi (|phi| and hence the local terms unchanged).  A fixed number of clusters
  per sweep, calibrated once per point to flip about L^2 sites.

All three end every round of sweeps (every stored sample, and every pilot measurement) with the
global sign flip phi -> -phi with probability 1/2, an exact symmetry of S: in the ordered phase
Metropolis and HMC never cross between the two wells, and with the flip the sign of m is
uniform and independent between samples.

``auto`` uses ``wolff`` (it beats critical slowing down wherever the sign is what decorrelates
slowly).

Usable temperatures (outside them the campaign refuses to start): ``hmc`` from the lowest T at
which a trajectory is still accepted at least once in the longest pilot (:func:`hmc_lowest_temperature`;
below it every trajectory would be rejected and the field would stay at its start);
``metropolis`` and ``wolff`` (lambda > 0) up to T = 4 * 16384^4 / lambda, above which the step
sqrt(T) is so much wider than the field's spread (4 T / lambda)^(1/4) that no proposal is
accepted.

Observables per sample: ``energy`` = S / N (action per site), ``magnetization`` = sum phi / N,
``phi_squared`` = sum phi^2 / N.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
from fieldnet.simulations.base import LatticeModel, TemperatureRange
from fieldnet.simulations.rng import next_double, next_u64
from fieldnet.simulations.rounds import SquareLatticeSweeper
from fieldnet.simulations.sampling import DEFAULT_MAX_PILOT
from numba import njit, prange, uint64

from fieldnet.errors import FieldnetError

METROPOLIS = 0
HMC = 1
WOLFF = 2
ALGORITHM_CODES = {"metropolis": METROPOLIS, "hmc": HMC, "wolff": WOLFF}
REPLICAS = {"metropolis": 16, "hmc": 16, "wolff": 8}
OBSERVABLES = ("energy", "magnetization", "phi_squared")
#: lattice dimension (the square torus)
DIM = 2
#: the mean HMC energy error <dH> at which erfc(sqrt(<dH>) / 2), the acceptance, is 1 / 16384
#: (one trajectory in the longest pilot): (2 erfcinv(2**-14))^2
HMC_MAX_MEAN_ENERGY_ERROR = 32.14


@njit(inline="always", cache=True)
def _gaussian(rng, r):
    """Standard normal variate (Box-Muller; one of the pair)."""
    u1 = 1.0 - next_double(rng, r)  # (0, 1]
    u2 = next_double(rng, r)
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


@njit(inline="always", cache=True)
def phi4_action(phi, nbr, mu0sq, lam):
    """(S, sum phi, sum phi^2) of the flat field ``phi`` (N,) (nbr[:, :2] the forward bonds)."""
    N = phi.shape[0]
    half = nbr.shape[1] // 2
    s = 0.0
    m = 0.0
    p2 = 0.0
    for i in range(N):
        f = phi[i]
        f2 = f * f
        m += f
        p2 += f2
        s += 0.5 * mu0sq * f2 + 0.25 * lam * f2 * f2
        for d in range(half):
            g = phi[nbr[i, d]] - f
            s += 0.5 * g * g
    return s, m, p2


@njit(inline="always", cache=True)
def _local_action(f, neighbour_sum, mu0sq, lam):
    """The part of S that depends on phi_x = f: (d + mu0^2/2) f^2 + lambda/4 f^4 - f sum_y phi_y."""
    f2 = f * f
    return (DIM + 0.5 * mu0sq) * f2 + 0.25 * lam * f2 * f2 - f * neighbour_sum


@njit(inline="always", cache=True)
def _metropolis_sweep(phi, rng, r, nbr, order, mu0sq, lam, beta, step):
    z = nbr.shape[1]
    accepted = 0
    for k in range(order.shape[0]):
        i = order[k]
        nsum = 0.0
        for d in range(z):
            nsum += phi[nbr[i, d]]
        old = phi[i]
        new = old + step * (2.0 * next_double(rng, r) - 1.0)
        x = -beta * (_local_action(new, nsum, mu0sq, lam) - _local_action(old, nsum, mu0sq, lam))
        if x >= 0.0 or next_double(rng, r) < math.exp(x):
            phi[i] = new
            accepted += 1
    return accepted


@njit(inline="always", cache=True)
def _force(phi, nbr, mu0sq, lam, beta, out):
    """out = -d(S/T)/d phi."""
    z = nbr.shape[1]
    for i in range(phi.shape[0]):
        f = phi[i]
        nsum = 0.0
        for d in range(z):
            nsum += phi[nbr[i, d]]
        out[i] = -beta * ((2.0 * DIM + mu0sq) * f + lam * f * f * f - nsum)


@njit(inline="always", cache=True)
def hmc_trajectory(phi, momentum, saved, force, rng, r, nbr, mu0sq, lam, beta, n_steps):
    """One HMC trajectory (length 1, ``n_steps`` leapfrog steps) of replica r, accepted with
    min(1, exp(-dH)).  Returns (accepted 0/1, dH)."""
    N = phi.shape[0]
    eps = 1.0 / n_steps
    kinetic = 0.0
    for i in range(N):
        p = _gaussian(rng, r)
        momentum[i] = p
        kinetic += 0.5 * p * p
        saved[i] = phi[i]
    h_old = kinetic + beta * phi4_action(phi, nbr, mu0sq, lam)[0]
    _force(phi, nbr, mu0sq, lam, beta, force)
    for i in range(N):
        momentum[i] += 0.5 * eps * force[i]
    for step in range(n_steps):
        for i in range(N):
            phi[i] += eps * momentum[i]
        _force(phi, nbr, mu0sq, lam, beta, force)
        factor = eps if step < n_steps - 1 else 0.5 * eps
        for i in range(N):
            momentum[i] += factor * force[i]
    kinetic = 0.0
    for i in range(N):
        kinetic += 0.5 * momentum[i] * momentum[i]
    dH = kinetic + beta * phi4_action(phi, nbr, mu0sq, lam)[0] - h_old
    if dH <= 0.0 or next_double(rng, r) < math.exp(-dH):
        return 1, dH
    for i in range(N):
        phi[i] = saved[i]
    return 0, dH


@njit(inline="always", cache=True)
def _embedded_cluster(phi, stack, rng, r, nbr, two_beta):
    """One Brower-Tamayo cluster flipped in place; returns its size."""
    N = phi.shape[0]
    z = nbr.shape[1]
    seed_site = int(next_u64(rng, r) % uint64(N))
    positive = phi[seed_site] > 0.0
    phi[seed_site] = -phi[seed_site]
    stack[0] = seed_site
    head = 0
    tail = 1
    while head < tail:
        i = stack[head]
        head += 1
        fi = -phi[i]  # its value before the flip
        for d in range(z):
            j = nbr[i, d]
            fj = phi[j]
            # a site still of the seed's original sign is not in the cluster yet
            if (fj > 0.0) == positive and fj != 0.0:
                x = two_beta * fi * fj
                if next_double(rng, r) < -math.expm1(-x):
                    phi[j] = -fj
                    stack[tail] = j
                    tail += 1
    return tail


@njit(parallel=True, cache=True)
def phi4_run(phi_all, rng, nbr, order, algorithm, mu0sq, lam, temperature, step, hmc_steps, n_clusters,
             sweeps_per_round, stack, scratch, observables, configs, moves, clusters_out, hmc_sums):  # pragma: no cover - compiled
    """Rounds of ``sweeps_per_round`` sweeps, each followed by a random global sign flip
    (probability 1/2: local and HMC updates of an ordered replica never cross between the two
    wells), a measurement and, when ``configs`` has rounds, a copy; replicas in parallel.

    Args:
        phi_all: (R, N) float64 fields, updated in place.
        rng: (R, 4) uint64, one stream per replica.
        nbr: (N, 4) int32 square-torus neighbours (right, down first); order: (N,) int32.
        algorithm: METROPOLIS, HMC or WOLFF; mu0sq, lam, temperature: the couplings and T.
        step: Metropolis half-width; hmc_steps: leapfrog steps per trajectory.
        n_clusters: embedded clusters per sweep (WOLFF; 0 = until N sites flipped, calibration).
        sweeps_per_round: sweeps between measurements.
        stack: (R, N + 4) int32; scratch: (R, 3, N) float64 (HMC momenta, saved field, force).
        observables: (3, n_rounds, R) float64 S/N, sum phi / N, sum phi^2 / N, overwritten.
        configs: (n_rounds, R, N) float32 copies, or (0, R, N) for none.
        moves: (R,) int64 += accepted Metropolis moves or HMC trajectories.
        clusters_out: (R, 2) int64 += clusters grown, sites flipped.
        hmc_sums: (R, 2) float64 += sum over trajectories of exp(-dH) and of dH (diagnostics:
            <exp(-dH)> = 1 exactly, and the acceptance is about erfc(sqrt(<dH>) / 2)).
    """
    R, N = phi_all.shape
    n_rounds = observables.shape[1]
    store = configs.shape[0] > 0
    beta = 1.0 / temperature
    for r in prange(R):
        phi = phi_all[r]
        count = 0
        grown = 0
        flipped = 0
        sum_boltzmann = 0.0
        sum_dh = 0.0
        for k in range(n_rounds):
            for _ in range(sweeps_per_round):
                if algorithm == HMC:
                    a, dH = hmc_trajectory(phi, scratch[r, 0], scratch[r, 1], scratch[r, 2], rng, r, nbr, mu0sq, lam, beta, hmc_steps)
                    count += a
                    sum_boltzmann += math.exp(-dH)
                    sum_dh += dH
                else:
                    count += _metropolis_sweep(phi, rng, r, nbr, order, mu0sq, lam, beta, step)
                    if algorithm == WOLFF:
                        c = 0
                        f = 0
                        while (n_clusters == 0 and f < N) or (n_clusters > 0 and c < n_clusters):
                            f += _embedded_cluster(phi, stack[r], rng, r, nbr, 2.0 * beta)
                            c += 1
                        grown += c
                        flipped += f
            # the global sign flip: an exact symmetry of S, kept with probability 1/2 (its own reverse)
            if sweeps_per_round > 0 and (next_u64(rng, r) >> uint64(63)) == uint64(1):
                for i in range(N):
                    phi[i] = -phi[i]
            s, m, p2 = phi4_action(phi, nbr, mu0sq, lam)
            observables[0, k, r] = s / N
            observables[1, k, r] = m / N
            observables[2, k, r] = p2 / N
            if store:
                for i in range(N):
                    configs[k, r, i] = phi[i]
        moves[r] += count
        clusters_out[r, 0] += grown
        clusters_out[r, 1] += flipped
        hmc_sums[r, 0] += sum_boltzmann
        hmc_sums[r, 1] += sum_dh


def hmc_lowest_temperature(L: int, mu0sq: float, lam: float, hmc_steps: int) -> float:
    """The lowest T (units of the action) where HMC trajectories of ``hmc_steps`` leapfrog steps
    of size eps = 1 / hmc_steps are accepted at least once in DEFAULT_MAX_PILOT, in the harmonic
    approximation about the classical minimum (fluctuations only stiffen the field, so the true
    acceptance is lower still).

    The modes of the L x L torus have omega_k^2 = (lambda_k + kappa) / T, lambda_k = 4 - 2 cos k_x
    - 2 cos k_y the lattice Laplacian and kappa the curvature of the on-site potential at its
    minimum (mu0^2, or -2 mu0^2 in a double well).  The leapfrog is unstable where
    eps omega_max >= 2; below that the mean energy error is <dH> = sum_k (eps omega_k)^4 / 32
    (averaged over the trajectory's phase) and the acceptance erfc(sqrt(<dH>) / 2).
    """
    kappa = -2.0 * mu0sq if (mu0sq < 0 and lam > 0) else mu0sq
    k = 2.0 * np.pi * np.arange(L) / L
    stiffness = (4.0 - 2.0 * np.cos(k)[:, None] - 2.0 * np.cos(k)[None, :]) + kappa
    eps = 1.0 / hmc_steps
    stable = eps**2 * float(stiffness.max()) / 4.0
    accepted = eps**2 * math.sqrt(float(np.sum(stiffness**2)) / (32.0 * HMC_MAX_MEAN_ENERGY_ERROR))
    return max(stable, accepted)


class Phi4Sweeper(SquareLatticeSweeper):
    """Sweeper (see :mod:`fieldnet.simulations.sampling`) of the phi^4 field.

    Args:
        mu0sq, lam: couplings; algorithm: "metropolis", "hmc" or "wolff"; hmc_steps: leapfrog steps.
    """

    observables: ClassVar[tuple[str, ...]] = OBSERVABLES

    def __init__(self, mu0sq: float, lam: float, algorithm: str, hmc_steps: int):
        self.mu0sq = float(mu0sq)
        self.lam = float(lam)
        self.algorithm = algorithm
        self.hmc_steps = int(hmc_steps)

    def _model_state(self, state: dict[str, Any], temperature: float, n_replicas: int) -> dict[str, Any]:
        N = state["L"] ** 2
        # ordered start at the classical minimum sqrt(-mu0^2 / lambda) (or 0 without one)
        start = math.sqrt(-self.mu0sq / self.lam) if self.mu0sq < 0 and self.lam > 0 else 0.0
        return {
            "temperature": float(temperature),
            "phi": np.full((n_replicas, N), start),
            "step": math.sqrt(temperature),
            "stack": np.empty((n_replicas, N + 4), dtype=np.int32),
            "scratch": np.empty((n_replicas, 3, N)) if self.algorithm == "hmc" else np.empty((n_replicas, 3, 1)),
            "n_clusters": 0,
            "moves": np.zeros(n_replicas, dtype=np.int64),
            "clusters": np.zeros((n_replicas, 2), dtype=np.int64),
            "hmc_sums": np.zeros((n_replicas, 2)),
            "trajectories": 0,
        }

    def _clusters_per_sweep(self, state: dict[str, Any]) -> int:
        N = state["L"] ** 2
        return self._calibrated_clusters(state, N, lambda s: (s["clusters"][:, 1].sum(), s["clusters"][:, 0].sum()))

    def _run(self, state: dict[str, Any], n_rounds: int, sweeps_per_round: int, store: bool):
        R, N = state["phi"].shape
        observables = np.empty((3, n_rounds, R))
        configs = np.empty((n_rounds if store else 0, R, N), dtype=np.float32)
        state["moves"][:] = 0
        state["clusters"][:] = 0
        phi4_run(state["phi"], state["rng"], state["nbr"], state["order"], ALGORITHM_CODES[self.algorithm], self.mu0sq,
                 self.lam, state["temperature"], state["step"], self.hmc_steps, int(state["n_clusters"]),
                 int(sweeps_per_round), state["stack"], state["scratch"], observables, configs, state["moves"],
                 state["clusters"], state["hmc_sums"])
        updates = n_rounds * sweeps_per_round * R
        state["trajectories"] += updates if self.algorithm == "hmc" else 0
        acceptance = float(state["moves"].sum()) / (updates if self.algorithm == "hmc" else updates * N)
        return configs, observables, acceptance

    def _stored(self, state: dict[str, Any], configs: np.ndarray) -> np.ndarray:
        """(n_rounds, R, N) -> (n_rounds, R, 1, L, L) float32."""
        L = state["L"]
        return configs.reshape(configs.shape[0], configs.shape[1], 1, L, L)

    def measure(self, state: dict[str, Any]) -> dict[str, np.ndarray]:
        N = state["phi"].shape[1]
        values = np.array([phi4_action(phi, state["nbr"], self.mu0sq, self.lam) for phi in state["phi"]]) / N
        return {name: values[:, k] for k, name in enumerate(OBSERVABLES)}

    def configs(self, state: dict[str, Any]) -> np.ndarray:
        L = state["L"]
        return state["phi"].astype(np.float32).reshape(-1, 1, L, L)


class Phi4(LatticeModel):
    """Real scalar phi^4 field on the square torus, weight exp(-S/T), S = sum_x [...] (module doc).

    S = sum_x [1/2 sum_mu (phi_{x+mu} - phi_x)^2 + 1/2 mu0^2 phi^2 + lambda/4 phi^4].
    """

    name: ClassVar[str] = "phi4"
    parameters: ClassVar[dict[str, tuple[Any, str]]] = {
        "mu0sq": (-1.0, "bare mass squared mu0^2 (negative: double-well potential, an ordered phase at low T)"),
        "lam": (1.0, "quartic coupling lambda > 0 of the lambda/4 phi^4 term"),
        "hmc_steps": (10, "leapfrog steps per HMC trajectory of length 1 (--algorithm hmc)"),
    }
    ndim: ClassVar[int] = 2
    channel_names: ClassVar[tuple[str, ...]] = ("phi",)
    dtype: ClassVar[str] = "float32"
    observables: ClassVar[tuple[str, ...]] = OBSERVABLES
    algorithms: ClassVar[tuple[str, ...]] = ("metropolis", "hmc", "wolff")

    def __init__(self, mu0sq: float = -1.0, lam: float = 1.0, hmc_steps: int = 10):
        if lam < 0 or (lam == 0 and mu0sq <= 0):
            raise FieldnetError(
                f"phi4 needs lambda > 0 (or lambda = 0 with mu0sq > 0) for a bounded action, got lam={lam}, mu0sq={mu0sq}; "
                "give --param lam=1 (for example)"
            )
        if int(hmc_steps) < 1:
            raise FieldnetError(f"phi4 hmc_steps must be at least 1, got {hmc_steps}; give --param hmc_steps=10 (for example)")
        self.mu0sq = float(mu0sq)
        self.lam = float(lam)
        self.hmc_steps = int(hmc_steps)

    def nu_reference(self) -> float | None:
        """nu = 1 of the 2D Ising universality class where the model orders (mu0sq < 0, lam > 0;
        its Tc is not known exactly), else None."""
        return 1.0 if self.mu0sq < 0 and self.lam > 0 else None

    @property
    def nu_source(self) -> str:
        """Where :meth:`nu_reference` comes from, or why there is none."""
        if self.nu_reference() is None:
            return "none: no ordered phase unless mu0sq < 0 and lam > 0"
        return "2D Ising universality class: nu = 1 (exact); the transition temperature is not known exactly"

    def attrs(self) -> dict[str, Any]:
        return {
            "model": self.name,
            "mu0sq": self.mu0sq,
            "lam": self.lam,
            "hmc_steps": self.hmc_steps,
            "lattice": "square",
            "hamiltonian": "weight exp(-S/T), S = sum_x [1/2 sum_mu (phi_{x+mu} - phi_x)^2 + 1/2 mu0sq phi^2 + lam/4 phi^4]",
            "Tc": float("nan"),
            "Tc_source": "none: the critical point depends on (mu0sq, lam); labels -1",
            "sweep_unit": "metropolis: L^2 attempted moves; hmc: one trajectory of length 1; wolff: a Metropolis sweep "
            "then a fixed number of embedded clusters (calibrated per point) flipping about L^2 sites",
            "global_moves": "phi -> -phi with probability 1/2 every round of sweeps",
        }

    def usable_temperatures(self, L: int, algorithm: str) -> TemperatureRange:
        """Where each update degenerates (module doc, "Usable temperatures")."""
        usable = super().usable_temperatures(L, algorithm)
        if algorithm == "hmc":
            return usable._replace(low=max(usable.low, hmc_lowest_temperature(L, self.mu0sq, self.lam, self.hmc_steps)), below=(
                f"below it the leapfrog step 1/{self.hmc_steps} is too long for the stiffest modes of the field "
                f"(predicted acceptance below 1 in {DEFAULT_MAX_PILOT} trajectories); more --param hmc_steps lowers it "
                "as 1/hmc_steps^2, and --algorithm wolff samples any T"))
        if self.lam > 0:
            return usable._replace(high=min(usable.high, 4.0 * DEFAULT_MAX_PILOT**4 / self.lam), above=(
                "above it the Metropolis step sqrt(T) exceeds the spread (4 T / lam)^(1/4) of the field "
                f"{DEFAULT_MAX_PILOT} times over, so almost no proposal is accepted"))
        return usable

    def resolve_algorithm(self, algorithm: str, temperature: float) -> str:
        """The update ``algorithm`` means ("auto": wolff)."""
        return "wolff" if algorithm == "auto" else self.known_algorithm(algorithm)

    def sweeper(self, algorithm: str, n_samples: int) -> tuple[Phi4Sweeper, int]:
        """The sweeper of a resolved ``algorithm`` and its number of replicas."""
        return Phi4Sweeper(self.mu0sq, self.lam, algorithm, self.hmc_steps), max(1, min(REPLICAS[algorithm], n_samples))


MODEL = Phi4
