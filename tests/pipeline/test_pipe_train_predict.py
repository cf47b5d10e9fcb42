"""fieldnet train / predict from the command line on real Monte Carlo data."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

import fieldnet
from fieldnet.io.dataset import DatasetWriter, LatticeSpec

ONSAGER = 2.269185


def test_pipe_train_predict_classifies_held_out_temperatures(ising_data, run_cli, tmp_path):
    model = tmp_path / "m.h5"
    # hold out the critical window and two temperatures far from Tc on each side
    res = run_cli("train", ising_data, "-o", model, "--L", "12", "--preset", "r1", "--epochs", "6", "--seed", "1",
                  "--exclude-T", "2.1:2.5", "--exclude-T", "1.55:1.65", "--exclude-T", "3.1:3.3", "-q")
    assert res.returncode == 0, res.stderr
    m = fieldnet.load_model(model)
    assert len(m.history["val_loss"]) >= 1 and m.attrs["lattice_sizes"] == [12]
    pred_path = tmp_path / "p.nc"
    res = run_cli("predict", model, ising_data, "--L", "12", "-o", pred_path, "-q")
    assert res.returncode == 0, res.stderr
    pred = xr.open_dataset(pred_path, engine="h5netcdf")  # plain xarray, no fieldnet code
    assert pred.probability.dims == ("sample", "class") and list(pred["class"].values) == ["disordered", "ordered"]
    p_ordered = pred.probability.sel({"class": "ordered"})
    by_T = p_ordered.groupby("temperature").mean()
    assert by_T.sel(temperature=1.4) > 0.95 and by_T.sel(temperature=3.8) < 0.05
    held_out = pred.temperature.isin([1.6, 3.2])
    correct = (p_ordered[held_out] > 0.5) == (pred.label[held_out] == 1)
    assert float(correct.mean()) >= 0.99
    # the network's own p = 1/2 point of this single size lies near the transition
    half = by_T.temperature[np.argmin(np.abs(by_T.values - 0.5))]
    assert abs(float(half) - ONSAGER) < 0.3


def test_pipe_predict_with_an_ensemble_of_seeds(ising_data, run_cli, tmp_path):
    """`predict M1 M2 DATA --block 2`: each network's probabilities and their mean, on the
    configurations and coarse-grained; `analyze tc` adds the networks' spread to every error."""
    models = []
    for seed in (1, 2):
        models.append(tmp_path / f"m{seed}.h5")
        res = run_cli("train", ising_data, "-o", models[-1], "--preset", "gap", "--epochs", "2", "--seed", str(seed),
                      "--ordered-below", "1.8", "--disordered-above", "2.9", "-q")
        assert res.returncode == 0, res.stderr
    pred_path = tmp_path / "ens.nc"
    res = run_cli("predict", *models, ising_data, "--block", "2", "-o", pred_path, "-q")
    assert res.returncode == 0 and "ensemble of 2 networks" in res.stdout, res.stderr
    pred = xr.open_dataset(pred_path, engine="h5netcdf").load()
    assert pred.member_probability.dims == ("network", "sample", "class") and pred.sizes["network"] == 2
    assert pred.member_blocked_probability.dims == ("network", "sample", "class") and int(pred.attrs["block_size"]) == 2
    assert float(pred.attrs["ordered_below"]) == 1.8 and float(pred.attrs["disordered_above"]) == 2.9
    np.testing.assert_allclose(pred.probability.values, pred.member_probability.mean("network").values, atol=1e-6)
    single = tmp_path / "single.nc"
    assert run_cli("predict", models[1], ising_data, "-o", single, "-q").returncode == 0
    np.testing.assert_array_equal(xr.open_dataset(single, engine="h5netcdf").probability.values,
                                  pred.member_probability.isel(network=1).values)
    res = run_cli("analyze", "tc", pred_path, "-o", tmp_path / "tc", "--bootstrap", "8", "--no-figures")
    assert res.returncode == 0, res.stderr
    result = json.loads((tmp_path / "tc" / "tc.json").read_text())
    # sizes 8 and 12 have no L/2 partner: the network's peaks stand in for RG matching, and one
    # Binder crossing beside them
    assert result["headline"] == "network_peaks" and result["methods"]["binder"]["Tc"] is not None
    points = result["methods"]["network_peaks"]["points"]
    assert [p["L"] for p in points] == [[8], [12]] and all(p["T_err"] > 0 for p in points)


