"""Global symmetry moves: in the ordered phase every update visits all the symmetry-related
states, uniformly (chi-square), and the direction of the order parameter is independent from one
stored sample to the next (lag-1 autocorrelation below 0.1).

Each sample's direction is drawn afresh by the move that precedes it, so under a correct sampler
the counts are exactly multinomial and the lag-1 estimate from ~1900 pairs has a standard error
of about 0.023: p > 1e-4 and r < 0.1 (4.3 standard errors) pass with probability > 0.9999.  A
sampler without the moves keeps one Potts colour or one phi^4 sign (chi-square p ~ 1e-400), or
turns the XY direction slowly or flips the Ising sign in lockstep (|r| near 1)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from fieldnet.simulations.autocorr import lag1_autocorrelation
from fieldnet.simulations.registry import get_model
from scipy.stats import chisquare

P_MIN = 1e-4
N_SAMPLES = 2048
XY_BINS = 8
TC_2D = 2.0 / math.log(1.0 + math.sqrt(2.0))
TC_POTTS3 = 1.0 / math.log(1.0 + math.sqrt(3.0))

CASES = [
    # (model, parameters, algorithm, L, T: about 0.3 of the transition temperature)
    ("potts", {"q": 3}, "heatbath", 8, 0.3 * TC_POTTS3),
    ("potts", {"q": 3}, "wolff", 8, 0.3 * TC_POTTS3),
    ("xy", {}, "metropolis", 8, 0.3),
    ("xy", {}, "wolff", 8, 0.3),
    ("phi4", {}, "metropolis", 8, 0.3),
    ("phi4", {}, "hmc", 8, 0.3),
    ("phi4", {}, "wolff", 8, 0.3),
    ("ising2d", {}, "metropolis", 8, 0.3 * TC_2D),
    ("ising2d", {}, "wolff", 8, 0.3 * TC_2D),
    ("ising3d", {}, "metropolis", 4, 1.5),
    ("ising3d", {}, "wolff", 4, 1.5),
]


def _directions(name: str, result) -> tuple[np.ndarray, np.ndarray, int]:
    """(category of each sample's direction, a real series whose autocorrelation follows that
    direction, number of categories)."""
    configs = result.configs
    if name == "potts":
        states = configs[:, 0].reshape(len(configs), -1)
        counts = np.stack([(states == k).sum(axis=1) for k in range(3)], axis=1)
        majority = np.argmax(counts, axis=1)
        # the direction as a unit vector of the simplex, e_k . e_l = 1 (k = l) or -1/2: its
        # component along state 0, whose autocorrelation is (3 P(same) - 1) / 2 like the vector's
        return majority, np.where(majority == 0, 1.0, -0.5), 3
    if name == "xy":
        angle = np.arctan2(configs[:, 1].astype(np.float64).sum(axis=(1, 2)), configs[:, 0].astype(np.float64).sum(axis=(1, 2)))
        bins = np.minimum(((angle + np.pi) / (2 * np.pi) * XY_BINS).astype(int), XY_BINS - 1)
        return bins, np.cos(angle), XY_BINS
    sign = np.sign(result.observables["magnetization"])
    return (sign > 0).astype(int), sign, 2


@pytest.mark.parametrize("name, params, algorithm, L, T", CASES)
def test_ordered_phase_visits_every_symmetric_state_independently(name, params, algorithm, L, T):
    model = get_model(name, **params)
    result = model.simulate_point(L, T, N_SAMPLES, algorithm=algorithm, seed=17, key=(L, 0))
    assert np.abs(result.observables["magnetization"]).mean() > 0.5  # ordered, as the test requires
    category, series, k = _directions(name, result)
    counts = np.bincount(category, minlength=k)
    assert chisquare(counts).pvalue > P_MIN, counts
    replicas = model.sweeper(algorithm, N_SAMPLES)[1]
    assert abs(lag1_autocorrelation(series, replicas)) < 0.1
