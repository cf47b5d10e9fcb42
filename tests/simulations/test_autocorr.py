"""Sokal-windowed tau_int, the lag-1 autocorrelation of stored samples and the effective sample
size, against AR(1) processes whose correlations are known exactly."""

from __future__ import annotations

import numpy as np
import pytest
from fieldnet.simulations.autocorr import (
    autocovariance,
    effective_sample_size,
    integrated_autocorr_time,
    lag1_autocorrelation,
)


def ar1(rho: float, n: int, replicas: int, seed: int) -> np.ndarray:
    """x_t = rho x_{t-1} + noise, started in equilibrium; (replicas, n)."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(size=(replicas, n))
    x = np.empty((replicas, n))
    x[:, 0] = noise[:, 0] / np.sqrt(1 - rho**2)
    for t in range(1, n):
        x[:, t] = rho * x[:, t - 1] + noise[:, t]
    return x


@pytest.mark.parametrize("rho", [0.0, 0.5, 0.8, 0.95])
def test_ar1_tau_matches_exact(rho):
    exact = (1 + rho) / (2 * (1 - rho))
    x = ar1(rho, 20000, 4, seed=int(rho * 100))
    est = integrated_autocorr_time(x)
    # relative statistical error of tau_int ~ sqrt(2(2W+1)/N_total) (Madras-Sokal)
    rel = np.sqrt(2 * (2 * est.window + 1) / x.size)
    assert abs(est.tau - exact) < 4 * rel * exact + 0.02
    assert est.reliable
    assert est.window >= 5 * est.tau - 1e-9


def test_single_series_and_replicas_agree_in_shape():
    x = ar1(0.7, 5000, 3, seed=1)
    one = integrated_autocorr_time(x[0])
    many = integrated_autocorr_time(x)
    assert one.n == many.n == 5000
    assert abs(one.tau - many.tau) < 1.5


def test_short_series_is_flagged_unreliable():
    x = ar1(0.98, 300, 1, seed=2)  # exact tau = 49.5, series ~6 tau long
    est = integrated_autocorr_time(x)
    assert not est.reliable


def test_constant_series_has_tau_one_half():
    est = integrated_autocorr_time(np.full((2, 100), -2.0))
    assert est.tau == 0.5 and est.reliable


def test_autocovariance_matches_direct_sum():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 64))
    c = autocovariance(x)
    xc = x - x.mean()
    direct = np.array([np.mean([np.sum(r[: 64 - t] * r[t:]) / 64 for r in xc]) for t in range(64)])
    np.testing.assert_allclose(c, direct, atol=1e-12)


def test_bad_input_raises():
    with pytest.raises(ValueError):
        integrated_autocorr_time(np.array([1.0]))
    with pytest.raises(ValueError):
        integrated_autocorr_time(np.array([1.0, np.nan, 2.0]))


def _rounds(x: np.ndarray) -> np.ndarray:
    """(replicas, n) chains as stored samples: sample k R + r is replica r's k-th."""
    return x.T.reshape(-1)


@pytest.mark.parametrize("rho", [0.0, 0.3, 0.7])
def test_lag1_of_stored_samples_matches_ar1(rho):
    x = ar1(rho, 400, 16, seed=5)  # 6384 pairs: standard error ~0.013
    r = lag1_autocorrelation(_rounds(x), 16)
    assert abs(r - rho) < 0.05
    # only samples of one replica are paired: the order of the replicas within a round is irrelevant
    assert lag1_autocorrelation(_rounds(x[::-1]), 16) == pytest.approx(r, rel=1e-12)


def test_lag1_is_undefined_without_two_samples_of_a_replica_or_variance():
    assert np.isnan(lag1_autocorrelation(np.arange(10.0), 16))  # every sample from its own chain
    assert np.isnan(lag1_autocorrelation(np.full(64, 2.0), 16))  # a frozen ground state
    assert not np.isnan(lag1_autocorrelation(np.arange(32.0), 16))


def test_effective_sample_size():
    assert effective_sample_size(300, 0.5) == pytest.approx(100.0)  # 2 tau = (1 + r) / (1 - r) = 3
    assert effective_sample_size(300, 0.2, 0.5, float("nan")) == pytest.approx(100.0)  # the worst observable
    assert effective_sample_size(300, -0.1) == 300.0  # never more than the samples
    assert effective_sample_size(300, float("nan"), float("nan")) == 300.0  # independent replicas


def test_effective_size_gives_the_variance_of_the_mean():
    """Means of AR(1) chains sampled every step: their spread is that of n_eff independent values."""
    rho, n, chains = 0.6, 200, 2000
    x = ar1(rho, n, chains, seed=9)
    n_eff = effective_sample_size(n, lag1_autocorrelation(_rounds(x[:16]), 16))
    # exact for a long AR(1) chain: var(mean) = var(x) / n * (1 + rho) / (1 - rho)
    ratio = x.mean(axis=1).var() / (x.var() / n_eff)
    assert 0.8 < ratio < 1.2
