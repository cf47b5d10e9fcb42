"""The model-independent sampling driver, with a toy sweeper whose autocorrelation is known."""

from __future__ import annotations

import math

import numpy as np
import pytest
from fieldnet.simulations.sampling import sample_point


class AR1Sweeper:
    """R independent AR(1) chains x <- rho x + noise; tau_int = (1 + rho) / (2 (1 - rho)).
    A 'configuration' records (replica, sweeps done) so the driver's bookkeeping is visible."""

    def __init__(self, rho: float):
        self.rho = rho

    def init(self, L, temperature, n_replicas, seed, key):
        return {"rng": np.random.default_rng([seed, *key]), "x": np.zeros(n_replicas), "t": 0}

    def sweep(self, state, n_sweeps):
        for _ in range(n_sweeps):
            state["x"] = self.rho * state["x"] + state["rng"].normal(size=state["x"].shape)
        state["t"] += n_sweeps
        return 0.5

    def measure(self, state):
        return {"energy": state["x"].copy(), "magnetization": state["x"].copy()}

    def configs(self, state):
        R = len(state["x"])
        out = np.zeros((R, 2, 1), dtype=np.float32)
        out[:, 0, 0] = np.arange(R)
        out[:, 1, 0] = state["t"]
        return out


def test_thinning_follows_tau_and_samples_are_interleaved():
    rho = 0.9  # tau_int = 9.5
    result = sample_point(AR1Sweeper(rho), 1, 1.0, 150, n_replicas=64, seed=0, key=(1, 2), algorithm="toy")
    assert result.configs.shape == (150, 2, 1)
    tau = result.stats["tau_int_energy"]
    assert abs(tau - 9.5) < 2.0  # statistical error ~0.8 (64 chains x 512 steps)
    assert result.stats["thinning"] == math.ceil(2 * max(tau, result.stats["tau_int_abs_magnetization"]))
    replica = result.configs[:, 0, 0]
    sweeps_done = result.configs[:, 1, 0]
    np.testing.assert_array_equal(replica, np.arange(150) % 64)  # sample k*R + r is replica r's k-th
    thin = result.stats["thinning"]
    assert sweeps_done[0] == result.stats["burn_in"] + thin
    np.testing.assert_array_equal(np.diff(sweeps_done[::64]), thin)
    assert result.stats["acceptance"] == 0.5 and result.warnings == []
    assert set(result.observables) == {"energy", "magnetization"} and result.observables["energy"].shape == (150,)


def test_pilot_grows_until_reliable_and_warns_when_the_budget_is_spent():
    slow = AR1Sweeper(0.995)  # tau_int ~ 200: needs a pilot half of 10^4 sweeps
    result = sample_point(slow, 1, 1.0, 4, n_replicas=4, seed=1, key=(0,), algorithm="toy", max_pilot=1024)
    assert result.stats["burn_in"] == 64 + 1024  # doubled 256 -> 512 -> 1024, then gave up
    assert len(result.warnings) >= 1 and "not reliable" in result.warnings[0] and "L=1" in result.warnings[0]
    fast = sample_point(AR1Sweeper(0.5), 1, 1.0, 4, n_replicas=4, seed=1, key=(0,), algorithm="toy")
    assert fast.stats["burn_in"] == 64 + 256 and fast.warnings == []


def test_progress_reports_samples_drawn():
    seen = []
    sample_point(AR1Sweeper(0.1), 1, 1.0, 10, n_replicas=4, seed=2, key=(0,), algorithm="toy", progress=seen.append)
    assert seen == [4, 8, 10]


def test_stored_series_lag1_and_effective_samples():
    """AR(1) thinned by t steps is AR(1) with rho^t: the records measure it on the stored samples."""
    rho, R = 0.8, 64
    result = sample_point(AR1Sweeper(rho), 1, 1.0, 64 * 40, n_replicas=R, seed=3, key=(0,), algorithm="toy", thinning=3)
    assert result.stats["thinning"] == 3
    r = rho**3  # 2496 pairs: standard error ~0.02
    assert abs(result.stats["lag1_autocorr_energy"] - r) < 0.08
    # |x| of a Gaussian pair with correlation r: corr = (sqrt(1 - r^2) + r arcsin r - 1) / (pi / 2 - 1)
    abs_r = (math.sqrt(1 - r * r) + r * math.asin(r) - 1) / (math.pi / 2 - 1)
    assert abs(result.stats["lag1_autocorr_abs_magnetization"] - abs_r) < 0.08
    assert result.stats["effective_samples"] == pytest.approx(64 * 40 * (1 - result.stats["lag1_autocorr_energy"])
                                                              / (1 + result.stats["lag1_autocorr_energy"]))
    # the default thinning, ceil(2 tau_int) = 9 steps (tau_int = 4.5): lag-1 0.8^9 = 0.13
    default = sample_point(AR1Sweeper(rho), 1, 1.0, 64 * 40, n_replicas=R, seed=3, key=(0,), algorithm="toy")
    assert 8 <= default.stats["thinning"] <= 11
    assert abs(default.stats["lag1_autocorr_energy"] - rho ** default.stats["thinning"]) < 0.08
