"""Sequential and model files: summary numbers, training, saving and loading, determinism."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest

import fieldnet
from fieldnet.engine.layers import (
    AvgPool2d,
    Conv2d,
    Dense,
    Dropout,
    Flatten,
    GlobalAvgPool,
    LeakyReLU,
    MaxPool2d,
    ReLU,
)
from fieldnet.engine.losses import get_loss
from fieldnet.engine.model import Sequential
from fieldnet.engine.optimizers import SGD
from fieldnet.errors import DataFileError, ShapeError


def r1(L=16, seed=0):
    return Sequential(
        [Conv2d(16, 3), ReLU(), MaxPool2d(2), Conv2d(32, 3), ReLU(), MaxPool2d(2), Flatten(),
         Dense(64), ReLU(), Dense(2)],
        input_shape=(1, L, L), seed=seed,
    )


def toy_data(n=128, L=8, seed=0):
    """Ordered (all spins equal, random sign) against random configurations."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = np.where(rng.random((n, 1, L, L)) < 0.5, -1.0, 1.0).astype(np.float32)
    x[y == 1] = rng.choice([-1.0, 1.0], size=(int(y.sum()), 1, 1, 1))
    return x, y


def test_engine_r1_summary_counts_parameters_and_flops():
    model = r1(L=32)
    assert model.layers[0].param_count() == 16 * 3 * 3 * 1 + 16  # N K K C + N
    assert model.layers[3].param_count() == 32 * 3 * 3 * 16 + 32
    assert model.layers[7].param_count() == 32 * 8 * 8 * 64 + 64
    assert model.param_count() == 160 + 4640 + 131136 + 130
    assert model.output_shape == (2,) and model.compute_output_shape((1, 32, 32)) == (2,)
    assert model.layers[0].input_shape == (1, 32, 32) and model.layers[0].output_shape == (16, 32, 32)
    assert model.layers[2].output_shape == model.layers[2].compute_output_shape((16, 32, 32)) == (16, 16, 16)
    text = model.summary()
    assert "(32, 8, 8)" in text and "136,066" in text and f"{model.flops():,}" in text
    assert model.flops() == sum(layer.flops(s) for layer, s in zip(model.layers, _shapes(model), strict=True))


def _shapes(model):
    shapes, s = [], model.input_shape
    for layer in model.layers:
        shapes.append(s)
        s = layer.compute_output_shape(s)
    return shapes


def test_engine_shape_error_names_the_layer_and_rule():
    with pytest.raises(ShapeError, match=r"layer 2 \(MaxPool2d\).*\(W - F \+ 2P\)/S \+ 1"):
        Sequential([Conv2d(4, 3, padding="valid"), ReLU(), MaxPool2d(4)], input_shape=(1, 5, 5))


def test_engine_training_learns_and_save_load_is_bit_identical(tmp_path):
    x, y = toy_data()
    model = Sequential([Conv2d(8, 3, activation="relu"), GlobalAvgPool(), Dense(2)], input_shape=(1, 8, 8), seed=1)
    model2 = Sequential([Conv2d(8, 3, activation="relu"), GlobalAvgPool(), Dense(2)], input_shape=(1, 8, 8), seed=1)
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights().values(), model2.get_weights().values(), strict=True))
    loss, opt = get_loss("softmax_cross_entropy"), SGD(lr=0.05)
    for _ in range(15):
        for b in range(0, len(x), 32):
            model.train_step(x[b:b + 32], y[b:b + 32], loss, opt)
    assert model.evaluate(x, y, loss)[1] == 1.0
    model.history = {"loss": [0.5, 0.1]}
    model.attrs = {"data": "toy"}
    path = tmp_path / "m.h5"
    model.save(path)
    loaded = fieldnet.load_model(path)
    assert np.array_equal(loaded.predict(x), model.predict(x))
    assert loaded.history == model.history and loaded.attrs == model.attrs
    # a periodic conv net with global pooling is translation invariant, exactly
    shifted = np.roll(x, (3, -2), axis=(2, 3))
    np.testing.assert_allclose(loaded.predict(shifted), loaded.predict(x), rtol=1e-5, atol=1e-5)


