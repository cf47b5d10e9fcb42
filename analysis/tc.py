"""The critical temperature and nu measured blind from a network's output, with the classic
Binder baseline from the same Monte Carlo data.

Nothing here reads a known critical temperature or exponent: not for labels, windows, fits or
starting values.  The network's output p(ordered | configuration) is an observable of the lattice
model (:mod:`fieldnet.analysis.observables`), reweighted into continuous curves per lattice size
(:mod:`fieldnet.analysis.curves`).

**The network estimate: renormalisation-group matching.**  Coarse-grain each configuration of an
L lattice by one block step of size b (majority rule) and apply the same network: at the critical
point the blocked L lattice is distributed like an L/b lattice (the critical point is a fixed
point of the block transformation), so *for any observable* the curves <p(blocked L)>(T) and
<p(L/b)>(T) cross at Tc(L), which tends to Tc as the irrelevant couplings die out.  Away from Tc
the blocking drives configurations toward the ordered or the disordered fixed point, so the
curves separate.  Because the comparison holds for any function of the configuration, the
estimate does not depend on which threshold the network happened to learn -- and so not on where
its training temperatures were (a network's own p = 1/2 point, or its fluctuation peak, follows
the training range).  At the crossing, the ratio of the slopes is the thermal eigenvalue of the
block transformation, d<p(blocked L)>/dT / d<p(L/b)>/dT = b^(1/nu), which gives nu
(Swendsen's Monte Carlo renormalisation group).

**The baseline: Binder cumulant crossings.**  U = 1 - <m^4>/(3<m^2>^2) of the pairs (L, L/b)
crosses at Tc(L), and the ratio of its slopes there is b^(1/nu) too.  The susceptibility peaks,
extrapolated as T*(L) = Tc + a L^(-1/nu) with nu from the growth of d ln<|m|>/dT, are reported
beside it, and so are the network's own fluctuation peaks extrapolated the same way (which show
the training-range dependence that RG matching removes).

Tc and nu of several pairs are combined as their weighted mean (weights 1/sigma^2 from the
bootstrap).  Errors: a bootstrap of the whole chain over configurations (resampled within each
(L, T)), and for an ensemble of K networks the spread of the K networks' own estimates,
std/sqrt(K), in quadrature.  Systematic errors (training range, sizes) are in
:mod:`fieldnet.analysis.systematics`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from fieldnet.analysis.curves import Curves, Weights, common_grid, curves_of, weights_of
from fieldnet.analysis.observables import SizeSamples
from fieldnet.analysis.pseudocritical import central_crossing, peak
from fieldnet.analysis.settings import BOOTSTRAP, BOOTSTRAP_SEED

from fieldnet.engine.blas import single_threaded_blas
from fieldnet.errors import FieldnetError

#: the estimators, in the order they are reported
METHODS = {
    "rg_matching": "network: RG matching at the deepest block level the sizes allow: <p(L blocked n times)> = "
                   "<p(L/b blocked n-1 times)>, nu from the slope ratio",
    "rg_matching_1": "network: RG matching at one block step, <p(blocked L)> = <p(L/b)> (beside the two-step one)",
    "network_peaks": "network: fluctuation peaks of p, extrapolated (follows the training range)",
    "binder": "baseline: Binder cumulant crossings U(L) = U(L/b), nu from the slope ratio",
    "susceptibility": "baseline: susceptibility peaks, extrapolated, nu from d ln<|m|>/dT",
}


def load_predictions(path):
    """Open and validate a predictions file written by ``fieldnet predict`` (loaded into memory)."""
    from fieldnet.io.predictions import open_predictions

    return open_predictions(path).load()


# -- point estimates from curves ---------------------------------------------------------------------


@dataclass
class Estimate:
    """One estimator's point values from one data set (no errors).

    Attributes:
        method: a key of :data:`METHODS`.
        pairs: (c, 2) the (larger, smaller) sizes whose curves cross (crossing methods), or
            the sizes (c, 1) (peak methods).
        T_L: (c,) each pair's crossing or each size's peak temperature (J/k_B).
        nu_L: (c,) each pair's nu from the slope ratio (crossing methods; NaN for peaks).
        Tc, nu: the combined result (NaN when it could not be formed; ``message`` says why).
    """

    method: str
    pairs: np.ndarray
    T_L: np.ndarray
    nu_L: np.ndarray
    Tc: float = float("nan")
    nu: float = float("nan")
    message: str = ""
    level: int = 1


def _crossing_with_exponent(T, big, big_slope, small, small_slope, weight, scale: float) -> tuple[float, float]:
    """Where two curves cross (the crossing inside the transition region marked by ``weight``) and
    nu = ln(scale) / ln(slope ratio) there (NaN when the slopes do not have the same sign)."""
    tx = central_crossing(T, big, small, weight)
    if not np.isfinite(tx):
        return tx, float("nan")
    ratio = np.interp(tx, T, big_slope) / np.interp(tx, T, small_slope)
    nu = np.log(scale) / np.log(ratio) if ratio > 0 and ratio != 1 else float("nan")
    return float(tx), float(nu)


def block_pairs(sizes: list[int], b: int) -> list[tuple[int, int]]:
    """(L, L/b) for every L whose L/b was simulated too."""
    return [(L, L // b) for L in sizes if b > 1 and L % b == 0 and L // b in sizes]


def crossing_pairs(sizes: list[int], b: int) -> list[tuple[int, int]]:
    """The pairs the baseline crosses: (L, L/b) like the network when there are any, else
    successive sizes."""
    pairs = block_pairs(sizes, b)
    return pairs or [(big, small) for small, big in zip(sizes[:-1], sizes[1:], strict=True)]


def rg_matching(curves: dict[int, Curves], b: int, method: str = "rg_matching") -> Estimate:
    """Crossings of <p(blocked L)> and <p(L/b)> with nu from their slope ratio (one block step)."""
    pairs = block_pairs(sorted(curves), b)
    rows = [_crossing_with_exponent(curves[L].temperature, curves[L].blocked_mean, curves[L].blocked_slope,
                                    curves[s].p_mean, curves[s].p_slope, curves[s].p_var, b) for L, s in pairs]
    return Estimate(method, np.array(pairs, dtype=int).reshape(-1, 2), *_columns(rows))


def rg_matching_twice(curves: dict[int, Curves], b: int) -> Estimate:
    """Crossings of <p(L blocked twice)> and <p(L/b blocked once)>: both lattices are coarse-grained
    at least once, so couplings that one block step generates and the simulated Hamiltonian lacks
    enter both sides (Swendsen's matching at the next level), and the crossings approach Tc faster
    than those of one step."""
    pairs = block_pairs(sorted(curves), b)
    rows = [_crossing_with_exponent(curves[L].temperature, curves[L].twice_blocked_mean, curves[L].twice_blocked_slope,
                                    curves[s].blocked_mean, curves[s].blocked_slope, curves[s].p_var, b) for L, s in pairs]
    return Estimate("rg_matching", np.array(pairs, dtype=int).reshape(-1, 2), *_columns(rows), level=2)


def binder_crossings(curves: dict[int, Curves], b: int) -> Estimate:
    """Crossings of the Binder cumulant of each pair with nu from the slope ratio."""
    pairs = crossing_pairs(sorted(curves), b)
    rows = []
    for L, s in pairs:
        c, d = curves[L], curves[s]
        weight = c.susceptibility / np.nanmax(c.susceptibility) + d.susceptibility / np.nanmax(d.susceptibility)
        rows.append(_crossing_with_exponent(c.temperature, c.binder, c.binder_slope, d.binder, d.binder_slope,
                                            weight, L / s))
    return Estimate("binder", np.array(pairs, dtype=int).reshape(-1, 2), *_columns(rows))


def _columns(rows: list[tuple[float, float]]) -> tuple[np.ndarray, np.ndarray]:
    arr = np.array(rows, dtype=np.float64).reshape(-1, 2)
    return arr[:, 0], arr[:, 1]


def extrapolated_peaks(method: str, sizes: np.ndarray, T_peak: np.ndarray, slope_max: np.ndarray) -> Estimate:
    """T*(L) = Tc + a L^(-1/nu), with nu from the growth of the steepest slope, slope ~ L^(1/nu)."""
    from fieldnet.analysis.fss import fit_power_law, fit_shift

    est = Estimate(method, sizes.reshape(-1, 1), T_peak, np.full(sizes.size, np.nan))
    ok = np.isfinite(T_peak) & np.isfinite(slope_max) & (slope_max > 0)
    if ok.sum() < 3:
        est.message = f"{int(ok.sum())} sizes have a peak inside the simulated range; the extrapolation needs 3"
        return est
    power = fit_power_law(sizes[ok], slope_max[ok])
    if not power.exponent > 0:
        est.message = f"the steepest slope does not grow with L (exponent {power.exponent:.3g}): no transition seen"
        return est
    est.nu = 1.0 / power.exponent
    est.Tc = fit_shift(sizes[ok], T_peak[ok], nu=est.nu).Tc
    return est


def network_peaks(curves: dict[int, Curves]) -> Estimate:
    sizes = np.array(sorted(curves), dtype=np.float64)
    T_peak = np.array([peak(curves[L].temperature, curves[L].p_var)[0] for L in sorted(curves)])
    slopes = np.array([np.nanmax(np.abs(curves[L].p_slope)) for L in sorted(curves)])
    return extrapolated_peaks("network_peaks", sizes, T_peak, slopes)


def susceptibility_peaks(curves: dict[int, Curves]) -> Estimate:
    sizes = np.array(sorted(curves), dtype=np.float64)
    T_peak = np.array([peak(curves[L].temperature, curves[L].susceptibility)[0] for L in sorted(curves)])
    slopes = np.array([np.nanmax(np.abs(curves[L].log_m_slope)) for L in sorted(curves)])
    return extrapolated_peaks("susceptibility", sizes, T_peak, slopes)


def point_estimates(samples: list[SizeSamples], grid: np.ndarray, starts: dict[int, np.ndarray] | None = None,
                    weights: dict[int, Weights] | None = None
                    ) -> tuple[dict[str, Estimate], dict[int, Curves], dict[int, np.ndarray]]:
    """Every estimator that the data allow, from one data set; with the curves and free energies.
    ``weights`` per size (of the same configurations) skip the reweighting solution."""
    curves, free = {}, {}
    for s in samples:
        curves[s.L], free[s.L] = curves_of(s, grid, None if starts is None else starts.get(s.L),
                                           None if weights is None else weights.get(s.L))
    b = samples[0].block_size
    out = {}
    if b and all(c.blocked_mean is not None for c in curves.values()) and block_pairs(sorted(curves), b):
        pairs = block_pairs(sorted(curves), b)
        if all(curves[L].twice_blocked_mean is not None for L, _ in pairs):
            out["rg_matching"] = rg_matching_twice(curves, b)
            out["rg_matching_1"] = rg_matching(curves, b, "rg_matching_1")
        else:
            out["rg_matching"] = rg_matching(curves, b)
    out["network_peaks"] = network_peaks(curves)
    if all(c.binder is not None for c in curves.values()):
        out["binder"] = binder_crossings(curves, b)
        out["susceptibility"] = susceptibility_peaks(curves)
    return out, curves, free


# -- errors ---------------------------------------------------------------------------------------


@dataclass
class Measurement:
    """An estimator's result with statistical errors.

    Attributes:
        estimate: the point values from all the data (its Tc, nu combined over pairs).
        T_L_err, nu_L_err: (c,) bootstrap errors of each pair's (or size's) values, with the
            networks' spread for network methods.
        Tc_err, nu_err: the statistical errors of Tc and nu.
        Tc_err_networks: the part of Tc_err from the networks' spread, std/sqrt(K).
        replicas: bootstrap replicas that gave a finite Tc.
    """

    estimate: Estimate
    T_L_err: np.ndarray
    nu_L_err: np.ndarray
    Tc_err: float
    nu_err: float
    Tc_err_networks: float = 0.0
    network_Tc: list[float] = field(default_factory=list)
    replicas: int = 0

    @property
    def Tc(self) -> float:
        return self.estimate.Tc

    @property
    def nu(self) -> float:
        return self.estimate.nu


def _std(values) -> float:
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    return float(v.std(ddof=1)) if v.size >= 2 else float("nan")


def _weighted(values: np.ndarray, weights: np.ndarray) -> float:
    ok = np.isfinite(values) & np.isfinite(weights)
    return float(np.sum(values[ok] * weights[ok]) / np.sum(weights[ok])) if ok.any() else float("nan")


def _combine(est: Estimate, w_T: np.ndarray, w_nu: np.ndarray) -> None:
    """Tc and nu of a crossing estimator: weighted means over its pairs (in place)."""
    if est.method in ("rg_matching", "rg_matching_1", "binder"):
        est.Tc = _weighted(est.T_L, w_T)
        est.nu = _weighted(est.nu_L, w_nu)
        if not np.isfinite(est.Tc):
            est.message = "no pair of sizes crosses inside the simulated temperatures"


def measure(samples: list[SizeSamples], *, n_bootstrap: int = BOOTSTRAP, seed: int = BOOTSTRAP_SEED,
            grid: np.ndarray | None = None) -> tuple[dict[str, Measurement], dict[int, Curves]]:
    """Every estimator the data allow, each with statistical errors.

    Args:
        samples: per-size samples (:func:`fieldnet.analysis.observables.size_samples`), >= 2 sizes.
        n_bootstrap: bootstrap replicas over configurations (resampled within each (L, T)); >= 2.
        seed: seed of the bootstrap.
        grid: the temperatures of the curves (default: :func:`fieldnet.analysis.curves.common_grid`).

    Returns:
        ({method: Measurement}, the full data's curves per size).
    """
    return measure_placements([samples], n_bootstrap=n_bootstrap, seed=seed, grid=grid)[0]


def measure_placements(placements: list[list[SizeSamples]], *, n_bootstrap: int = BOOTSTRAP,
                       seed: int = BOOTSTRAP_SEED, grid: np.ndarray | None = None
                       ) -> list[tuple[dict[str, Measurement], dict[int, Curves]]]:
    """:func:`measure` for several sets of network outputs, e.g. one per training-range placement.

    Sets whose configurations are the same (the predictions of one data file) share the
    reweighting of each size and each bootstrap replica's draw, so the multiple-histogram
    equations are solved once per replica instead of once per set; every result is the one
    :func:`measure` gives for its set alone.
    """
    if any(len(samples) < 2 for samples in placements):
        raise FieldnetError(f"finite-size scaling needs at least two lattice sizes, got {min(len(p) for p in placements)}")
    if n_bootstrap < 2:
        raise FieldnetError(f"the statistical errors need at least 2 bootstrap replicas, got {n_bootstrap}")
    first = placements[0]
    if not all(len(p) == len(first) and all(a.same_configurations(b) for a, b in zip(first, p, strict=True))
               for p in placements[1:]):
        return [measure_placements([p], n_bootstrap=n_bootstrap, seed=seed, grid=grid)[0] for p in placements]
    grid = common_grid(first) if grid is None else grid
    with single_threaded_blas():  # small matrices: BLAS threads only add overhead
        base = {s.L: weights_of(s, grid) for s in first}
        starts = {L: w.free_energies for L, w in base.items()}
        full = [point_estimates(samples, grid, weights=base) for samples in placements]
        rng = np.random.default_rng(seed)
        replicas: list[list[dict]] = [[] for _ in placements]
        for _ in range(n_bootstrap):
            picks = {s.L: s.resample_indices(rng) for s in first}
            drawn = {s.L: weights_of(s.take(picks[s.L]), grid, starts[s.L]) for s in first}
            for i, samples in enumerate(placements):
                replicas[i].append(point_estimates([s.take(picks[s.L]) for s in samples], grid, weights=drawn)[0])
        results = []
        for i, samples in enumerate(placements):
            K = samples[0].n_networks
            networks = ([point_estimates([s.network(k) for s in samples], grid, weights=base)[0] for k in range(K)]
                        if K > 1 else [])
            estimates, curves, _ = full[i]
            results.append(({m: _with_errors(m, est, replicas[i], networks) for m, est in estimates.items()}, curves))
    return results


def _with_errors(method: str, est: Estimate, replicas: list[dict], networks: list[dict]) -> Measurement:
    reps = [r[method] for r in replicas if method in r]
    nets = [n[method] for n in networks if method in n]
    T_err = np.array([_std([r.T_L[i] for r in reps]) for i in range(est.T_L.size)])
    nu_err = np.array([_std([r.nu_L[i] for r in reps]) for i in range(est.nu_L.size)])
    if len(nets) >= 2:  # the networks' spread, pair by pair
        T_err = np.hypot(T_err, np.array([_std([n.T_L[i] for n in nets]) for i in range(est.T_L.size)]) / np.sqrt(len(nets)))
        nu_err = np.hypot(nu_err, np.array([_std([n.nu_L[i] for n in nets]) for i in range(est.nu_L.size)]) / np.sqrt(len(nets)))
    w_T, w_nu = 1.0 / T_err**2, 1.0 / nu_err**2
    for e in [est, *reps, *nets]:
        _combine(e, w_T, w_nu)
    tc_net = _std([n.Tc for n in nets]) / np.sqrt(len(nets)) if len(nets) >= 2 else 0.0
    nu_net = _std([n.nu for n in nets]) / np.sqrt(len(nets)) if len(nets) >= 2 else 0.0
    return Measurement(
        estimate=est, T_L_err=T_err, nu_L_err=nu_err,
        Tc_err=float(np.hypot(_std([r.Tc for r in reps]), np.nan_to_num(tc_net))),
        nu_err=float(np.hypot(_std([r.nu for r in reps]), np.nan_to_num(nu_net))),
        Tc_err_networks=float(np.nan_to_num(tc_net)), network_Tc=[float(n.Tc) for n in nets],
        replicas=int(sum(np.isfinite(r.Tc) for r in reps)),
    )
