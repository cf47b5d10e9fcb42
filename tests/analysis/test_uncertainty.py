"""MC dropout: reproducible stochastic passes, inference-mode BatchNorm, per-T tables, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

from analysis.uncertainty import mc_dropout, mc_dropout_passes, uncertainty_by_temperature
from fieldnet.errors import FieldnetError
from fieldnet.layers import BatchNorm, Conv2d, Dense, Dropout, GlobalAvgPool
from fieldnet.model import Sequential


def dropout_net(with_batchnorm: bool = False) -> Sequential:
    layers = [Conv2d(4, 3, activation="relu"), *([BatchNorm()] if with_batchnorm else []), GlobalAvgPool(),
              Dense(8, activation="relu"), Dropout(0.4), Dense(2)]
    return Sequential(layers, input_shape=(1, 8, 8), seed=3)


def spin_data(temps=(1.5, 2.3, 3.5), per_T: int = 4, L: int = 8, seed: int = 0) -> xr.Dataset:
    """Synthetic configurations: a fraction ~1/T of the spins flipped from all-up."""
    rng = np.random.default_rng(seed)
    T = np.repeat(np.asarray(temps, float), per_T)
    flip = rng.random((T.size, 1, L, L)) < (0.5 * np.minimum(T[:, None, None, None] / 3.5, 1.0))
    config = np.where(flip, -1, 1).astype(np.int8)
    return xr.Dataset({"config": (("sample", "channel", "y", "x"), config), "temperature": ("sample", T)})


def test_passes_are_seeded_and_leave_the_model_untouched():
    model, x = dropout_net(), spin_data()["config"].values.astype(np.float32)
    before = model.predict_proba(x)
    state = model.rng_state()
    a = mc_dropout_passes(model, x, n_passes=6, seed=1)
    assert a.shape == (6, x.shape[0]) and np.all((a >= 0) & (a <= 1))
    assert np.array_equal(a, mc_dropout_passes(model, x, n_passes=6, seed=1))
    assert not np.array_equal(a, mc_dropout_passes(model, x, n_passes=6, seed=2))
    assert np.ptp(a, axis=0).min() > 0  # every configuration sees different masks
    assert model.rng_state() == state and "forward" not in vars(model.layers[4])
    assert np.array_equal(model.predict_proba(x), before)  # dropout is off again afterwards


def test_batchnorm_stays_in_inference_mode():
    model, x = dropout_net(with_batchnorm=True), spin_data()["config"].values.astype(np.float32)
    bn = model.layers[1]
    mean, var = bn.buffers["running_mean"].copy(), bn.buffers["running_var"].copy()
    mc_dropout_passes(model, x, n_passes=3, seed=0)
    assert np.array_equal(bn.buffers["running_mean"], mean) and np.array_equal(bn.buffers["running_var"], var)


def test_statistics_and_per_temperature_table():
    model, data = dropout_net(), spin_data(per_T=5)
    ds = mc_dropout(model, data, n_passes=8, seed=0, keep_passes=True)
    passes = ds["p_pass"].values
    assert np.allclose(ds["p_mean"], passes.mean(axis=0)) and np.allclose(ds["p_std"], passes.std(axis=0, ddof=1))
    assert np.all(ds["mutual_information"] >= 0) and np.all(ds["mutual_information"] <= ds["entropy"] + 1e-12)
    assert np.all(ds["entropy"] <= np.log(2) + 1e-12)
    by_T = uncertainty_by_temperature(ds)
    assert list(by_T["temperature"].values) == [1.5, 2.3, 3.5] and set(by_T["n_samples"].values) == {5}
    assert np.isclose(float(by_T["p_std"].sel(temperature=2.3)), float(ds["p_std"].values[5:10].mean()))


def test_a_model_without_dropout_is_refused():
    model = Sequential([Conv2d(2, 3), GlobalAvgPool(), Dense(2)], input_shape=(1, 8, 8), seed=0)
    with pytest.raises(FieldnetError, match="no Dropout layer"):
        mc_dropout(model, spin_data(), n_passes=4)


def test_cli_uncertainty(run_cli, tmp_path):
    from simulations.campaign import run_campaign

    dropout_net().save(tmp_path / "model.h5")
    Sequential([Conv2d(2, 3), GlobalAvgPool(), Dense(2)], input_shape=(1, 8, 8), seed=0).save(tmp_path / "plain.h5")
    run_campaign("ising2d", {}, [8], [1.5, 2.3, 3.5], 3, seed=0, output=tmp_path / "data.h5", progress=False)
    res = run_cli("analyze", "uncertainty", "model.h5", "data.h5", "-o", "out", "--passes", "5", check=True)
    assert "largest spread at T" in res.stdout
    out = tmp_path / "out"
    summary = json.loads((out / "uncertainty.json").read_text())
    assert [r["temperature"] for r in summary["by_temperature"]] == [1.5, 2.3, 3.5]
    assert summary["dropout_rates"] == [pytest.approx(0.4)]
    ds = xr.open_dataset(out / "uncertainty.nc", engine="h5netcdf")
    assert ds["p_std"].dims == ("sample",) and ds["p_std_by_T"].dims == ("temperature",)
    assert (out / "uncertainty.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = run_cli("analyze", "uncertainty", "plain.h5", "data.h5", "-o", "bad")
    assert bad.returncode == 2 and "no Dropout layer" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1 and not (tmp_path / "bad").exists()
