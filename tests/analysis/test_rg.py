"""RG coarse-graining: majority rule and max pooling, the flow to the fixed points, the T -> T' map, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr
from fieldnet.analysis.rg import (
    abs_magnetization,
    binder_cumulant,
    effective_temperature,
    majority_rule,
    map_fixed_point,
    max_pool_blocks,
    nn_energy,
    rg_flow,
    unstable_temperature,
)
from fieldnet.analysis.samples import load_configurations

from fieldnet.errors import FieldnetError


@pytest.fixture(scope="module")
def ising_file(tmp_path_factory):
    from fieldnet.simulations.campaign import run_campaign

    path = tmp_path_factory.mktemp("rg") / "ising.h5"
    run_campaign("ising2d", {}, [8, 16], [1.6, 2.0, 2.27, 2.6, 3.4], 60, seed=3, output=path, progress=False)
    return path


def test_majority_rule_keeps_all_up_and_all_down():
    up = np.ones((3, 1, 8, 8), np.int8)
    assert np.array_equal(majority_rule(up), np.ones((3, 1, 4, 4), np.int8))
    assert np.array_equal(majority_rule(-up, b=4), -np.ones((3, 1, 2, 2), np.int8))
    assert np.array_equal(max_pool_blocks(up), np.ones((3, 1, 4, 4), np.int8))


def test_majority_rule_of_random_spins_has_small_magnetisation():
    rng = np.random.default_rng(0)
    spins = np.where(rng.random((200, 1, 16, 16)) < 0.5, -1, 1).astype(np.int8)
    coarse = majority_rule(spins, rng=np.random.default_rng(1))
    assert coarse.shape == (200, 1, 8, 8) and set(np.unique(coarse)) == {-1, 1}
    # independent blocks: |m| of 64 random spins is ~ sqrt(2/(pi*64)) ~ 0.1, and the mean m ~ 0
    assert abs_magnetization(coarse).mean() < 0.15
    assert abs(coarse.mean()) < 0.02
    # max pooling is biased to up: a 2x2 block of random spins has max -1 only with probability 1/16
    assert max_pool_blocks(spins).mean() > 0.8


def test_majority_rule_tie_breaks_are_random_and_seeded():
    ties = np.tile(np.array([[1, -1], [-1, 1]], np.int8), (1, 1, 8, 8)).reshape(1, 1, 16, 16)
    a = majority_rule(np.repeat(ties, 50, axis=0), rng=np.random.default_rng(7))
    b = majority_rule(np.repeat(ties, 50, axis=0), rng=np.random.default_rng(7))
    assert np.array_equal(a, b)
    assert abs(a.mean()) < 0.05 and (a == 1).any() and (a == -1).any()


def test_observables_on_known_states():
    up = np.ones((2, 1, 4, 4))
    assert np.allclose(nn_energy(up), -2.0) and np.allclose(abs_magnetization(up), 1.0)
    checker = np.indices((4, 4)).sum(axis=0) % 2 * 2 - 1
    assert np.allclose(nn_energy(checker[None, None].astype(float)), 2.0)
    assert binder_cumulant(np.array([1.0, -1.0, 1.0])) == pytest.approx(2 / 3)
    with pytest.raises(FieldnetError, match="does not divide"):
        majority_rule(np.ones((1, 1, 6, 6)), b=4)
    fields = xr.Dataset({"config": (("sample", "channel", "y", "x"), np.full((2, 2, 4, 4), 0.5, np.float32)),
                         "temperature": ("sample", [1.0, 2.0])})
    with pytest.raises(FieldnetError, match="Ising spins"):
        rg_flow(fields)


def test_flow_goes_to_the_fixed_points(ising_file):
    flow = rg_flow(load_configurations(ising_file, 16), seed=0)
    assert list(flow["L_step"].values) == [16, 8, 4, 2]
    maj = flow.sel(rule="majority")
    cold, hot = maj.sel(temperature=1.6), maj.sel(temperature=3.4)
    # low T: towards the ordered fixed point, |m| -> 1 and energy -> -2 J
    assert cold["abs_m"].values[-1] >= cold["abs_m"].values[0] and cold["abs_m"].values[-1] > 0.98
    assert cold["energy"].values[-1] < cold["energy"].values[0] and cold["energy"].values[-1] < -1.95
    # high T: towards the disordered fixed point, nearest-neighbour correlations vanish
    assert np.all(np.diff(hot["energy"].values[:3]) > 0) and abs(hot["energy"].values[2]) < 0.3
    assert hot["binder"].values[1] < 0.3
    # max pooling is not spin-flip symmetric: at high T it flows to all up, not to disorder
    assert flow.sel(rule="maxpool", temperature=3.4)["abs_m"].values[-1] > 0.9 > hot["abs_m"].values[-1]


def test_effective_temperature_map_has_an_unstable_point_near_tc(ising_file):
    flow = rg_flow(load_configurations(ising_file, 16), steps=1, seed=0)
    t_eff = effective_temperature(flow, {8: load_configurations(ising_file, 8)})
    assert t_eff.dims == ("rule", "step", "temperature") and np.isnan(t_eff.values[:, 0]).all()
    maj = t_eff.sel(rule="majority", step=1).values
    T = flow["temperature"].values
    # below Tc the coarse lattice looks colder (T' < T), above it hotter (T' > T)
    assert maj[T == 2.0] < 1.95 and maj[T == 2.6] > 2.7
    assert 1.9 < map_fixed_point(t_eff) < 2.6


def test_flow_is_reproducible_with_its_seed(ising_file):
    ds = load_configurations(ising_file, 8)
    xr.testing.assert_identical(rg_flow(ds, seed=5), rg_flow(ds, seed=5))


def test_cli_rg_writes_numbers_and_figures(run_cli, ising_file, tmp_path):
    res = run_cli("analyze", "rg", str(ising_file), "-o", "out", check=True)
    assert "effective temperature map" in res.stdout
    out = tmp_path / "out"
    result = json.loads((out / "rg.json").read_text())
    assert result["L"] == 16 and result["direct_sizes_matched"] == [8]
    assert 1.9 < result["map_fixed_point"]["majority"] < 2.6
    ds = xr.open_dataset(out / "rg.nc", engine="h5netcdf")
    assert set(ds.data_vars) >= {"abs_m", "energy", "binder", "T_eff"}
    for name in ("rg_flow_majority.png", "rg_flow_maxpool.png", "rg_temperature_map.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = run_cli("analyze", "rg", str(ising_file), "--block", "3", "-o", "bad")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "does not divide" in bad.stderr


def test_unstable_point_is_the_real_crossing_not_ordered_phase_noise():
    # U(L/b) - U(L): noise of +-1e-4 around 0 deep in the ordered phase (a spurious sign change
    # between T = 1.5 and 1.9), then the real crossing between 2.4 and 2.6
    T = np.array([1.5, 1.9, 2.1, 2.27, 2.4, 2.6, 3.0])
    change = np.array([1e-4, -3e-4, 2e-3, 5e-3, 6e-3, -1.3e-2, -8e-2])
    binder = np.stack([np.full(T.size, 0.5), 0.5 + change])[None]
    flow = xr.Dataset({"binder": (("rule", "step", "temperature"), binder)},
                      coords={"rule": ["majority"], "step": [0, 1], "temperature": T})
    assert unstable_temperature(flow) == pytest.approx(2.4 + 0.2 * 6e-3 / 1.9e-2)