def test_engine_freeze_keeps_first_layers_fixed():
    x, y = toy_data(64)
    model = r1(L=8).freeze(2)
    before = model.get_weights()
    model.train_step(x, y, get_loss("softmax_cross_entropy"), SGD(lr=0.01))
    after = model.get_weights()
    assert np.array_equal(before["0/kernel"], after["0/kernel"])
    assert not np.array_equal(before["3/kernel"], after["3/kernel"])
    assert "(frozen)" in model.summary()


def test_engine_input_gradient_matches_finite_differences():
    model = Sequential([Conv2d(3, 3), ReLU(), Flatten(), Dense(2)], input_shape=(1, 4, 4), seed=2)
    x = np.random.default_rng(0).standard_normal((1, 1, 4, 4)).astype(np.float32)
    g = model.input_gradient(x, 1)
    eps = 1e-2
    for idx in [(0, 0, 0, 0), (0, 0, 2, 3), (0, 0, 3, 1)]:
        up, down = x.copy(), x.copy()
        up[idx] += eps
        down[idx] -= eps
        numeric = (model.predict(up)[0, 1] - model.predict(down)[0, 1]) / (2 * eps)
        assert g[idx] == pytest.approx(numeric, rel=2e-2, abs=2e-3)
    assert model.input_grad is False  # restored


def test_engine_mc_dropout_varies_only_in_training_mode():
    model = Sequential([Flatten(), Dense(16, activation="relu"), Dropout(0.5), Dense(2)], input_shape=(1, 4, 4), seed=0)
    x = np.random.default_rng(0).standard_normal((5, 1, 4, 4)).astype(np.float32)
    assert np.array_equal(model.predict_proba(x), model.predict_proba(x))
    assert not np.array_equal(model.predict_proba(x, training=True), model.predict_proba(x, training=True))
    np.testing.assert_allclose(model.predict_proba(x).sum(axis=1), 1, rtol=1e-6)


# The architecture attribute of a model file that uses the Keras-style argument names
# (units, use_bias, pool_size, rate, LeakyReLU's alpha), exactly as such files store it.
OLD_NAMES_ARCHITECTURE = (
    '{"input_shape": [1, 8, 8], "seed": 4, "layers": ['
    '{"type": "Conv2d", "config": {"name": null, "in_channels": null, "out_channels": 3, "kernel_size": 3, '
    '"stride": 1, "padding": "periodic", "bias": true, "activation": "relu"}}, '
    '{"type": "MaxPool2d", "config": {"name": null, "pool_size": 2, "stride": null}}, '
    '{"type": "AvgPool2d", "config": {"name": null, "pool_size": [2, 1], "stride": 1}}, '
    '{"type": "LeakyReLU", "config": {"name": null, "alpha": 0.1}}, '
    '{"type": "Flatten", "config": {"name": null}}, '
    '{"type": "Dense", "config": {"name": null, "units": 8, "activation": "relu", "use_bias": false, "init": "glorot"}}, '
    '{"type": "Dropout", "config": {"name": null, "rate": 0.25}}, '
    '{"type": "Dense", "config": {"name": null, "units": 2, "activation": null, "use_bias": true, "init": "he"}}]}'
)


