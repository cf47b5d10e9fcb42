"""Filter analysis: physics-kernel similarity finds a planted filter, dead filters are found, the CLI draws them."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr
from fieldnet.analysis.filters import (
    PHYSICS_KERNELS,
    dead_filters,
    kernel_similarity,
    physics_kernels,
)

from fieldnet.engine.layers import Conv2d, Dense, Flatten, GlobalAvgPool, MaxPool2d
from fieldnet.engine.model import Sequential
from fieldnet.errors import FieldnetError


def planted_model() -> Sequential:
    """Filter 0 = nearest-neighbour sum, filter 1 = checkerboard, filter 2 = random, filter 3 dead (bias -100)."""
    model = Sequential([Conv2d(4, 3, activation="relu"), MaxPool2d(2), Conv2d(2, 3, activation="relu"),
                        GlobalAvgPool(), Dense(2)], input_shape=(1, 8, 8), seed=0)
    w = model.get_weights()
    k = physics_kernels(3)
    w["0/kernel"][0, 0] = 0.7 * k["nn_sum"]
    w["0/kernel"][1, 0] = -0.3 * k["checkerboard"]
    w["0/bias"][3] = -100.0
    model.set_weights(w)
    return model


def test_kernels_are_the_textbook_ones():
    k = physics_kernels(3)
    assert list(k) == list(PHYSICS_KERNELS)
    assert np.array_equal(k["laplacian"], [[0, 1, 0], [1, -4, 1], [0, 1, 0]])
    assert k["checkerboard"][0, 0] == 1 and k["checkerboard"][0, 1] == -1 and k["uniform"].sum() == 9
    assert np.isnan(physics_kernels(2)["nn_sum"]).all() and not np.isnan(physics_kernels(2)["uniform"]).any()
    with pytest.raises(FieldnetError):
        physics_kernels(1)


def test_planted_nearest_neighbour_filter_is_identified():
    model = planted_model()
    sim = kernel_similarity(model.layers[0].params["kernel"])
    assert sim.dims == ("filter", "kernel")
    assert sim["best_kernel"].values[0] == "nn_sum" and sim.sel(filter=0, kernel="nn_sum") == pytest.approx(1.0)
    assert sim.sel(filter=0, kernel="laplacian") == pytest.approx(4 / np.sqrt(4 * 20))
    assert sim["best_kernel"].values[1] == "checkerboard" and sim.sel(filter=1, kernel="checkerboard") == pytest.approx(-1.0)
    assert np.all(np.abs(sim.values) <= 1 + 1e-12)


def test_dead_filter_is_found_and_live_ones_are_not():
    x = np.where(np.random.default_rng(0).random((20, 1, 8, 8)) < 0.5, -1, 1).astype(np.float32)
    dead = dead_filters(planted_model(), x)
    assert list(dead["layer"].values) == ["0:Conv2d", "1:MaxPool2d", "2:Conv2d"]
    assert dead.sel(layer="0:Conv2d").values.tolist() == [False, False, False, True]
    assert dead.sel(layer="1:MaxPool2d").values.tolist() == [False, False, False, True]
    assert int(dead["n_channels"].sel(layer="2:Conv2d")) == 2


def test_cli_filters(run_cli, tmp_path):
    from fieldnet.simulations.campaign import run_campaign

    planted_model().save(tmp_path / "model.h5")
    run_campaign("ising2d", {}, [8], [1.5, 2.3, 3.5], 4, seed=0, output=tmp_path / "data.h5", progress=False)
    res = run_cli("analyze", "filters", "model.h5", "data.h5", "-o", "out", check=True)
    assert "filter   0: most like nn_sum" in res.stdout
    out = tmp_path / "out"
    result = json.loads((out / "filters.json").read_text())
    assert result["filters"][0]["best_kernel"] == "nn_sum" and result["dead_filters"]["0:Conv2d"] == [3]
    assert set(result["activation_temperatures"]) == {"low", "critical", "high"}
    ds = xr.open_dataset(out / "filters.nc", engine="h5netcdf")
    assert ds["similarity"].dims == ("filter", "kernel") and ds["filter_weights"].shape == (4, 1, 3, 3)
    for name in ("filters.png", "filter_similarity.png", "activations.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    dense = Sequential([Flatten(), Dense(2)], input_shape=(1, 8, 8))
    dense.save(tmp_path / "dense.h5")
    bad = run_cli("analyze", "filters", "dense.h5", "data.h5", "-o", "bad")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
