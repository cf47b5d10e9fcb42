"""Temperatures where a sampler degenerates are refused, in one line naming the usable range,
before anything is simulated or written; elsewhere the samplers work to the extremes."""

from __future__ import annotations

import numpy as np
import pytest
from fieldnet.simulations.campaign import plan_campaign
from fieldnet.simulations.registry import get_model

from fieldnet.errors import FieldnetError


@pytest.mark.parametrize(
    "name, params, algorithm, T, message",
    [
        # Metropolis at T = 1e300 would write its ordered start labelled disordered
        ("ising2d", {}, "metropolis", 1e300, "T <= 1.311e+05"),
        ("ising2d", {}, "auto", 1e6, "--algorithm wolff samples any T"),
        ("ising2d", {"lattice": "triangular"}, "metropolis", 1e7, "dE = 12"),
        ("ising3d", {}, "metropolis", 1e7, "rejected less than once per site"),
        ("potts", {"q": 3}, "heatbath", 1e-3, "T >= 0.005714"),
        ("phi4", {}, "hmc", 0.01, "more --param hmc_steps"),
        ("phi4", {}, "metropolis", 1e300, "almost no proposal is accepted"),
        ("xy", {}, "metropolis", 1e-305, "1/T leaves the floating-point range"),
    ],
)
def test_degenerate_temperatures_are_refused_in_one_line(name, params, algorithm, T, message):
    with pytest.raises(FieldnetError, match="outside the range") as info:
        plan_campaign(name, params, [6], [1.0, T], 4, algorithm, 0)
    assert message in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(FieldnetError, match="outside the range"):
        get_model(name, **params).simulate_point(6, T, 4, algorithm=algorithm, seed=0, key=(6, 0))


def test_the_hmc_bound_follows_the_lattice_and_the_step():
    model, finer = get_model("phi4"), get_model("phi4", hmc_steps=20)
    low = {L: model.usable_temperatures(L, "hmc").low for L in (16, 64)}
    assert low[64] == pytest.approx(4 * low[16])  # <dH> grows with the number of modes N = L^2
    assert finer.usable_temperatures(64, "hmc").low == pytest.approx(low[64] / 4)  # as eps^2
    assert model.usable_temperatures(64, "wolff").low < 1e-299


def test_cluster_updates_sample_the_extremes():
    hot = get_model("ising2d").simulate_point(8, 1e300, 256, algorithm="wolff", seed=1, key=(8, 0))
    assert abs(hot.observables["magnetization"]).mean() < 0.2  # disordered, not the ordered start
    assert abs(hot.observables["energy"].mean()) < 0.1
    cold = get_model("potts", q=3).simulate_point(6, 1e-3, 64, algorithm="wolff", seed=1, key=(6, 0))
    assert np.all(cold.observables["magnetization"] == 1.0)
