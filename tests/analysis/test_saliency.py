"""Occlusion, gradient saliency and Grad-CAM: zero where the output does not look, right gradients, the CLI."""

from __future__ import annotations

import json

import numpy as np
import xarray as xr
from fieldnet.analysis.saliency import grad_cam, gradient_saliency, occlusion_map, p_ordered

from fieldnet.engine.layers import Conv2d, Dense, Flatten, GlobalAvgPool, MaxPool2d
from fieldnet.engine.model import Sequential


def spins(n: int, L: int, seed: int = 0) -> np.ndarray:
    return np.where(np.random.default_rng(seed).random((n, 1, L, L)) < 0.5, -1.0, 1.0).astype(np.float32)


def left_half_model() -> Sequential:
    """A linear classifier that reads only the columns x < 4 of an 8 x 8 lattice."""
    model = Sequential([Flatten(), Dense(2)], input_shape=(1, 8, 8), seed=1)
    w = model.get_weights()
    kernel = w["1/kernel"]
    mask = (np.arange(64) % 8 < 4)  # flattened (y, x): x = index % 8
    if kernel.shape[0] == 64:
        kernel[~mask, :] = 0.0
    else:
        kernel[:, ~mask] = 0.0
    model.set_weights(w)
    return model


def test_occluding_where_the_output_does_not_look_changes_nothing():
    model = left_half_model()
    x = spins(3, 8)
    occ = occlusion_map(model, x, patch=3)
    assert occ.shape == (3, 8, 8)
    # a 3x3 patch centred on column 5 or 6 covers columns 4..7 only: no weight there
    assert np.all(occ[:, :, 5:7] == 0.0)
    # patches that reach the weighted columns (centres 0..4, and 7 which wraps to column 0) do change p
    assert np.all(np.abs(occ[:, :, [0, 1, 2, 3, 4, 7]]).max(axis=(1, 2)) > 1e-4)
    sal = gradient_saliency(model, x)
    assert np.all(sal[:, :, :, 4:] == 0.0) and np.abs(sal[:, :, :, :4]).min() > 0


def test_saliency_is_the_derivative_of_p_ordered():
    model = Sequential([Conv2d(2, 3, activation="relu"), GlobalAvgPool(), Dense(2)], input_shape=(1, 6, 6), seed=5)
    x = np.random.default_rng(2).normal(size=(2, 1, 6, 6)).astype(np.float32)
    sal = gradient_saliency(model, x)
    eps = 1e-2
    for site in [(0, 1, 2), (1, 4, 5)]:
        n, y, xx = site
        up, down = x.copy(), x.copy()
        up[n, 0, y, xx] += eps
        down[n, 0, y, xx] -= eps
        fd = (p_ordered(model, up)[n] - p_ordered(model, down)[n]) / (2 * eps)
        assert abs(fd - sal[n, 0, y, xx]) <= 0.05 * abs(fd) + 1e-5


def test_grad_cam_is_a_normalised_map_on_the_lattice():
    model = Sequential([Conv2d(3, 3, activation="relu"), MaxPool2d(2), Conv2d(3, 3, activation="relu"),
                        GlobalAvgPool(), Dense(2)], input_shape=(1, 8, 8), seed=3)
    x = spins(4, 8, seed=4)
    cam, predicted = grad_cam(model, x)
    assert cam.shape == (4, 8, 8) and set(predicted) <= {0, 1}
    assert cam.min() >= 0 and np.all((cam.max(axis=(1, 2)) == 1) | (cam.max(axis=(1, 2)) == 0))
    # the feature map is 4x4: each value covers a 2x2 block of lattice sites
    assert np.array_equal(cam[:, ::2, ::2], cam[:, 1::2, 1::2])
    p = p_ordered(model, x)
    assert np.array_equal(predicted, (p >= 0.5).astype(int))


def test_cli_occlusion(run_cli, tmp_path):
    from fieldnet.simulations.campaign import run_campaign

    Sequential([Conv2d(3, 3, activation="relu"), GlobalAvgPool(), Dense(2)], input_shape=(1, 8, 8), seed=1).save(tmp_path / "m.h5")
    run_campaign("ising2d", {}, [8], [1.5, 2.3, 3.5], 2, seed=0, output=tmp_path / "data.h5", progress=False)
    res = run_cli("analyze", "occlusion", "m.h5", "data.h5", "-o", "out", "--patch", "2", check=True)
    assert res.stdout.count("p(ordered)") == 3
    out = tmp_path / "out"
    result = json.loads((out / "saliency.json").read_text())
    assert [r["temperature"] for r in result["configurations"]] == [1.5, 2.3, 3.5]
    maps = xr.open_dataset(out / "saliency.nc", engine="h5netcdf")
    assert maps["occlusion"].dims == ("sample", "y", "x") and maps.sizes["sample"] == 3
    assert (out / "saliency.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = run_cli("analyze", "occlusion", "m.h5", "data.h5", "-o", "bad", "--patch", "9")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "patch" in bad.stderr
