"""Exact results to validate Monte Carlo against.

* Exact enumeration of every state of a tiny lattice (2**9 states of a 3x3 Ising torus, 2**16 of
  a 4x4, q**n for a q-state model), for *any* energy function: the energy levels, their
  degeneracies, and hence the exact Boltzmann distribution of the energy at any temperature.
  Models add their energy function (``ising2d_energy`` is the example) and reuse the rest.
* The finite L x L Ising torus (h = 0) at any size: Kaufman's exact partition function, hence the
  exact energy per site of the very lattice being simulated, even at Tc.
* The infinite 2D Ising square lattice (h = 0): Onsager's energy per site and Yang's spontaneous
  magnetisation.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from fieldnet.simulations.ising2d import ONSAGER_TC

#: refuse to enumerate more states than this (memory: states x sites bytes)
MAX_STATES = 1 << 22


def all_states(shape: Sequence[int], values: Sequence[float] = (-1, 1), dtype=np.int8) -> np.ndarray:
    """Every configuration of a lattice whose sites take ``values``.

    Args:
        shape: lattice shape, e.g. (4, 4).
        values: the single-site values, e.g. (-1, 1) for Ising or range(q) for Potts.
        dtype: dtype of the result.

    Returns:
        (len(values) ** n_sites, *shape) array; state k has site i = values[digit i of k in base
        len(values)] (site 0 the least significant digit).
    """
    n_sites = int(np.prod(shape))
    q = len(values)
    n_states = q**n_sites
    if n_states > MAX_STATES:
        raise ValueError(f"{n_states} states are too many to enumerate (limit {MAX_STATES})")
    index = np.arange(n_states, dtype=np.int64)
    digits = (index[:, None] // (q ** np.arange(n_sites, dtype=np.int64))[None, :]) % q
    return np.asarray(values, dtype=dtype)[digits].reshape(n_states, *shape)


def energy_levels(
    energy: Callable[[np.ndarray], np.ndarray], shape: Sequence[int], values: Sequence[float] = (-1, 1), decimals: int = 9
) -> tuple[np.ndarray, np.ndarray]:
    """Distinct total energies of all states and how many states have each.

    Args:
        energy: maps configurations (M, *shape) to total energies (M,).
        shape, values: as in :func:`all_states`.
        decimals: energies are rounded to this many decimals before grouping.

    Returns:
        (levels (K,) ascending, degeneracies (K,) int64).
    """
    e = np.round(np.asarray(energy(all_states(shape, values)), dtype=np.float64), decimals)
    levels, counts = np.unique(e, return_counts=True)
    return levels, counts.astype(np.int64)


def boltzmann_probabilities(levels: np.ndarray, degeneracies: np.ndarray, temperature: float) -> np.ndarray:
    """Exact probability of each energy level at ``temperature``: g(E) exp(-E/T) / Z, (K,)."""
    log_w = np.log(degeneracies.astype(np.float64)) - (levels - levels.min()) / temperature
    w = np.exp(log_w - log_w.max())
    return w / w.sum()


def ising2d_energy(configs: np.ndarray, J: float = 1.0, h: float = 0.0) -> np.ndarray:
    """Total energy H = -J sum_<ij> s_i s_j - h sum_i s_i of (M, L, L) +-1 configurations on the
    torus (each bond once: right and down neighbours).  Returns (M,) float64."""
    s = configs.astype(np.int64)
    bonds = (s * np.roll(s, -1, axis=-1)).sum(axis=(-2, -1)) + (s * np.roll(s, -1, axis=-2)).sum(axis=(-2, -1))
    return -J * bonds - h * s.sum(axis=(-2, -1))


def ising2d_energy_levels(L: int, J: float = 1.0, h: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Exact energy levels (total energy) and degeneracies of the L x L Ising torus (L <= 4)."""
    return energy_levels(lambda c: ising2d_energy(c, J, h), (L, L))


# ---------------------------------------------------------------------------------------------
# the finite torus, h = 0 (Kaufman 1949; in the form of Beale, PRL 76, 78 (1996))


def _log_prod_2cosh(x: np.ndarray) -> float:
    return float(np.sum(np.logaddexp(x, -x)))


def _log_abs_prod_2sinh(x: np.ndarray) -> tuple[float, float]:
    ax = np.abs(x)
    if np.any(ax == 0):
        return -math.inf, 0.0
    return float(np.sum(ax + np.log1p(-np.exp(-2 * ax)))), float(np.prod(np.sign(x)))


def kaufman_log_partition(rows: int, cols: int, temperature: float, J: float = 1.0) -> float:
    """ln Z of the ferromagnetic Ising model (J > 0, h = 0) on a rows x cols torus, exactly.

    Z = 1/2 (2 sinh 2K)^(N/2) (Z1 + Z2 + Z3 + Z4), K = J/T, with products over the ``cols``
    lattice momenta of 2 cosh / 2 sinh (rows gamma_l / 2), l odd (Z1, Z2) or even (Z3, Z4),
    cosh gamma_l = cosh 2K coth 2K - cos(pi l / cols), and gamma_0 = 2K + ln tanh K (negative
    above Tc, which makes Z4 negative there).  Summed in log space, so any size works.
    """
    K = J / temperature
    l = np.arange(2 * cols)
    gamma = np.arccosh(math.cosh(2 * K) / math.tanh(2 * K) - np.cos(np.pi * l / cols))
    gamma[0] = 2 * K + math.log(math.tanh(K))
    half = rows / 2.0
    odd, even = half * gamma[1::2], half * gamma[0::2]
    terms = [(_log_prod_2cosh(odd), 1.0), _log_abs_prod_2sinh(odd), (_log_prod_2cosh(even), 1.0), _log_abs_prod_2sinh(even)]
    top = max(t[0] for t in terms)
    total = sum(sign * math.exp(value - top) for value, sign in terms if sign != 0.0)
    return math.log(0.5) + (rows * cols / 2.0) * math.log(2 * math.sinh(2 * K)) + top + math.log(total)


