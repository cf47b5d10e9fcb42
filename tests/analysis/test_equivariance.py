"""Equivariance analysis: exact identities of periodic convolutions, broken ones of zero padding and pooling."""

from __future__ import annotations

import json

import numpy as np
import xarray as xr
from fieldnet.analysis.equivariance import (
    POINT_GROUP,
    apply_point_group,
    equivariance_report,
    point_group_errors,
    spin_flip_errors,
    summary_table,
    translation_errors,
    with_padding,
)

from fieldnet.engine.layers import Conv2d, Dense, GlobalAvgPool, MaxPool2d
from fieldnet.engine.model import Sequential

EPS = 1e-5  # float32 identities: exact or a few ulps


def spins(n: int, L: int, seed: int = 0) -> np.ndarray:
    return np.where(np.random.default_rng(seed).random((n, 1, L, L)) < 0.5, -1.0, 1.0).astype(np.float32)


def pooled_net(padding: str = "periodic") -> Sequential:
    return Sequential([Conv2d(3, 3, padding=padding, activation="relu"), MaxPool2d(2),
                       Conv2d(3, 3, padding=padding, activation="relu"), GlobalAvgPool(), Dense(2)],
                      input_shape=(1, 8, 8), seed=4)


def test_point_group_has_eight_distinct_elements():
    a = np.arange(16.0).reshape(1, 1, 4, 4)
    images = {apply_point_group(a, g).tobytes() for g in POINT_GROUP}
    assert len(images) == 8
    assert np.array_equal(apply_point_group(apply_point_group(a, "rot90"), "rot270"), a)


def test_stride1_periodic_layers_are_exact_and_zero_padding_is_not():
    x = spins(3, 8)
    model = Sequential([Conv2d(4, 3, activation="relu"), Conv2d(4, 3)], input_shape=(1, 8, 8), seed=1)
    periodic = translation_errors(model, x)
    assert periodic.shape == (2, 8, 8) and bool(periodic["stride_multiple"].all())
    assert float(periodic.max()) < EPS
    zero = translation_errors(with_padding(model, "zero"), x)
    assert float(zero.sel(shift_y=0, shift_x=0).max()) < EPS  # the identity is always exact
    assert float(zero.isel(layer=0).max()) > 0.05


def test_pooling_is_equivariant_under_stride_multiples_only_and_global_pooling_is_invariant():
    x = spins(3, 8, seed=1)
    err = translation_errors(pooled_net(), x)
    assert list(err["cumulative_stride"].values) == [1, 2, 2, 2, 2]
    mult = err["stride_multiple"].values
    assert mult[1, 2, 4] and not mult[1, 1, 0] and mult[0].all()
    assert np.nanmax(err.values[mult]) < EPS
    assert err.values[1][~mult[1]].min() > 1e-3  # an odd shift moves sites across max-pool windows
    # a periodic conv net with global pooling and no stride: the output is invariant under every translation
    flat = Sequential([Conv2d(3, 3, activation="relu"), Conv2d(2, 3), GlobalAvgPool(), Dense(2)], input_shape=(1, 8, 8), seed=2)
    invariant = translation_errors(flat, x)
    assert float(invariant.sel(layer="3:Dense").max()) < EPS
    zero = translation_errors(with_padding(flat, "zero"), x)
    assert float(zero.sel(layer="3:Dense").max()) > 1e-3


def test_symmetric_filter_gives_point_group_invariance():
    model = Sequential([Conv2d(1, 3, bias=False), GlobalAvgPool()], input_shape=(1, 8, 8), seed=0)
    cross = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], np.float32)
    model.set_weights({"0/kernel": cross[None, None]})
    x = spins(4, 8, seed=2)
    pg = point_group_errors(model, x)
    assert pg.dims == ("layer", "symmetry") and float(pg.max()) < EPS
    # an asymmetric filter is not rotation equivariant
    model.set_weights({"0/kernel": np.array([[0, 1, 0], [0, 0, 0], [0, 0, 0]], np.float32)[None, None]})
    assert float(point_group_errors(model, x).sel(layer="0:Conv2d", symmetry="rot90")) > 0.1


def test_spin_flip_linear_conv_is_odd_and_max_pool_is_not():
    model = Sequential([Conv2d(2, 3, bias=False), MaxPool2d(2)], input_shape=(1, 8, 8), seed=3)
    sf = spin_flip_errors(model, spins(4, 8, seed=3))
    assert float(sf["odd_error"].sel(layer="0:Conv2d")) < EPS
    assert float(sf["maxpool_minpool_error"].sel(layer="1:MaxPool2d")) < EPS  # maxpool(-x) = -minpool(x)
    assert float(sf["maxpool_odd_error"].sel(layer="1:MaxPool2d")) > 0.05   # but not -maxpool(x)
    assert float(sf["odd_error"].sel(layer="1:MaxPool2d")) > 0.05
    assert np.isnan(float(sf["maxpool_odd_error"].sel(layer="0:Conv2d")))


def test_report_compares_paddings_on_the_same_weights():
    model = pooled_net()
    zero = with_padding(model, "zero")
    assert zero.layers[0].padding == "zero" and model.layers[0].padding == "periodic"
    for k, v in model.get_weights().items():
        assert np.array_equal(zero.get_weights()[k], v)
    report = equivariance_report(model, spins(2, 8, seed=5), shifts=[(0, 0), (0, 1), (2, 2)])
    assert list(report["padding"].values) == ["periodic", "zero"]
    rows = summary_table(report)
    by = {(r["padding"], r["layer"]): r for r in rows}
    assert by[("periodic", "0:Conv2d")]["translation_max_error"] < EPS
    assert by[("zero", "0:Conv2d")]["translation_max_error"] > 0.05
    assert by[("periodic", "4:Dense")]["translation_max_error"] < EPS


def test_cli_equivariance(run_cli, tmp_path):
    from fieldnet.simulations.campaign import run_campaign

    pooled_net().save(tmp_path / "model.h5")
    run_campaign("ising2d", {}, [8], [1.5, 3.5], 3, seed=0, output=tmp_path / "data.h5", progress=False)
    res = run_cli("analyze", "equivariance", "model.h5", "data.h5", "-o", "out", "--shift-step", "2", check=True)
    assert "max pool" in res.stdout and "periodic" in res.stdout
    out = tmp_path / "out"
    table = json.loads((out / "equivariance.json").read_text())["table"]
    assert {r["padding"] for r in table} == {"periodic", "zero"}
    ds = xr.open_dataset(out / "equivariance.nc", engine="h5netcdf")
    assert ds["translation_error"].dims == ("padding", "layer", "shift_y", "shift_x")
    for name in ("translation_error.png", "symmetry_error.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = run_cli("analyze", "equivariance", "model.h5", "missing.h5", "-o", "bad")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
