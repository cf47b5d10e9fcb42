"""Integrated autocorrelation time of Monte Carlo time series, with Sokal's automatic window.

For a stationary series x_t with normalised autocorrelation rho(t),

    tau_int = 1/2 + sum_{t=1}^{W} rho(t),

so that the variance of the mean of n samples is var(x) * 2 tau_int / n, and samples taken
2 tau_int steps apart are effectively independent.  The sum is cut at the smallest window W with
W >= c * tau_int(W) (Sokal, "Monte Carlo methods in statistical mechanics", 1996; c ~ 5 when
rho decays roughly exponentially).  The estimate is trustworthy only when the series is much
longer than tau_int: we call it ``reliable`` when n >= 50 tau_int and a window was found.

Several independent chains (replicas) of one process are combined by averaging their
autocovariance functions before normalising, which is what the samplers in
:mod:`fieldnet.simulations.sampling` do.  All chains are centred on their common (grand) mean: a chain's
own mean of n steps carries an error of order sqrt(2 tau / n) that biases tau_int low by
about 2 W / n, and the grand mean of R chains shrinks that bias R-fold.

What the stored (thinned) samples are worth is measured on them directly:
:func:`lag1_autocorrelation` between consecutive stored samples of one replica, and
:func:`effective_sample_size` from it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: a series shorter than this many tau_int gives an untrustworthy estimate
RELIABLE_LENGTH_IN_TAU = 50.0


@dataclass(frozen=True)
class AutocorrEstimate:
    """The result of :func:`integrated_autocorr_time`.

    Attributes:
        tau: integrated autocorrelation time in units of the series' steps (>= 0.5 up to noise).
        window: the summation window W chosen by Sokal's rule.
        reliable: True when the series is at least ``RELIABLE_LENGTH_IN_TAU * tau`` long and the
            window closed before the end of the series.
        n: length of each series (steps).
    """

    tau: float
    window: int
    reliable: bool
    n: int


def autocovariance(series: np.ndarray) -> np.ndarray:
    """Autocovariance C(t), t = 0..n-1, averaged over replicas.

    Args:
        series: (n,) or (n_replicas, n) float, replicas being chains of the same process.

    Returns:
        (n,) float64: C(t) = <(x_s - xbar)(x_{s+t} - xbar)> averaged over s and replicas, xbar
        the grand mean of all replicas (biased estimator, divided by n, which keeps the FFT
        estimate positive definite).
    """
    x = np.atleast_2d(np.asarray(series, dtype=np.float64))
    n = x.shape[1]
    x = x - x.mean()
    size = 1 << int(np.ceil(np.log2(2 * n)))  # zero-pad to avoid circular wrap-around
    f = np.fft.rfft(x, n=size, axis=1)
    acov = np.fft.irfft(f * np.conj(f), n=size, axis=1)[:, :n] / n
    return acov.mean(axis=0)


def integrated_autocorr_time(series: np.ndarray, c: float = 5.0) -> AutocorrEstimate:
    """Integrated autocorrelation time with Sokal's automatic windowing.

    Args:
        series: (n,) one chain, or (n_replicas, n) independent chains of the same process
            (their autocovariances are averaged).  n >= 2.
        c: window constant: W is the smallest window with W >= c * tau_int(W).

    Returns:
        AutocorrEstimate(tau, window, reliable, n).  A series with zero variance (e.g. a frozen
        ground state) has no measurable correlation: tau = 0.5, window = 0.
    """
    x = np.atleast_2d(np.asarray(series, dtype=np.float64))
    if x.ndim != 2:
        raise ValueError(f"series must be (n,) or (n_replicas, n), got shape {np.shape(series)}")
    n = x.shape[1]
    if n < 2:
        raise ValueError(f"need at least 2 steps to estimate an autocorrelation time, got {n}")
    if not np.all(np.isfinite(x)):
        raise ValueError("series contains NaN or infinite values")
    acov = autocovariance(x)
    scale = float(np.max(np.abs(x))) ** 2
    if acov[0] <= 1e-24 * scale:  # constant up to rounding
        return AutocorrEstimate(tau=0.5, window=0, reliable=True, n=n)
    rho = acov / acov[0]
    # tau(W) = 1/2 + sum_{t=1..W} rho(t) for every W at once
    taus = np.concatenate(([0.5], 0.5 + np.cumsum(rho[1:])))
    windows = np.arange(n)
    ok = windows >= c * taus
    ok[0] = False
    if ok.any():
        window = int(np.argmax(ok))
        closed = True
    else:
        window = n - 1
        closed = False
    tau = float(taus[window])
    reliable = bool(closed and n >= RELIABLE_LENGTH_IN_TAU * max(tau, 0.5))
    return AutocorrEstimate(tau=tau, window=window, reliable=reliable, n=n)


def lag1_autocorrelation(values: np.ndarray, n_replicas: int) -> float:
    """Lag-1 autocorrelation of stored samples: between consecutive samples of one replica.

    Args:
        values: (rounds * n_replicas,) float, sample ``k * n_replicas + r`` being replica r's
            k-th (the order :func:`fieldnet.simulations.sampling.sample_point` stores).
        n_replicas: independent chains R.

    Returns:
        C(1) / C(0), the covariances averaged over replicas and centred on the grand mean; NaN
        with fewer than two rounds (every sample from its own chain) or a constant series.
    """
    rounds = len(values) // n_replicas
    if rounds < 2:
        return float("nan")
    x = np.asarray(values, dtype=np.float64)[: rounds * n_replicas].reshape(rounds, n_replicas)
    x = x - x.mean()
    variance = float(np.mean(x * x))
    if variance <= 1e-24 * float(np.max(np.abs(values))) ** 2:
        return float("nan")
    return float(np.mean(x[1:] * x[:-1]) / variance)


def effective_sample_size(n_samples: int, *lag1: float) -> float:
    """Independent samples worth as much as ``n_samples`` whose lag-1 autocorrelations are ``lag1``.

    With geometric decay between stored samples, rho(k) = r^k, the stored series has
    2 tau_int = (1 + r) / (1 - r) (in samples), so the variance of a mean is that of
    n (1 - r) / (1 + r) independent samples.  r is the largest of ``lag1`` (NaN ignored; a
    negative value counts as 0, so the size never exceeds ``n_samples``).
    """
    r = max([0.0, *(c for c in lag1 if c == c)])
    return n_samples * (1.0 - r) / (1.0 + r)