def test_pipe_train_bad_inputs_get_one_line(ising_data, run_cli, tmp_path):
    res = run_cli("train", ising_data, "-o", tmp_path / "m.h5", "--exclude-T", "1.0:2.2")
    assert res.returncode == 2 and "no ordered" in res.stderr and "Traceback" not in res.stderr
    res = run_cli("train", ising_data, "-o", tmp_path / "m.h5", "--preset", "r1")
    assert res.returncode == 2 and "several" in res.stderr
    # data without phase labels (no known Tc)
    unlabelled = tmp_path / "xy.h5"
    with DatasetWriter(unlabelled, {"model": "xy", "seed": 0}) as w:
        w.add_lattice(LatticeSpec(L=4, ndim=2, channel_names=("spin",), dtype="int8",
                                  temperatures=np.array([0.5, 1.5]), samples_per_temperature=4, observables=("energy",)))
        for i in range(2):
            w.write_point(4, i, np.ones((4, 1, 4, 4), np.int8), {"energy": np.zeros(4, np.float32)}, -1)
        w.finalize()
    res = run_cli("train", unlabelled, "-o", tmp_path / "m.h5")
    assert res.returncode == 2 and "--ordered-below" in res.stderr and "confusion" in res.stderr
    res = run_cli("train", unlabelled, "-o", tmp_path / "m.h5", "--ordered-below", "0.5", "--disordered-above", "1.5",
                  "--epochs", "1", "--preset", "gap", "-q")
    assert res.returncode == 0, res.stderr  # labelled by temperature bands: no known Tc needed
    res = run_cli("train", unlabelled, "-o", tmp_path / "m2.h5", "--ordered-below", "1.5", "--disordered-above", "0.5")
    assert res.returncode == 2 and "must be below" in res.stderr
    # a model and data that do not fit each other; existing output untouched
    model = tmp_path / "r1.h5"
    assert run_cli("train", ising_data, "-o", model, "--L", "8", "--preset", "r1", "--epochs", "1", "-q").returncode == 0
    existing = tmp_path / "keep.nc"
    existing.write_text("precious")
    res = run_cli("predict", model, ising_data, "--L", "12", "-o", existing, "--overwrite")
    assert res.returncode == 2 and "does not accept" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert existing.read_text() == "precious"


def test_pipe_divergence_stops_with_a_message(ising_data, run_cli, tmp_path):
    res = run_cli("train", ising_data, "-o", tmp_path / "m.h5", "--L", "8", "--lr", "1e9", "--epochs", "2", "-q")
    assert res.returncode == 2
    assert "diverged" in res.stderr and "learning rate" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "m.h5").exists()


def test_pipe_fine_tuning_freezes_layers(ising_data, run_cli, tmp_path):
    base = tmp_path / "gap.h5"
    assert run_cli("train", ising_data, "-o", base, "--L", "8", "--epochs", "1", "-q").returncode == 0
    tuned = tmp_path / "tuned.h5"
    res = run_cli("train", ising_data, "-o", tuned, "--L", "12", "--init", base, "--freeze", "3", "--epochs", "1", "-q")
    assert res.returncode == 0, res.stderr
    a, b = fieldnet.load_model(base).get_weights(), fieldnet.load_model(tuned).get_weights()
    assert np.array_equal(a["0/kernel"], b["0/kernel"]) and np.array_equal(a["2/kernel"], b["2/kernel"])
    assert not np.array_equal(a["4/kernel"], b["4/kernel"])
    assert json.loads(json.dumps(fieldnet.load_model(tuned).attrs))["train_config"]["freeze"] == 3


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the overflow is the point
def test_pipe_divergence_keeps_the_last_good_checkpoint(ising_data, tmp_path, monkeypatch):
    from fieldnet.engine.saving import load_checkpoint
    from fieldnet.errors import TrainingDiverged
    from fieldnet.io.atomic import partial_path
    from fieldnet.training import trainer as training

    class SaneThenHuge:  # a good first epoch, then a learning rate that must blow up
        def lr(self, epoch: int) -> float:
            return 1e-3 if epoch == 0 else 1e12

    monkeypatch.setattr("fieldnet.engine.schedules.get_schedule", lambda *args, **kwargs: SaneThenHuge())
    out = tmp_path / "m.h5"
    with pytest.raises(TrainingDiverged, match=r"epoch 2.*learning rate 1e\+12.*last good checkpoint"):
        training.train(ising_data, out, preset="gap", epochs=3, sizes=[8], exclude_T=[(2.1, 2.5)], seed=0,
                       progress=False, log=lambda *_: None)
    assert not out.exists()
    model, opt_state, extra = load_checkpoint(partial_path(out))
    assert extra["epoch"] == 1 and opt_state
    assert all(np.all(np.isfinite(w)) for w in model.get_weights().values())
    assert len(model.history["loss"]) == 1 and np.isfinite(model.history["loss"][0])


def test_pipe_preset_dropout_enables_mc_dropout():
    from fieldnet.engine.layers import Dropout
    from fieldnet.training.presets import build_preset

    model = build_preset("gap", (1, 8, 8), dropout=0.3, seed=1)
    assert isinstance(model.layers[-2], Dropout) and model.layers[-2].p == 0.3
    x = np.sign(np.random.default_rng(0).standard_normal((6, 1, 8, 8))).astype(np.float32)
    assert np.array_equal(model.predict_proba(x), model.predict_proba(x))
    assert not np.array_equal(model.predict_proba(x, training=True), model.predict_proba(x, training=True))
    assert not any(isinstance(layer, Dropout) for layer in build_preset("gap", (1, 8, 8)).layers)
