"""2D Ising model on an L x L torus: H = -J sum_<ij> s_i s_j - h sum_i s_i,  s_i = +-1.

Two updates, both over many independent replicas at once and both reproducible whatever the
thread count (every random stream belongs to a replica or a replica-row, never to a thread):

**Metropolis, multi-spin coded.**  64 independent replicas live in the 64 bits of one uint64
per site (bit b of ``spins[g, y, x]`` is replica ``64 g + b``; bit set = spin up), so one pass
of bitwise logic updates a site in 64 replicas.  The number of aligned neighbours a = 0..4 is
added bit-sliced; the flip probability min(1, exp(-dE/T)) with dE = 2J(2a-4) + 2h s depends on
the class (s, a) only.  Each replica gets its *own* Bernoulli decision: a uniform 32-bit number
per replica-bit is compared bit-serially with the class threshold, most significant bit first,
drawing one random word per bit position and stopping as soon as every undecided lane is
decided (about 7 words a site instead of 64).  Sites are visited in checkerboard order for even
L (typewriter order for odd L, where the colours are not independent on the torus; every
single-site Metropolis step keeps the Boltzmann distribution, so any fixed order is valid); each
row draws from its own xoshiro256** stream (g*L + y).  Groups of 64 replicas run in parallel,
one parallel region per call: finer-grained parallelism (rows of a colour) pays a barrier per
half-sweep, which costs a scheduler time slice on a loaded machine.
Like every other model's sweeper, both updates are one compiled kernel of rounds of sweeps
(:class:`fieldnet.simulations.rounds.RoundsSweeper`).  With h = 0 every round (every stored
sample, every pilot measurement) ends with a random global spin flip per replica, an exact
symmetry move (for Metropolis kept as a lazy sign mask): ordered replicas then visit both signs
of m independently from sample to sample (Metropolis alone never crosses; Wolff's lattice-sized
clusters in the ordered phase would alternate the sign in a fixed pattern).

**Wolff** single-cluster updates, one byte a spin, one replica a thread (with h != 0 each
cluster is flipped with the Metropolis probability of its field energy).  A Wolff
"sweep" is a fixed number of clusters that flips about L*L spins on average, so tau_int is in
units comparable to Metropolis sweeps.  The number of clusters per sweep is calibrated once, on
equilibrium clusters (the run from the ordered start is discarded), and then fixed (a stopping
rule depending on the flipped count would bias the samples).

``algorithm="auto"`` picks Wolff for 0.85 Tc <= T <= 1.25 Tc when h == 0, and Metropolis
otherwise.  Measured (benchmarks/simulate.py: independent samples delivered per second, burn-in
and pilot included, L = 32 and 64, 2 cores): near Tc critical slowing down makes Metropolis's
tau_int grow like L^2.17 while Wolff's stays O(1) (at Tc, L = 64: ~2000/s against ~30/s); far
from Tc both have tau_int ~ 1 and multi-spin Metropolis, 64 replicas a word, is 1.3-2x faster
(below ~0.85 Tc and above ~1.25 Tc).

Labels use Onsager's Tc = 2|J| / ln(1 + sqrt 2) (h = 0); with h != 0 there is no transition and
labels are -1.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
from fieldnet.simulations.ising_base import IsingModelBase
from fieldnet.simulations.multispin import (
    LANES,
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
from fieldnet.simulations.rng import next_double, next_u64, seeded_states
from fieldnet.simulations.rounds import RoundsSweeper
from numba import njit, prange, uint64

from fieldnet.errors import FieldnetError

ONSAGER_TC = 2.0 / math.log(1.0 + math.sqrt(2.0))
#: ``auto`` uses Wolff for AUTO_WOLFF_T_OVER_TC[0] <= T / Tc <= AUTO_WOLFF_T_OVER_TC[1] (h = 0)
AUTO_WOLFF_T_OVER_TC = (0.85, 1.25)
#: Wolff chains per temperature point (at most; fewer when fewer samples are asked for): few
#: enough that burn-in and pilot, paid per chain, stay a small part of the work
WOLFF_REPLICAS = 8
#: groups of 64 Metropolis replicas per temperature point: two, so that two cores each update a
#: group without synchronising (the count must not depend on the thread count)
METROPOLIS_GROUPS = 2

_ZERO = uint64(0)
_ONE = uint64(1)


# ---------------------------------------------------------------------------------------------
# multi-spin Metropolis


def acceptance_classes(temperature: float, J: float, h: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The Metropolis classes that need a random decision and their bit-sliced thresholds.

    A site's class is (s, a): its spin (0 down, 1 up) and its number of aligned neighbours a.
    dE = 2J(2a - 4) + 2h(2s - 1); the flip probability p = min(1, exp(-dE / T)).

    Returns:
        class_a: (K,) int64 aligned-neighbour count of each random class.
        class_s: (K,) int64 0 = down spins only, 1 = up only, 2 = both (p independent of s).
        threshold_bits: (32, K) uint64, all ones where bit (31 - j) of floor(p * 2**32) is set:
            row j is compared at step j (most significant first).
        thresholds: (K,) uint64 floor(p * 2**32).
    """
    beta = 1.0 / temperature
    p = np.ones((5, 2))
    for a in range(5):
        for s in (0, 1):
            dE = 2.0 * J * (2 * a - 4) + 2.0 * h * (2 * s - 1)
            if dE > 0:
                # exp(-beta dE): exp(-dE / T) can round differently and move a threshold by one
                # unit, which would change every file a seed gives
                p[a, s] = math.exp(-beta * dE)
    return classes_from_probabilities(p)


