"""Random corruptions of prediction files and architecture files: the loaders raise FieldnetError or
return something that still works (finite probabilities; a network that runs)."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from fuzzing import BYTE_FLIPS, FUZZ, FileBytes, flip_bytes, fresh_path, write_fresh
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from test_robust_dataset import write_valid_file

from fieldnet.engine.architecture import load_architecture
from fieldnet.engine.layers import Conv2d, Dense, GlobalAvgPool
from fieldnet.engine.model import Sequential
from fieldnet.errors import FieldnetError
from fieldnet.io.predictions import open_predictions, write_predictions
from fieldnet.training.predict import predict_dataset


@pytest.fixture(scope="module")
def valid(tmp_path_factory) -> FileBytes:
    folder = tmp_path_factory.mktemp("pred")
    data = write_valid_file(folder / "d.h5")
    model = Sequential([Conv2d(2, 3, activation="relu"), GlobalAvgPool(), Dense(2)], input_shape=(1, 4, 4), seed=0)
    path = write_predictions(predict_dataset(model, data, sizes=[4, 6]), folder / "p.nc")
    assert open_or_refuse(path) == "loaded"
    return FileBytes(path.read_bytes(), "predictions file")


def open_or_refuse(path: Path) -> str:
    try:
        pred = open_predictions(path)
    except FieldnetError:
        return "refused"
    with pred:
        pred.load()  # every value readable
        prob = pred["probability"].values
        assert np.all(np.isfinite(prob)) and prob.shape[-1] == pred.sizes["class"]
        pred.groupby("temperature").mean()  # the notebook's natural next line works
    return "loaded"


@FUZZ
@given(data=st.data())
def test_truncated_predictions(valid, tmp_path, short_probe, data):
    path = write_fresh(tmp_path, valid[: data.draw(st.integers(0, len(valid) - 1))], ".nc")
    assert open_or_refuse(path) == "refused"


@FUZZ
@given(flips=BYTE_FLIPS)
def test_flipped_bytes_in_predictions(valid, tmp_path, short_probe, flips):
    path = write_fresh(tmp_path, flip_bytes(valid, flips), ".nc")
    assert open_or_refuse(path) in ("refused", "loaded")  # any other exception fails the test


@FUZZ
@given(
    name=st.sampled_from(["probability", "temperature", "L", "label", "class", "sample"]),
    action=st.sampled_from(["delete", "replace", "nan", "attr"]),
    array=hnp.arrays(dtype=st.sampled_from([np.float32, np.float64, np.int8]), shape=hnp.array_shapes(min_dims=0, max_dims=3, max_side=6)),
)
def test_structural_corruptions_of_predictions(valid, tmp_path, short_probe, name, action, array):
    path = fresh_path(tmp_path, ".nc")
    path.write_bytes(valid)
    try:
        with h5py.File(path, "r+") as f:
            if name not in f:
                return
            if action == "delete":
                del f[name]
            elif action == "replace":
                del f[name]
                f.create_dataset(name, data=array)
            elif action == "nan" and f[name].dtype.kind == "f" and f[name].size:
                values = f[name][()]
                values.flat[0] = np.nan
                f[name][...] = values
            elif action == "attr":
                f.attrs["fieldnet_format"] = "dataset"
    except (OSError, KeyError, ValueError, TypeError, RuntimeError):
        pass  # h5py refused the edit half-way (dimension scales): the file is still a test input
    assert open_or_refuse(path) in ("refused", "loaded")  # any other exception fails the test


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-50, 50) | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=6),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=10,
)
layer_specs = st.one_of(
    st.fixed_dictionaries(
        {"type": st.sampled_from(["Conv2d", "MaxPool2d", "AvgPool2d", "GlobalAvgPool", "Flatten", "Dense", "ReLU", "Dropout", "BatchNorm", "Residual", "Bogus", "os.system"])},
        optional={
            "out_channels": st.integers(-2, 6),
            "kernel_size": st.one_of(st.integers(-1, 12), st.lists(st.integers(0, 5), max_size=3)),
            "stride": st.integers(-1, 4),
            "padding": st.sampled_from(["periodic", "zero", "valid", "same", 3]),
            "units": st.integers(-1, 5),
            "out_features": st.integers(-1, 5),
            "pool_size": st.integers(-1, 9),
            "rate": st.floats(-1, 2),
            "p": st.floats(-1, 2),
            "layers": st.lists(st.fixed_dictionaries({"type": st.sampled_from(["Conv2d", "ReLU", "Dense"])}), max_size=2),
            "junk": json_values,
        },
    ),
    json_values,
)


@FUZZ
@given(layers=st.one_of(st.lists(layer_specs, max_size=5), json_values), L=st.sampled_from([4, 8]), channels=st.sampled_from([1, 2]))
def test_random_architecture_files(tmp_path, layers, L, channels):
    path = fresh_path(tmp_path, ".json")
    path.write_text(json.dumps(layers))
    try:
        model = load_architecture(path, (channels, L, L), seed=0)
    except FieldnetError:
        return
    x = np.random.default_rng(0).standard_normal((2, channels, L, L)).astype(np.float32)
    out = model.predict(x)
    assert out.shape[0] == 2 and np.all(np.isfinite(out))
