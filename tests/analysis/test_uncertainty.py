"""MC dropout: seeded spread, nothing but Dropout goes into training mode, a clear error without Dropout, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr
from fieldnet.analysis.uncertainty import mc_dropout, mc_dropout_probabilities

from fieldnet.engine.layers import BatchNorm, Conv2d, Dense, Dropout, GlobalAvgPool, ReLU
from fieldnet.engine.model import Sequential
from fieldnet.errors import FieldnetError


def dropout_net(rate: float = 0.4) -> Sequential:
    return Sequential([Conv2d(4, 3, activation="relu"), BatchNorm(), GlobalAvgPool(), Dense(16), ReLU(),
                       Dropout(rate), Dense(2)], input_shape=(1, 8, 8), seed=2)


def spins(n: int, seed: int = 0) -> np.ndarray:
    return np.where(np.random.default_rng(seed).random((n, 1, 8, 8)) < 0.5, -1.0, 1.0).astype(np.float32)


def test_passes_differ_are_seeded_and_leave_the_model_untouched():
    model = dropout_net()
    weights = model.get_weights()
    state = model.rng_state()
    x = spins(6)
    p = mc_dropout_probabilities(model, x, n_passes=12, seed=3)
    assert p.shape == (6, 12) and np.all((p >= 0) & (p <= 1))
    assert p.std(axis=1).min() > 0  # dropout makes the passes differ
    assert np.array_equal(p, mc_dropout_probabilities(model, x, n_passes=12, seed=3))
    assert np.array_equal(p[:2], mc_dropout_probabilities(model, x[:2], n_passes=12, seed=3))
    assert np.array_equal(p, mc_dropout_probabilities(model, x, n_passes=12, seed=3, batch_size=4))
    assert not np.array_equal(p, mc_dropout_probabilities(model, x, n_passes=12, seed=4))
    # BatchNorm stayed in evaluation mode (running statistics unchanged) and the dropout streams were restored
    after = model.get_weights()
    assert all(np.array_equal(after[k], v) for k, v in weights.items())
    assert model.rng_state() == state


def test_no_dropout_is_a_clear_error():
    model = Sequential([Conv2d(2, 3), GlobalAvgPool(), Dense(2)], input_shape=(1, 8, 8))
    with pytest.raises(FieldnetError, match="no Dropout layer"):
        mc_dropout_probabilities(model, spins(2))
    with pytest.raises(FieldnetError, match="no Dropout layer"):
        mc_dropout_probabilities(dropout_net(rate=0.0), spins(2))


def test_per_temperature_summary():
    x = spins(6, seed=1)
    ds = xr.Dataset({"config": (("sample", "channel", "y", "x"), x),
                     "temperature": ("sample", np.repeat([1.5, 2.5, 3.5], 2))})
    res = mc_dropout(dropout_net(), ds, n_passes=8)
    assert list(res["temperature"].values) == [1.5, 2.5, 3.5]
    assert np.allclose(res["mean"].values, res["p_mean"].values.reshape(3, 2).mean(axis=1))
    assert np.allclose(res["mc_std"].values, res["p_std"].values.reshape(3, 2).mean(axis=1))


def test_cli_uncertainty(run_cli, tmp_path):
    from fieldnet.simulations.campaign import run_campaign

    dropout_net().save(tmp_path / "m.h5")
    Sequential([Conv2d(2, 3), GlobalAvgPool(), Dense(2)], input_shape=(1, 8, 8)).save(tmp_path / "plain.h5")
    run_campaign("ising2d", {}, [8], [1.5, 2.3, 3.5], 3, seed=0, output=tmp_path / "data.h5", progress=False)
    res = run_cli("analyze", "uncertainty", "m.h5", "data.h5", "-o", "out", "--passes", "5", check=True)
    assert "largest model uncertainty" in res.stdout
    out = tmp_path / "out"
    result = json.loads((out / "uncertainty.json").read_text())
    assert result["temperature"] == [1.5, 2.3, 3.5] and all(s > 0 for s in result["mc_std"])
    assert xr.open_dataset(out / "uncertainty.nc", engine="h5netcdf")["mean"].dims == ("temperature",)
    assert (out / "uncertainty.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = run_cli("analyze", "uncertainty", "plain.h5", "data.h5", "-o", "bad")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "no Dropout layer" in bad.stderr
    assert not (tmp_path / "bad").exists()