@njit(inline="always", cache=True)
def _aligned_bits(w, n_up, n_down, n_left, n_right):
    """Bit slices (b0, b1, b2) of each lane's number of neighbours aligned with site word ``w``,
    a = b0 + 2 b1 + 4 b2 = x1 + x2 + x3 + x4 (two half adders and a carry)."""
    x1 = ~(w ^ n_up)
    x2 = ~(w ^ n_down)
    x3 = ~(w ^ n_left)
    x4 = ~(w ^ n_right)
    t1 = x1 ^ x2
    c1 = x1 & x2
    t2 = x3 ^ x4
    c2 = x3 & x4
    b0 = t1 ^ t2
    carry = t1 & t2
    b1 = c1 ^ c2 ^ carry
    b2 = c1 & c2
    return b0, b1, b2


@njit(inline="always", cache=True)
def _flip_mask_ferro(b0, b1, b2, t3, t4, rng, stream):
    """:func:`fieldnet.simulations.multispin.flip_decisions` specialised to J > 0, h = 0, where only
    a = 3 (threshold t3) and a = 4 (t4) need a random decision: the same decisions from the same
    random words, with the threshold bits computed in registers instead of loaded from the class
    tables."""
    m3 = b0 & b1
    m4 = b2
    need = m3 | m4
    less = _ZERO
    undecided = need
    shift = 31
    while undecided != _ZERO and shift >= 0:
        r = next_u64(rng, stream)
        sh = uint64(shift)
        p = (m3 & (_ZERO - ((t3 >> sh) & _ONE))) | (m4 & (_ZERO - ((t4 >> sh) & _ONE)))
        less |= undecided & p & ~r
        undecided &= ~(p ^ r)
        shift -= 1
    return ~need | less


@njit(inline="always", cache=True)
def _sweep_group(spins, g, rng, class_a, class_s, bits, cm):
    """One sweep of group g: checkerboard order for even L (colour 0 then 1, rows in order),
    typewriter order for odd L.  Row y draws from stream g*L + y.  Returns the flips."""
    # the ferromagnet without field has exactly the classes a = 3 and a = 4 (both spins)
    ferro = class_a.shape[0] == 2 and class_a[0] == 3 and class_a[1] == 4 and class_s[0] == 2 and class_s[1] == 2
    t3 = _ZERO
    t4 = _ZERO
    if ferro:
        for j in range(32):
            t3 = (t3 << _ONE) | (bits[j, 0] & _ONE)
            t4 = (t4 << _ONE) | (bits[j, 1] & _ONE)
    L = spins.shape[1]
    count = 0
    step = 2 if L % 2 == 0 else 1
    for color in range(step):
        for y in range(L):
            row = g * L + y
            yu = y - 1 if y > 0 else L - 1
            yd = y + 1 if y < L - 1 else 0
            start = (color + y) & 1 if step == 2 else 0
            for x in range(start, L, step):
                xl = x - 1 if x > 0 else L - 1
                xr = x + 1 if x < L - 1 else 0
                w = spins[g, y, x]
                b0, b1, b2 = _aligned_bits(w, spins[g, yu, x], spins[g, yd, x], spins[g, y, xl], spins[g, y, xr])
                if ferro:
                    f = _flip_mask_ferro(b0, b1, b2, t3, t4, rng, row)
                else:
                    f = flip_decisions(w, b0, b1, b2, class_a, class_s, bits, cm, rng, row)
                spins[g, y, x] = w ^ f
                count += popcount(f)
    return count