def test_engine_model_file_with_old_argument_names_loads_and_predicts_bit_for_bit(tmp_path):
    model = Sequential(
        [Conv2d(3, 3, activation="relu"), MaxPool2d(2), AvgPool2d([2, 1], stride=1), LeakyReLU(0.1), Flatten(),
         Dense(8, activation="relu", bias=False, init="glorot"), Dropout(0.25), Dense(2)],
        input_shape=(1, 8, 8), seed=4,
    )
    path = tmp_path / "old.h5"
    model.save(path)
    with h5py.File(path, "r+") as f:
        new_names = json.loads(f.attrs["architecture"])
        f.attrs["architecture"] = OLD_NAMES_ARCHITECTURE
    old_names = json.loads(OLD_NAMES_ARCHITECTURE)
    # the same architecture, only the argument names differ
    assert json.dumps(old_names).replace('"units"', '"out_features"').replace('"use_bias"', '"bias"').replace(
        '"pool_size"', '"kernel_size"').replace('"rate"', '"p"').replace('"alpha"', '"negative_slope"') == json.dumps(new_names)
    loaded = fieldnet.load_model(path)
    assert loaded.get_config() == model.get_config()
    x = np.random.default_rng(0).standard_normal((16, 1, 8, 8)).astype(np.float32)
    assert np.array_equal(loaded.predict(x), model.predict(x))
    assert np.array_equal(loaded.predict(x, training=True), model.predict(x, training=True))  # same dropout masks


def test_engine_model_file_errors(tmp_path):
    model = r1(L=8)
    good = tmp_path / "good.h5"
    model.save(good)
    with pytest.raises(DataFileError, match="does not exist"):
        fieldnet.load_model(tmp_path / "missing.h5")
    text = tmp_path / "text.h5"
    text.write_text("not hdf5")
    with pytest.raises(DataFileError):
        fieldnet.load_model(text)
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f.attrs["fieldnet_format"] = "dataset"
    with pytest.raises(DataFileError, match="fieldnet dataset file"):
        fieldnet.load_model(tmp_path / "other.h5")
    # a missing weight, a wrong shape, an unknown layer (no code is ever run)
    for name, edit in {
        "missing": lambda f: f["weights/0"].__delitem__("kernel"),
        "shape": lambda f: (f["weights/0"].__delitem__("kernel"), f["weights/0"].create_dataset("kernel", data=np.zeros((2, 2)))),
        "unknown": lambda f: f.attrs.__setitem__("architecture", json.dumps(
            {"input_shape": [1, 8, 8], "seed": 0, "layers": [{"type": "os.system", "config": {"command": "touch pwned"}}]})),
        "json": lambda f: f.attrs.__setitem__("architecture", "{not json"),
    }.items():
        bad = tmp_path / f"{name}.h5"
        bad.write_bytes(good.read_bytes())
        with h5py.File(bad, "r+") as f:
            edit(f)
        with pytest.raises(DataFileError):
            fieldnet.load_model(bad)
    assert not (tmp_path / "pwned").exists()


def test_engine_same_seed_same_training_at_one_and_two_threads(tmp_path):
    script = textwrap.dedent(
        """
        import sys, numpy as np
        from fieldnet.engine.layers import Conv2d, Dense, Dropout, Flatten, MaxPool2d, ReLU
        from fieldnet.engine.losses import get_loss
        from fieldnet.engine.model import Sequential
        from fieldnet.engine.optimizers import Adam
        rng = np.random.default_rng(0)
        x = np.where(rng.random((64, 1, 8, 8)) < 0.5, -1, 1).astype(np.float32)
        y = rng.integers(0, 2, 64)
        m = Sequential([Conv2d(8, 3, activation="relu"), MaxPool2d(2), Flatten(), Dense(16), ReLU(),
                        Dropout(0.3), Dense(2)], input_shape=(1, 8, 8), seed=5)
        opt, loss = Adam(1e-2), get_loss("softmax_cross_entropy")
        for i in range(6):
            m.train_step(x[i * 8:(i + 1) * 8 + 32], y[i * 8:(i + 1) * 8 + 32], loss, opt)
        np.save(sys.argv[1], np.concatenate([w.ravel() for w in m.get_weights().values()]))
        """
    )
    results = []
    for threads in (1, 2):
        out = tmp_path / f"w{threads}.npy"
        env = dict(os.environ, NUMBA_NUM_THREADS=str(threads))
        subprocess.run([sys.executable, "-c", script, str(out)], check=True, env=env)
        results.append(np.load(out))
    assert np.array_equal(results[0], results[1])
