"""Histogram reweighting (Ferrenberg and Swendsen): canonical averages at any temperature from
samples drawn at a few.

Samples drawn at inverse temperature beta_k with total energies E_ki carry the canonical weight
exp(-beta_k E_ki) / Z_k.  The same configurations describe a nearby beta when reweighted by
exp(-(beta - beta_k) E_ki) (single histogram, Ferrenberg and Swendsen 1988).  Several
temperatures are combined optimally by the multiple-histogram equations (Ferrenberg and Swendsen
1989), whose free energies f_k = -ln Z_k solve

    exp(-f_k) = sum_{j,i} exp(-beta_k E_ji) / sum_l n_l exp(f_l - beta_l E_ji),

after which any observable O of the samples has

    <O>(beta) = sum_{j,i} O_ji w_ji(beta) / sum_{j,i} w_ji(beta),
    w_ji(beta) = exp(-beta E_ji) / sum_l n_l exp(f_l - beta_l E_ji).

n_l is the number of *independent* samples at temperature l (the stored samples are thinned by
the measured autocorrelation time; an effective size can be given instead).  Everything is done
in logarithms (log-sum-exp), so lattices of 10^5 spins and energies of 10^5 J do not overflow.

Units: temperatures in J/k_B (beta in k_B/J); energies are *total* energies in units of J (the
data files store energy per site, multiply by the number of sites).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fieldnet.errors import FieldnetError


@dataclass(frozen=True)
class Ensemble:
    """Samples of one lattice size at several temperatures, ready to be reweighted.

    Attributes:
        beta: (n,) inverse temperature each sample was drawn at (k_B/J).
        energy: (n,) total energy of each sample (J).
        betas: (k,) the distinct inverse temperatures, ascending.
        point: (n,) index into ``betas`` of each sample.
        n_eff: (k,) independent samples at each temperature (default: the sample counts).
        log_f: (k,) the multiple-histogram free energies f_k = -ln Z_k (up to a constant).
        log_denominator: (n,) ln sum_l n_l exp(f_l - beta_l E_i), per sample.
    """

    beta: np.ndarray
    energy: np.ndarray
    betas: np.ndarray
    point: np.ndarray
    n_eff: np.ndarray
    log_f: np.ndarray
    log_denominator: np.ndarray

    @property
    def temperature_range(self) -> tuple[float, float]:
        """The lowest and highest simulated temperature (J/k_B): reweighting is trusted inside."""
        return float(1.0 / self.betas[-1]), float(1.0 / self.betas[0])


def logsumexp(a: np.ndarray, axis: int, keepdims: bool = False) -> np.ndarray:
    """ln sum exp(a) along ``axis``, shifted by the maximum (no overflow); plain numpy, several
    times faster than scipy's general version on these shapes."""
    top = np.max(a, axis=axis, keepdims=True)
    out = np.log(np.sum(np.exp(a - top), axis=axis, keepdims=True)) + top
    return out if keepdims else np.squeeze(out, axis=axis)


def multi_histogram(temperature: np.ndarray, energy: np.ndarray, n_eff: np.ndarray | None = None,
                    *, start_free_energies: np.ndarray | None = None, tol: float = 1e-10,
                    max_iter: int = 200) -> Ensemble:
    """Solve the multiple-histogram equations for samples at several temperatures.

    Args:
        temperature: (n,) temperature of each sample (J/k_B).
        energy: (n,) total energy of each sample (J).
        n_eff: (k,) independent samples per distinct temperature (ascending in beta, i.e.
            descending in T); default the sample counts.
        start_free_energies: (k,) a starting point for the solution (e.g. the free energies of
            the full sample when solving for a bootstrap replica); default from thermodynamic
            integration of the mean energies.
        tol: convergence: every temperature's share of the samples matches its size to this
            relative precision.
        max_iter: Newton-step limit; a FieldnetError says when it is reached.

    Returns:
        The :class:`Ensemble`.  With a single temperature this is single-histogram reweighting.
    """
    T = np.asarray(temperature, dtype=np.float64)
    E = np.asarray(energy, dtype=np.float64)
    if T.shape != E.shape or T.ndim != 1 or T.size == 0:
        raise FieldnetError(f"reweighting needs one temperature and one energy per sample, got {T.shape} and {E.shape}")
    if not (np.all(np.isfinite(T)) and np.all(T > 0) and np.all(np.isfinite(E))):
        raise FieldnetError("reweighting needs positive finite temperatures and finite energies")
    beta = 1.0 / T
    betas, point = np.unique(beta, return_inverse=True)
    counts = np.bincount(point, minlength=betas.size).astype(np.float64)
    n = counts if n_eff is None else np.asarray(n_eff, dtype=np.float64)
    if n.shape != betas.shape or np.any(n <= 0):
        raise FieldnetError(f"n_eff needs one positive size per temperature ({betas.size}), got {n}")
    log_n = np.log(n)
    # -beta_l E_i for every sample i and temperature l: (n_samples, k)
    minus_beta_E = -np.outer(E, betas)
    start = thermodynamic_integration(betas, E, point) if start_free_energies is None else start_free_energies
    log_f = solve_free_energies(minus_beta_E, log_n, start, tol=tol, max_iter=max_iter)
    log_den = logsumexp(log_n + log_f + minus_beta_E, axis=1)
    return Ensemble(beta, E, betas, point, n, log_f, log_den)


