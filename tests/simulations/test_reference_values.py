"""Known critical temperatures and exponents live on the model classes, with their sources."""

from __future__ import annotations

import math

import pytest
from fieldnet.simulations.exact import onsager_tc
from fieldnet.simulations.ising2d import ONSAGER_TC
from fieldnet.simulations.registry import get_model


@pytest.mark.parametrize(
    "name, params, nu, source",
    [
        ("ising2d", {}, 1.0, "exact"),
        ("ising2d", {"J": -1.0}, 1.0, "exact"),  # the antiferromagnet maps onto the ferromagnet
        ("ising2d", {"lattice": "triangular"}, 1.0, "exact"),
        ("ising3d", {}, 0.62997, "bootstrap"),
        ("potts", {"q": 2}, 1.0, "exact"),
        ("potts", {"q": 3}, 5 / 6, "exact"),
        ("potts", {"q": 4}, 2 / 3, "exact"),
        ("phi4", {}, 1.0, "Ising universality"),
    ],
)
def test_known_exponents_and_their_sources(name, params, nu, source):
    model = get_model(name, **params)
    assert model.nu_reference() == pytest.approx(nu, rel=1e-12)
    assert source in model.nu_source


@pytest.mark.parametrize(
    "name, params, reason",
    [
        ("ising2d", {"h": 0.1}, "h != 0"),
        ("ising2d", {"lattice": "triangular", "J": -1.0}, "J <= 0"),
        ("ising3d", {"h": 0.2}, "h != 0"),
        ("potts", {"q": 5}, "first-order"),
        ("potts", {"J": -1.0}, "antiferromagnet"),
        ("xy", {}, "Kosterlitz-Thouless"),
        ("phi4", {"mu0sq": 0.5}, "no ordered phase"),
    ],
)
def test_no_exponent_says_why(name, params, reason):
    model = get_model(name, **params)
    assert model.nu_reference() is None
    assert model.nu_source.startswith("none") and reason in model.nu_source


def test_onsager_tc_has_one_home():
    assert ONSAGER_TC == pytest.approx(2.0 / math.log(1.0 + math.sqrt(2.0)), rel=1e-15)
    assert onsager_tc() == ONSAGER_TC and onsager_tc(-2.0) == 2.0 * ONSAGER_TC
    assert get_model("ising2d", J=1.5).critical_temperature() == 1.5 * ONSAGER_TC
