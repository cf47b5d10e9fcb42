"""Kernel-level checks of the 2D Ising updates, the registry and the command-line grids."""

from __future__ import annotations

import numpy as np
import pytest
from fieldnet.simulations.grids import parse_params, parse_sizes, parse_temperatures
from fieldnet.simulations.ising2d import (
    Ising2D,
    MultispinMetropolis,
    Wolff,
    acceptance_classes,
    multispin2d_run,
)
from fieldnet.simulations.registry import available_models, get_model
from fieldnet.simulations.rng import seeded_states

from fieldnet.errors import FieldnetError


def test_ferromagnet_fast_path_makes_the_generic_decisions():
    """J > 0, h = 0 runs a specialised kernel; listing its classes in the other order forces the
    generic table-driven kernel, which must flip exactly the same spins with the same streams."""
    class_a, class_s, bits, _ = acceptance_classes(2.3, 1.0, 0.0)
    rng0 = seeded_states(4, 2 * 8, 8, 0)
    start = np.random.default_rng(0).integers(0, 2**63, size=(2, 8, 8), dtype=np.uint64)
    fast, slow = start.copy(), start.copy()
    rf, rs = rng0.copy(), rng0.copy()
    ff, fs = np.zeros(2, np.int64), np.zeros(2, np.int64)

    def five_sweeps(spins, rng, a, s, b, flips):
        values = np.empty((2, 1, 128))
        multispin2d_run(spins, np.zeros(2, np.uint64), rng, a, s, b, 1.0, 0.0, False, 5, values[0], values[1],
                        np.empty((0, 128, 1, 8, 8), np.int8), flips)

    five_sweeps(fast, rf, class_a, class_s, bits, ff)
    five_sweeps(slow, rs, class_a[::-1].copy(), class_s[::-1].copy(), bits[:, ::-1].copy(), fs)
    np.testing.assert_array_equal(fast, slow)
    np.testing.assert_array_equal(rf, rs)
    assert ff.tolist() == fs.tolist() and ff.sum() > 0


def test_zero_temperature_limit_only_goes_downhill():
    sweeper = MultispinMetropolis(1.0, 0.0)
    state = sweeper.init(6, 0.05, 64, seed=1, key=(0,))
    before = sweeper.measure(state)["energy"]
    sweeper.sweep(state, 3)
    assert np.all(sweeper.measure(state)["energy"] <= before + 1e-12)


def test_registry_builds_models_and_names_their_parameters():
    assert "ising2d" in available_models()
    model = get_model("ising2d", J="2", h="0.5")
    assert isinstance(model, Ising2D) and model.J == 2.0 and model.h == 0.5
    with pytest.raises(FieldnetError, match="parameters are: J"):
        get_model("ising2d", K=1)
    with pytest.raises(FieldnetError, match="J = 0 and h = 0"):
        get_model("ising2d", J=0)
    with pytest.raises(FieldnetError, match="available models: ising2d"):
        get_model("nosuch")
    assert get_model("ising2d", lattice="triangular").lattice == "triangular"  # a variant in its own module
    with pytest.raises(FieldnetError, match="no parameter 'lattice'"):
        get_model("ising3d", lattice="square")


def test_temperature_and_size_grids():
    np.testing.assert_allclose(parse_temperatures(["1.0:3.5:26"]), np.linspace(1.0, 3.5, 26))
    np.testing.assert_allclose(parse_temperatures(["2.5,1.5", "2.0", "1.5"]), [1.5, 2.0, 2.5])
    assert parse_sizes(["32", "16", "16"]) == [16, 32]
    assert parse_params(["J=1", "h=0.1"]) == {"J": "1", "h": "0.1"}
    for bad in (["0"], ["1:2"], ["a"], ["1:2:0"], ["nan"], ["2:2:5"], [""]):
        with pytest.raises(FieldnetError):
            parse_temperatures(bad)
    for bad in (["1"], ["2.5"], ["x"]):
        with pytest.raises(FieldnetError):
            parse_sizes(bad)
    with pytest.raises(FieldnetError, match="twice"):
        parse_params(["J=1", "J=2"])


@pytest.mark.parametrize(
    "make, replicas",
    [
        (lambda: MultispinMetropolis(1.0, 0.0), 128),
        (lambda: MultispinMetropolis(-1.0, 0.2), 64),
        (lambda: Wolff(1.0), 8),
        (lambda: Wolff(-1.0, 0.3), 8),
    ],
)
def test_draw_fast_path_equals_sweep_configs_measure(make, replicas):
    fast, slow = make(), make()
    state_fast = fast.init(6, 2.4, replicas, 3, (6, 1))
    state_slow = slow.init(6, 2.4, replicas, 3, (6, 1))
    configs, observables, _ = fast.draw(state_fast, 4, 3)
    assert configs.shape == (4, replicas, 1, 6, 6)
    for k in range(4):
        slow.sweep(state_slow, 3)
        np.testing.assert_array_equal(configs[k], slow.configs(state_slow))
        measured = slow.measure(state_slow)
        for name in ("energy", "magnetization"):
            np.testing.assert_allclose(observables[name][k], measured[name], rtol=0, atol=1e-12)


def test_wolff_sweep_flips_about_n_spins_in_equilibrium():
    """The clusters per sweep are calibrated on equilibrium clusters: counted from the ordered start
    (the first clusters span the lattice) a "sweep" above Tc flipped only 0.73 N at L = 32."""
    L, T = 32, 2.6
    sweeper = Wolff(1.0)
    state = sweeper.init(L, T, 8, 5, (L, 0))
    sweeper.sweep(state, 20)
    flipped = 0
    for _ in range(5):
        sweeper.sweep(state, 20)
        flipped += state["flipped"].sum()
    assert 0.9 < flipped / (100 * 8 * L * L) < 1.1