def kaufman_energy_per_site(L: int, temperature: float, J: float = 1.0) -> float:
    """Exact mean energy per site of the L x L Ising torus (J > 0, h = 0): -(1/N) d ln Z / d beta,
    by a fourth-order central difference of :func:`kaufman_log_partition` in beta."""
    beta = 1.0 / temperature
    step = 1e-4 * beta

    def lnz(b: float) -> float:
        return kaufman_log_partition(L, L, 1.0 / b, J)

    derivative = (-lnz(beta + 2 * step) + 8 * lnz(beta + step) - 8 * lnz(beta - step) + lnz(beta - 2 * step)) / (12 * step)
    return -derivative / (L * L)


# ---------------------------------------------------------------------------------------------
# the infinite square lattice, h = 0


def onsager_tc(J: float = 1.0) -> float:
    """Onsager's critical temperature 2|J| / ln(1 + sqrt 2) ~ 2.269 |J| (units of k_B)."""
    return abs(J) * ONSAGER_TC


def onsager_energy_per_site(temperature: float, J: float = 1.0) -> float:
    """Exact internal energy per site of the infinite 2D Ising model (h = 0), units of J.

    u = -J coth(2K) [1 + (2/pi)(2 tanh^2(2K) - 1) K1(k)],  K = J/T,  k = 2 sinh(2K)/cosh^2(2K),
    with K1 the complete elliptic integral of the first kind of modulus k.
    """
    from scipy.special import ellipk

    K = J / temperature
    k = 2.0 * math.sinh(2 * K) / math.cosh(2 * K) ** 2
    if abs(1.0 - k) < 1e-12:  # at Tc: K1 diverges logarithmically but its factor vanishes
        return -J / math.tanh(2 * K)
    k1 = float(ellipk(k * k))  # scipy takes the parameter m = k^2
    return -J / math.tanh(2 * K) * (1.0 + 2.0 / math.pi * (2.0 * math.tanh(2 * K) ** 2 - 1.0) * k1)


def yang_magnetization(temperature: float, J: float = 1.0) -> float:
    """Yang's spontaneous magnetisation per site, (1 - sinh(2J/T)^-4)^(1/8) below Tc, 0 above."""
    s = math.sinh(2.0 * J / temperature)
    return (1.0 - s**-4) ** 0.125 if s > 1.0 else 0.0


# ---------------------------------------------------------------------------------------------
# energy functions of the other lattice models (for exact enumeration of tiny lattices)


def cubic_ising_energy(configs: np.ndarray, J: float = 1.0, h: float = 0.0) -> np.ndarray:
    """Total energy -J sum_i sum_mu s_i s_{i+mu} - h sum_i s_i of (M, L, L, L) +-1 configurations
    on the simple cubic torus, mu over the three forward directions (so on an L = 2 torus, where
    +mu and -mu reach the same site, every pair counts twice, as in the simulator).  (M,) float64."""
    s = configs.astype(np.int64)
    axes = (-3, -2, -1)
    bonds = sum((s * np.roll(s, -1, axis=a)).sum(axis=axes) for a in axes)
    return -J * bonds - h * s.sum(axis=axes)


def triangular_ising_energy(configs: np.ndarray, J: float = 1.0, h: float = 0.0) -> np.ndarray:
    """Total energy of (M, L, L) +-1 configurations on the triangular torus stored as a sheared
    square array (bonds to (y, x+1), (y+1, x) and (y+1, x+1), each once).  (M,) float64."""
    s = configs.astype(np.int64)
    axes = (-2, -1)
    right = np.roll(s, -1, axis=-1)
    down = np.roll(s, -1, axis=-2)
    diagonal = np.roll(right, -1, axis=-2)
    bonds = (s * (right + down + diagonal)).sum(axis=axes)
    return -J * bonds - h * s.sum(axis=axes)


def potts_energy(configs: np.ndarray, J: float = 1.0) -> np.ndarray:
    """Total energy H = -J sum_<ij> delta(s_i, s_j) of (M, L, L) Potts configurations (values
    0..q-1) on the square torus, each bond once.  (M,) float64."""
    s = configs
    axes = (-2, -1)
    same = (s == np.roll(s, -1, axis=-1)).sum(axis=axes) + (s == np.roll(s, -1, axis=-2)).sum(axis=axes)
    return -J * same.astype(np.float64)


def free_field_phi_squared(L: int, mass_sq: float, temperature: float = 1.0, dim: int = 2) -> float:
    """Exact <phi_x^2> of the free lattice scalar field (lambda = 0, mass^2 > 0) on the L^dim
    torus with weight exp(-S/T), S = sum_x [1/2 sum_mu (phi_{x+mu} - phi_x)^2 + 1/2 mass^2 phi_x^2]:
    (T / N) sum_k 1 / (mass^2 + sum_mu 4 sin^2(k_mu / 2)), k_mu = 2 pi n / L.  (Its mean action
    per site is T/2 exactly, by equipartition over the N Gaussian modes.)"""
    k = 2.0 * np.pi * np.arange(L) / L
    lattice_laplacian = 4.0 * np.sin(k / 2.0) ** 2
    grids = np.meshgrid(*([lattice_laplacian] * dim), indexing="ij")
    return float(temperature * np.mean(1.0 / (mass_sq + sum(grids))))
