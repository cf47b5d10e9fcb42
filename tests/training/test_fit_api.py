"""Training from a notebook: fit on arrays and xarray, the estimator, data made without fieldnet,
reruns of a cell, and the seeding discipline of the one training loop."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import fieldnet
from fieldnet.errors import FieldnetError, TrainingDiverged
from fieldnet.training.config import TrainConfig
from fieldnet.training.estimator import PhaseClassifier
from fieldnet.training.presets import build_preset
from fieldnet.training.trainer import fit, train

ROOT = Path(__file__).resolve().parents[2]
T_STAR = 2.3


def planted(L=8, n=24, temps=(1.4, 1.8, 2.1, 2.5, 2.9, 3.4), seed=0):
    """+-1 spins with mean +-0.8 below T_STAR and 0 above (numpy only, no fieldnet)."""
    rng = np.random.default_rng(seed)
    T = np.repeat(np.asarray(temps, float), n)
    m = np.where(T < T_STAR, 0.8, 0.0) * rng.choice([-1, 1], T.size)
    spins = np.where(rng.random((T.size, 1, L, L)) < ((1 + m) / 2)[:, None, None, None], 1, -1).astype(np.int8)
    return spins, T, (T < T_STAR).astype(int)


def test_fit_on_arrays_returns_the_history_and_learns():
    x, T, y = planted()
    model = build_preset("gap", (1, 8, 8), seed=1)
    history = fit(model, x, y, temperature=T, epochs=4, batch_size=16, lr=0.05)
    assert set(history) >= {"epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr"}
    assert history["epoch"] == [1, 2, 3, 4] and history["val_accuracy"][-1] >= 0.9
    xv, Tv, yv = planted(seed=9)
    more = fit(model, x, y, validation_data=(xv, yv), epochs=1, lr=0.01)
    assert more["epoch"] == [1] and len(model.history["epoch"]) == 5
    assert model.attrs["n_val"] == len(yv) and model.attrs["n_train"] == len(y)


def test_fit_on_an_xarray_dataset_made_without_fieldnet():
    """A plain xarray Dataset of another code (its own names, no fieldnet attributes) trains and predicts."""
    from fieldnet.io.importers import from_xarray
    from fieldnet.training.predict import predict_dataset

    x, T, y = planted()
    theirs = xr.Dataset({"spins": (("n", "row", "col"), x[:, 0]), "T": ("n", T), "phase": ("n", y),
                         "m": ("n", x.mean(axis=(1, 2, 3)))}, attrs={"creator": "another code"})
    ds = from_xarray(theirs, config="spins", temperature="T", label="phase", lattice_shape=(8, 8))
    assert ds.config.dims == ("sample", "channel", "y", "x") and ds.config.dtype == np.int8 and "m" in ds
    clf = PhaseClassifier(epochs=4, batch_size=16, lr=0.05, seed=2).fit(ds)
    assert clf.score(ds) >= 0.9
    pred = predict_dataset(clf.model_, ds)
    assert pred.attrs["data"] == "<in-memory Dataset>"
    np.testing.assert_array_equal(pred.sample_index.values, np.arange(len(T)))
    with pytest.raises(FieldnetError, match="lacks 'config'"):
        PhaseClassifier().fit(theirs)


def test_text_files_like_carrasquilla_melko_through_the_command_line(tmp_path, run_cli):
    """0/1 rows of L*L sites in a text file, temperatures in another: imported, written as a data
    file, trained and predicted by the command line."""
    from fieldnet.io.importers import from_arrays, write_dataset

    x, T, _ = planted(n=16)
    np.savetxt(tmp_path / "x.txt", (x.reshape(len(T), -1) + 1) // 2, fmt="%d")
    np.savetxt(tmp_path / "t.txt", T)
    rows = np.loadtxt(tmp_path / "x.txt", dtype=int)
    ds = from_arrays(2 * rows - 1, np.loadtxt(tmp_path / "t.txt"), lattice_shape=(8, 8), Tc=T_STAR, model="ising2d")
    write_dataset(ds, tmp_path / "cm.h5")
    res = run_cli("train", "cm.h5", "-o", "m.h5", "--epochs", "2", "--lr", "0.05", "-q", check=True)
    assert "wrote m.h5" in res.stdout
    run_cli("predict", "m.h5", "cm.h5", "-o", "p.nc", "-q", check=True)
    pred = xr.open_dataset(tmp_path / "p.nc", engine="h5netcdf")
    assert pred.sizes["sample"] == len(T) and set(np.unique(pred.label.values)) == {0, 1}


def test_estimator_protocol():
    clf = PhaseClassifier(epochs=2, seed=3, exclude_T=[(2.0, 2.2)])
    assert clf.get_params()["epochs"] == 2 and clf.get_params()["preset"] == TrainConfig().preset
    assert not [k for k in vars(clf) if k.endswith("_")]            # nothing learned yet
    assert clf.set_params(epochs=3) is clf and clf.epochs == 3
    with pytest.raises(FieldnetError, match="not fitted"):
        clf.predict_proba(np.zeros((1, 1, 8, 8), np.float32))
    x, T, y = planted()
    assert clf.fit(x, y, temperature=T) is clf
    p = clf.predict_proba(x)
    assert isinstance(p, np.ndarray) and p.shape == (len(y), 2)
    np.testing.assert_array_equal(clf.predict(x), np.argmax(p, axis=1))
    assert clf.classes_.tolist() == [0, 1] and clf.input_shape_ == (1, 8, 8)


def test_scikit_learn_clones_the_estimator():
    sklearn_base = pytest.importorskip("sklearn.base")
    clf = PhaseClassifier(epochs=2, seed=3, exclude_T=[(2.0, 2.2)])
    clone = sklearn_base.clone(clf)
    assert clone.get_params() == clf.get_params() and clone is not clf


def test_predictions_of_a_dataset_keep_its_coordinates(ising_data, tmp_path):
    from fieldnet.training.predict import predict_dataset

    clf = PhaseClassifier(epochs=1, seed=1).fit(ising_data)           # streamed from the file, nothing written
    assert not list(Path(ising_data).parent.glob("*.partial"))
    ds = fieldnet.open_dataset(ising_data, L=12).load()
    part = ds.isel(sample=slice(10, 40)).assign_coords(sample_index=("sample", np.arange(10, 40)))
    p = clf.predict_proba(part)
    assert p.dims == ("sample", "class") and {"temperature", "label", "sample_index"} <= set(p.coords)
    from_file = predict_dataset(clf.model_, ising_data, sizes=[12])
    # other batches, so the dense layers' BLAS may round differently
    np.testing.assert_allclose(p.values, from_file.probability.values[10:40], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(p.sample_index.values, from_file.sample_index.values[10:40])
    assert p.sel({"class": "ordered"}).groupby("temperature").mean().sizes["temperature"] >= 1
    both = predict_dataset(clf.model_, [fieldnet.open_dataset(ising_data, L=8).load(), ds])
    np.testing.assert_array_equal(both.L.values, predict_dataset(clf.model_, ising_data).L.values)
    path = clf.save(tmp_path / "clf.h5")
    back = PhaseClassifier.load(path)
    np.testing.assert_array_equal(back.predict_proba(part).values, p.values)


def test_rerunning_a_notebook_cell_replaces_the_model(ising_data, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first = train(ising_data, "model.h5", epochs=1, sizes=[8], seed=1, progress=False, log=lambda line: None)
    second = train(ising_data, "model.h5", epochs=1, sizes=[8], seed=1, progress=False, log=lambda line: None)
    assert all(np.array_equal(a, b) for a, b in zip(first.get_weights().values(), second.get_weights().values(), strict=True))
    in_memory = train(ising_data, None, epochs=1, sizes=[8], seed=1, progress=False, log=lambda line: None)
    assert all(np.array_equal(a, b) for a, b in zip(first.get_weights().values(), in_memory.get_weights().values(), strict=True))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.h5"]


def test_fit_speaks_python_when_training_diverges():
    x, T, y = planted()
    model = build_preset("gap", (1, 8, 8), seed=1)
    with pytest.raises(TrainingDiverged) as info, np.errstate(all="ignore"):
        fit(model, x, y, epochs=2, lr=1e12)
    assert "lr=" in str(info.value) and "--lr" not in str(info.value)
    with pytest.raises(FieldnetError, match="preset"):
        fit(model, x, y, preset="r1")


_SEEDED = """
import json, sys
import numpy as np
sys.path.insert(0, {root!r})
from tests.training.test_fit_api import planted
from fieldnet.training.presets import build_preset
from fieldnet.training.trainer import fit
x, T, y = planted()
model = build_preset("gap", (1, 8, 8), seed=4)
fit(model, x, y, temperature=T, epochs=2, batch_size=16, seed=7)
print("WEIGHTS " + json.dumps({{k: float(np.asarray(v, np.float64).sum()) for k, v in model.get_weights().items()}}))
print("HASH " + str(hash(b"".join(np.ascontiguousarray(v).tobytes() for v in model.get_weights().values()))))
"""


def test_same_seed_same_weights_whatever_the_thread_count():
    hashes = []
    for threads in ("1", "2"):
        env = {**os.environ, "NUMBA_NUM_THREADS": threads, "PYTHONHASHSEED": "0"}
        res = subprocess.run([sys.executable, "-c", _SEEDED.format(root=str(ROOT))], capture_output=True, text=True,
                             env=env, timeout=600)
        assert res.returncode == 0, res.stderr[-2000:]
        hashes.append(next(ln for ln in res.stdout.splitlines() if ln.startswith("HASH ")))
        weights = json.loads(next(ln for ln in res.stdout.splitlines() if ln.startswith("WEIGHTS "))[8:])
        assert all(np.isfinite(v) for v in weights.values())
    assert hashes[0] == hashes[1]