@njit(inline="always", cache=True)
def _count_group(spins, g, cu, cb, up, aligned):
    """Per-lane up spins and aligned bonds (right and down neighbours) of group g into
    ``up[64]`` and ``aligned[64]`` (int64), using bit-sliced counters ``cu``, ``cb``."""
    L = spins.shape[1]
    cu[:] = 0
    cb[:] = 0
    for y in range(L):
        yd = y + 1 if y < L - 1 else 0
        for x in range(L):
            xr = x + 1 if x < L - 1 else 0
            w = spins[g, y, x]
            vertical_add(cu, w)
            vertical_add(cb, ~(w ^ spins[g, y, xr]))
            vertical_add(cb, ~(w ^ spins[g, yd, x]))
    lane_totals(cu, cb, up, aligned)


@njit(inline="always", cache=True)
def _unpack_group(spins, g, sign_word, out, round_index):
    """Group g's 64 lanes as +-1 int8 into ``out[round_index, 64 g + b, 0]`` (lanes in
    ``sign_word`` inverted)."""
    L = spins.shape[1]
    for y in range(L):
        for x in range(L):
            w = spins[g, y, x] ^ sign_word
            for b in range(64):
                out[round_index, 64 * g + b, 0, y, x] = np.int8(2 * int((w >> uint64(b)) & _ONE) - 1)


@njit(parallel=True, cache=True)
def multispin2d_run(spins, sign, rng, class_a, class_s, bits, J, h, symmetric, sweeps_per_round,
                    energy, magnetization, configs, flips):  # pragma: no cover - compiled
    """Rounds of ``sweeps_per_round`` sweeps, each followed by a measurement and, when
    ``configs`` has rounds, a copy; groups in parallel, one parallel region a call (on a loaded
    machine every region waits for all its threads to be scheduled, so fewer, longer regions
    are faster).

    With ``symmetric`` (h = 0) every round that sweeps ends with a random global flip per
    replica (one word of the group's first row stream, kept as a lazy sign mask).

    Args:
        spins: (G, L, L) uint64, bit b of group g = replica 64 g + b (1 = up).
        sign: (G,) uint64 lanes whose stored spins are inverted.
        rng: (G L, 4) uint64 xoshiro256** states, one per (group, row).
        class_a, class_s, bits: from :func:`acceptance_classes`.
        J, h: couplings (for the energy); symmetric: apply the global flip.
        sweeps_per_round: sweeps between measurements (0: measure or copy only).
        energy, magnetization: (n_rounds, 64 G) float64 per site, overwritten.
        configs: (n_rounds, 64 G, 1, L, L) int8 +-1, or (0, 64 G, 1, L, L) for none.
        flips: (G,) int64, incremented by the accepted flips.
    """
    G, L = spins.shape[0], spins.shape[1]
    K = class_a.shape[0]
    N = L * L
    n_rounds = energy.shape[0]
    store = configs.shape[0] > 0
    n_bits = counter_bits(2 * N)
    for g in prange(G):
        cm, cu, cb, up, aligned = group_scratch(K, n_bits)
        count = 0
        for k in range(n_rounds):
            for _ in range(sweeps_per_round):
                count += _sweep_group(spins, g, rng, class_a, class_s, bits, cm)
            if symmetric and sweeps_per_round > 0:
                sign[g] ^= next_u64(rng, g * L)
            _count_group(spins, g, cu, cb, up, aligned)
            lane_observables(up, aligned, sign[g], N, 2.0, J, h, energy, magnetization, k, 64 * g)
            if store:
                _unpack_group(spins, g, sign[g], configs, k)
        flips[g] += count