def thermodynamic_integration(betas: np.ndarray, energy: np.ndarray, point: np.ndarray) -> np.ndarray:
    """Free energies f_k = -ln Z_k (f_0 = 0) from d f / d beta = <E>, by the trapezoidal rule over
    the per-temperature mean energies: the starting point of the Newton solution."""
    mean_E = np.bincount(point, weights=energy, minlength=betas.size) / np.bincount(point, minlength=betas.size)
    return np.concatenate([[0.0], np.cumsum(0.5 * (mean_E[1:] + mean_E[:-1]) * np.diff(betas))])


def solve_free_energies(minus_beta_E: np.ndarray, log_n: np.ndarray, start: np.ndarray | None = None, *,
                        tol: float = 1e-10, max_iter: int = 200) -> np.ndarray:
    """The multiple-histogram free energies f (f_0 = 0) by Newton's method.

    The self-consistent equations are the stationarity conditions of the convex function
    F(f) = sum_i ln sum_l n_l exp(f_l - beta_l E_i) - sum_k n_k f_k, whose gradient is
    g_k = sum_i P_ik - n_k and Hessian H_kl = sum_i (delta_kl P_ik - P_ik P_il), with P_ik the
    probability that sample i belongs to temperature k.  Newton's method converges in a few
    steps (the plain fixed-point iteration needs thousands when histograms barely overlap); a
    step that does not lower F is halved.

    Args:
        minus_beta_E: (n, k) -beta_l E_i.
        log_n: (k,) log independent samples per temperature.
        start: (k,) initial free energies (e.g. those of the full sample, for a bootstrap).
    """
    k = log_n.size
    if k == 1:  # one temperature: nothing to solve (single-histogram reweighting)
        return np.zeros(1)
    n = np.exp(log_n)
    f = np.zeros(k) if start is None else np.array(start, dtype=np.float64) - start[0]

    def objective(f):
        log_den = logsumexp(log_n + f + minus_beta_E, axis=1)
        return float(log_den.sum() - n @ f), log_den

    value, log_den = objective(f)
    for _ in range(max_iter):
        P = np.exp(log_n + f + minus_beta_E - log_den[:, None])
        grad = P.sum(axis=0) - n
        if np.max(np.abs(grad[1:]) / n[1:]) < tol:
            return f
        hess = np.diag(P.sum(axis=0)) - P.T @ P
        step = np.zeros(k)
        step[1:] = np.linalg.lstsq(hess[1:, 1:], -grad[1:], rcond=1e-12)[0]
        scale = 1.0
        while True:
            trial = f + scale * step
            trial_value, trial_den = objective(trial)
            if trial_value <= value + 1e-12 * abs(value) or scale < 1e-6:
                break
            scale /= 2
        f, value, log_den = trial, trial_value, trial_den
    raise FieldnetError(f"the multiple-histogram equations did not converge in {max_iter} Newton steps "
                        "(temperatures too far apart for their energy histograms to overlap: simulate a finer grid)")


def log_weights(ensemble: Ensemble, temperatures: np.ndarray) -> np.ndarray:
    """Normalised log weights of every sample at each target temperature: (m, n), each row's
    exp sums to 1."""
    T = np.atleast_1d(np.asarray(temperatures, dtype=np.float64))
    log_w = -np.outer(1.0 / T, ensemble.energy) - ensemble.log_denominator[None, :]
    return log_w - logsumexp(log_w, axis=1, keepdims=True)


def reweight(ensemble: Ensemble, observables: np.ndarray, temperatures: np.ndarray) -> np.ndarray:
    """Canonical averages <O>(T) of per-sample observables at target temperatures.

    Args:
        ensemble: from :func:`multi_histogram`.
        observables: (n,) or (n, q) per-sample values.
        temperatures: (m,) target temperatures (J/k_B).

    Returns:
        (m,) or (m, q) averages.
    """
    w = np.exp(log_weights(ensemble, temperatures))
    O = np.asarray(observables, dtype=np.float64)
    return w @ O


def effective_sizes(ensemble: Ensemble, temperatures: np.ndarray) -> np.ndarray:
    """Kish effective number of samples behind each reweighted average, (m,):
    1 / sum_i w_i^2 with normalised weights (small where no histogram reaches)."""
    w = np.exp(log_weights(ensemble, temperatures))
    return 1.0 / np.sum(w * w, axis=1)