class MultispinMetropolis(MultispinMetropolisBase):
    """Sweeper (see :mod:`fieldnet.simulations.sampling`) for multi-spin coded Metropolis on the
    square torus (:class:`fieldnet.simulations.multispin.MultispinMetropolisBase`).

    The replica count must be a multiple of 64; groups of 64 run in parallel.
    """

    ndim: ClassVar[int] = 2

    def _classes(self, temperature: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        class_a, class_s, bits, _ = acceptance_classes(temperature, self.J, self.h)
        return class_a, class_s, bits

    def _copy_shape(self, L: int) -> tuple[int, ...]:
        return (1, L, L)

    def _kernel(self, *args: Any) -> None:
        multispin2d_run(*args)


# ---------------------------------------------------------------------------------------------
# Wolff


@njit(inline="always", cache=True)
def _wolff_sweep_replica(sp, st, stk, rng, r, cluster_id, add_below, sign_j, nbr, n_clusters, two_beta_h):
    """One Wolff sweep of replica r (flat spins ``sp`` (N,)): grow and flip ``n_clusters``
    single clusters, or, when n_clusters == 0 (calibration only), clusters until at least N
    spins have been flipped.  A satisfied bond joins with probability p_add: the test is
    ``(u >> 11) < add_below`` with add_below = ceil(p_add 2**53), i.e. next_double(u) < p_add.
    With a field (two_beta_h = 2h/T != 0) the cluster, grown from the couplings alone, is flipped
    with the Metropolis probability of its field energy, min(1, exp(-2 h/T sum_cluster s)),
    which keeps detailed balance.  Returns (clusters, spins in the clusters grown)."""
    N = sp.shape[0]
    flipped = 0
    clusters = 0
    while (n_clusters == 0 and flipped < N) or clusters < n_clusters:
        clusters += 1
        seed_site = int(next_u64(rng, r) % uint64(N))
        stk[0] = seed_site
        head = 0
        tail = 1
        if sign_j > 0 and two_beta_h == 0.0:
            # ferromagnet: flip as we add; a cluster site then differs from the cluster's original
            # value, so the value alone says whether a neighbour may still join
            s0 = sp[seed_site]
            sp[seed_site] = -s0
            while head < tail:
                i = stk[head]
                head += 1
                # branch-free: a random number for every neighbour, so that the ~50/50 join
                # decision never costs a branch misprediction (2x faster at Tc)
                for d in range(4):
                    j = nbr[i, d]
                    u = next_u64(rng, r) >> uint64(11)
                    s = sp[j]
                    join = (s == s0) & (u < add_below)
                    stk[tail] = j
                    tail += np.int64(join)
                    sp[j] = s * (1 - 2 * np.int8(join))  # joined sites equal s0: flip them
        else:
            # antiferromagnet (possibly frustrated) or field: membership marks, flip when complete
            cluster_id[r] += 1
            cid = cluster_id[r]
            st[seed_site] = cid
            while head < tail:
                i = stk[head]
                head += 1
                target = sp[i] * sign_j  # neighbours of this value share a satisfied bond
                for d in range(4):
                    j = nbr[i, d]
                    if st[j] != cid and sp[j] == target and (next_u64(rng, r) >> uint64(11)) < add_below:
                        st[j] = cid
                        stk[tail] = j
                        tail += 1
            accept = True
            if two_beta_h != 0.0:
                total = 0
                for k in range(tail):
                    total += sp[stk[k]]
                exponent = two_beta_h * total  # field energy change / T of flipping the cluster
                accept = exponent <= 0.0 or next_double(rng, r) < math.exp(-exponent)
            if accept:
                for k in range(tail):
                    sp[stk[k]] = -sp[stk[k]]
        flipped += tail
    return clusters, flipped


def torus_neighbours(L: int) -> np.ndarray:
    """(L*L, 4) int32 flat indices of the up, down, left and right neighbours on the L x L torus."""
    y, x = np.divmod(np.arange(L * L), L)
    return np.stack(
        [((y - 1) % L) * L + x, ((y + 1) % L) * L + x, y * L + (x - 1) % L, y * L + (x + 1) % L], axis=1
    ).astype(np.int32)


@njit(inline="always", cache=True)
def _byte_observables_replica(sp, L, J, h):
    """(energy per site, magnetisation per site) of flat +-1 spins ``sp`` (L*L,)."""
    bonds = 0
    m = 0
    for y in range(L):
        yd = y + 1 if y < L - 1 else 0
        for x in range(L):
            xr = x + 1 if x < L - 1 else 0
            s = sp[y * L + x]
            bonds += s * (sp[y * L + xr] + sp[yd * L + x])
            m += s
    N = L * L
    return (-J * bonds - h * m) / N, m / N


@njit(parallel=True, cache=True)
def wolff_run(spins, rng, add_below, sign_j, two_beta_h, nbr, n_clusters, J, h, symmetric, sweeps_per_round, stamp,
              cluster_id, stack, energy, magnetization, configs, clusters_out, flipped_out):  # pragma: no cover - compiled
    """Rounds of ``sweeps_per_round`` Wolff sweeps, each followed (``symmetric``, i.e. h = 0)
    by a random global spin flip, a measurement and, when ``configs`` has rounds, a copy;
    replicas in parallel.

    Args:
        spins: (R, L, L) int8 +-1, updated in place.
        rng: (R, 4) uint64, one stream per replica.
        add_below: ceil(p_add * 2**53), p_add = 1 - exp(-2|J|/T) the bond activation probability.
        sign_j: +1 ferromagnet, -1 antiferromagnet; two_beta_h: 2 h / T.
        nbr: (L*L, 4) int32 neighbour table (:func:`torus_neighbours`).
        n_clusters: clusters per sweep (0: until L*L spins flipped; biased, calibration only).
        J, h: couplings (for the energy); symmetric: apply the global flip.
        sweeps_per_round: sweeps between measurements.
        stamp: (R, L*L) int64 cluster membership marks (antiferromagnet or field; (R, 1)
            otherwise); cluster_id: (R,) int64 counters.
        stack: (R, L*L + 4) int32 scratch (the cluster's sites).
        energy, magnetization: (n_rounds, R) float64 per site, overwritten.
        configs: (n_rounds, R, 1, L, L) int8 copies, or (0, R, 1, L, L) for none.
        clusters_out, flipped_out: (R,) int64, incremented by the clusters grown and the spins
            in them.
    """
    R, L = spins.shape[0], spins.shape[1]
    n_rounds = energy.shape[0]
    store = configs.shape[0] > 0
    for r in prange(R):
        sp = spins[r].reshape(L * L)
        total_c = 0
        total_f = 0
        for k in range(n_rounds):
            for _ in range(sweeps_per_round):
                c, f = _wolff_sweep_replica(sp, stamp[r], stack[r], rng, r, cluster_id, add_below, sign_j, nbr, n_clusters,
                                            two_beta_h)
                total_c += c
                total_f += f
            if symmetric and sweeps_per_round > 0 and (next_u64(rng, r) >> uint64(63)) == _ONE:
                for i in range(sp.shape[0]):
                    sp[i] = -sp[i]
            e, m = _byte_observables_replica(sp, L, J, h)
            energy[k, r] = e
            magnetization[k, r] = m
            if store:
                configs[k, r, 0] = spins[r]
        clusters_out[r] += total_c
        flipped_out[r] += total_f


class Wolff(RoundsSweeper):
    """Sweeper (see :mod:`fieldnet.simulations.sampling`) for Wolff single-cluster updates.

    With a field h the clusters are grown from the couplings and flipped with the Metropolis
    probability of their field energy (correct, but slow when h is large compared with T).

    A sweep is a *fixed* number of clusters, n_c = round(L*L / mean cluster size), calibrated
    once in ``init`` (:meth:`RoundsSweeper._calibrated_clusters`): two runs of
    ``CALIBRATION_SWEEPS`` sweeps that grow clusters until L*L spins have flipped, the first only
    relaxing the ordered start (whose clusters are too big), the second counted (both also
    serve as burn-in).  The number must be fixed afterwards: a sweep that stops when enough
    spins have flipped is a stopping time that depends on the states visited, and
    over-represents the states after big clusters (visibly so on tiny lattices).
    """

    def __init__(self, J: float, h: float = 0.0):
        if J == 0:
            raise FieldnetError("Wolff updates need a coupling J != 0; use --algorithm metropolis")
        self.J = float(J)
        self.h = float(h)
        self.sign_j = np.int8(1 if self.J > 0 else -1)

    def init(self, L: int, temperature: float, n_replicas: int, seed: int, key: tuple[int, ...]) -> dict[str, Any]:
        spins = np.full((n_replicas, L, L), 1 if self.h >= 0 else -1, dtype=np.int8)
        if self.J < 0:
            yy, xx = np.indices((L, L))
            spins[:, (yy + xx) % 2 == 1] = -1
        state = {
            "spins": spins,
            "rng": seeded_states(seed, n_replicas, *key),
            "add_below": np.uint64(math.ceil(-math.expm1(-2.0 * abs(self.J) / temperature) * 2.0**53)),
            "nbr": torus_neighbours(L),
            "two_beta_h": 2.0 * self.h / temperature,
            # membership marks are needed by the antiferromagnet and with a field only
            "stamp": np.zeros((n_replicas, L * L if (self.J < 0 or self.h != 0) else 1), dtype=np.int64),
            "cluster_id": np.zeros(n_replicas, dtype=np.int64),
            # + 4: the branch-free growth writes one slot past the cluster's end
            "stack": np.empty((n_replicas, L * L + 4), dtype=np.int32),
            "clusters": np.zeros(n_replicas, dtype=np.int64),
            "flipped": np.zeros(n_replicas, dtype=np.int64),
            "n_clusters": 0,
        }
        state["n_clusters"] = self._calibrated_clusters(state, L * L, lambda s: (s["flipped"].sum(), s["clusters"].sum()))
        return state

    def _run(self, state: dict[str, Any], n_rounds: int, sweeps_per_round: int, store: bool):
        spins = state["spins"]
        R, L = spins.shape[0], spins.shape[1]
        values = np.empty((2, n_rounds, R))
        configs = np.empty((n_rounds if store else 0, R, 1, L, L), dtype=np.int8)
        state["clusters"][:] = 0
        state["flipped"][:] = 0
        wolff_run(spins, state["rng"], state["add_below"], self.sign_j, state["two_beta_h"], state["nbr"],
                  int(state["n_clusters"]), self.J, self.h, self.h == 0.0, int(sweeps_per_round), state["stamp"],
                  state["cluster_id"], state["stack"], values[0], values[1], configs, state["clusters"], state["flipped"])
        return configs, values, float("nan")

    def measure(self, state: dict[str, Any]) -> dict[str, np.ndarray]:
        _, values, _ = self._run(state, 1, 0, False)  # no sweep: measurement only
        return {"energy": values[0, 0], "magnetization": values[1, 0]}

    def configs(self, state: dict[str, Any]) -> np.ndarray:
        return state["spins"][:, None].copy()


# ---------------------------------------------------------------------------------------------
# the model


class Ising2D(IsingModelBase):
    """2D Ising model on the square-lattice torus, H = -J sum_<ij> s_i s_j - h sum_i s_i."""

    name: ClassVar[str] = "ising2d"
    parameters: ClassVar[dict[str, tuple[Any, str]]] = {
        "J": (1.0, "nearest-neighbour coupling in units of k_B (J > 0 ferromagnet, J < 0 antiferromagnet)"),
        "h": (0.0, "uniform external field in units of k_B (h != 0: no phase transition, labels -1)"),
        "lattice": ("square", "lattice geometry: square (this module) or triangular (fieldnet.simulations.triangular)"),
    }
    ndim: ClassVar[int] = 2
    lattice_name: ClassVar[str] = "square"
    tc_source: ClassVar[str] = "Onsager (exact, infinite lattice)"
    reference_nu: ClassVar[float] = 1.0
    reference_nu_source: ClassVar[str] = "exact: nu = 1 (Onsager 1944)"
    no_tc_source: ClassVar[str] = "none: no transition for h != 0"

    def __init__(self, J: float = 1.0, h: float = 0.0, lattice: str = "square"):
        super().__init__(J, h, lattice)

    def critical_temperature(self) -> float | None:
        """Onsager's Tc = 2|J| / ln(1 + sqrt 2) for h = 0, else None (no transition)."""
        if self.h != 0.0 or self.J == 0.0:
            return None
        return abs(self.J) * ONSAGER_TC

    def resolve_algorithm(self, algorithm: str, temperature: float) -> str:
        """The update ``algorithm`` means at ``temperature`` ("auto" resolved; see module doc)."""
        if algorithm == "auto":
            return "wolff" if self.near_tc(temperature, AUTO_WOLFF_T_OVER_TC) else "metropolis"
        if self.known_algorithm(algorithm) == "wolff" and self.J == 0.0:
            raise FieldnetError("Wolff cluster updates need J != 0; use --algorithm metropolis")
        return algorithm

    def sweeper(self, algorithm: str, n_samples: int) -> tuple[Any, int]:
        """The sweeper of a resolved ``algorithm`` and its number of replicas."""
        if algorithm == "wolff":
            return Wolff(self.J, self.h), max(1, min(WOLFF_REPLICAS, n_samples))
        return MultispinMetropolis(self.J, self.h), LANES * METROPOLIS_GROUPS


MODEL = Ising2D
