"""Random corruptions of model files: loading either raises FieldnetError or gives a model that still
runs.  Truncation, byte flips, mutated architecture JSON (unknown or dangerous layer names,
impossible shapes, wrong types), wrong/missing/NaN weights; and a crafted file never runs code.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import h5py
import numpy as np
import pytest
from fuzzing import BYTE_FLIPS, FUZZ, FileBytes, flip_bytes, fresh_path, write_fresh
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from fieldnet.engine.layers import Conv2d, Dense, Flatten, MaxPool2d
from fieldnet.engine.model import Sequential
from fieldnet.engine.saving import load_model, save_model
from fieldnet.errors import DataFileError, FieldnetError, NonFiniteOutput

INPUT_SHAPE = (1, 8, 8)


def make_model() -> Sequential:
    return Sequential([Conv2d(2, 3, activation="relu"), MaxPool2d(2), Flatten(), Dense(2)], input_shape=INPUT_SHAPE, seed=0)


def load_and_run(path: Path) -> str:
    """'refused' (FieldnetError) or 'loaded' -- and a loaded model must run on its input shape,
    giving finite outputs or refusing them (NonFiniteOutput: finite weights so large they overflow)."""
    try:
        model = load_model(path)
    except FieldnetError:
        return "refused"
    try:
        out = model.predict(np.zeros((2, *model.input_shape), dtype=np.float32))
    except NonFiniteOutput:
        return "refused"
    assert out.shape[0] == 2 and np.all(np.isfinite(out)), "a model that loads must give finite outputs"
    return "loaded"


@pytest.fixture(scope="module")
def valid(tmp_path_factory) -> FileBytes:
    path = save_model(make_model(), tmp_path_factory.mktemp("model") / "m.h5")
    assert load_and_run(path) == "loaded"
    return FileBytes(path.read_bytes(), "model file")


@FUZZ
@given(data=st.data())
def test_truncated_model_files(valid, tmp_path, short_probe, data):
    path = write_fresh(tmp_path, valid[: data.draw(st.integers(0, len(valid) - 1))])
    assert load_and_run(path) == "refused"


@FUZZ
@given(flips=BYTE_FLIPS)
def test_flipped_bytes_in_model_files(valid, tmp_path, short_probe, flips):
    path = write_fresh(tmp_path, flip_bytes(valid, flips))
    assert load_and_run(path) in ("refused", "loaded")  # any other exception fails the test


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.floats(allow_nan=False) | st.text(max_size=6),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
layer_names = st.sampled_from(["Conv2d", "Dense", "MaxPool2d", "Flatten", "Residual", "os.system", "__import__", "eval", "Lambda", ""])


@st.composite
def architecture_mutation(draw):
    """A JSON edit of the architecture: swap a layer type, set a config key, or replace a node."""
    kind = draw(st.sampled_from(["type", "config", "replace", "input_shape", "raw"]))
    layer = draw(st.integers(0, 3))
    if kind == "type":
        return kind, layer, draw(layer_names), None
    if kind == "config":
        key = draw(st.sampled_from(["filters", "kernel_size", "stride", "padding", "units", "out_features", "activation", "pool_size", "p", "bogus"]))
        value = draw(st.one_of(st.integers(-3, 100), st.sampled_from(["periodic", "zero", "valid", "nonsense"]), json_values))
        return kind, layer, key, value
    if kind == "replace":
        return kind, layer, None, draw(json_values)
    if kind == "input_shape":
        return kind, None, None, draw(st.one_of(st.lists(st.integers(-2, 40), max_size=5), json_values))
    return kind, None, None, draw(st.text(st.characters(blacklist_characters="\x00"), max_size=30))  # HDF5 strings hold no NUL


def mutate_architecture(config: dict, mutation) -> str:
    kind, layer, key, value = mutation
    if kind == "raw":
        return value  # not JSON at all, or some other JSON text
    layers = config["layers"]
    target = layers[layer] if layer is not None else None
    if kind == "type" and isinstance(target, dict):
        target["type"] = key
    elif kind == "config" and isinstance(target, dict) and isinstance(target.get("config"), dict):
        target["config"][key] = value
    elif kind == "replace":
        layers[layer] = value
    elif kind == "input_shape":
        config["input_shape"] = value
    return json.dumps(config)


@FUZZ
@given(mutations=st.lists(architecture_mutation(), min_size=1, max_size=3))
def test_mutated_architecture(valid, tmp_path, short_probe, mutations):
    path = fresh_path(tmp_path)
    path.write_bytes(valid)
    with h5py.File(path, "r+") as f:
        config = json.loads(f.attrs["architecture"])
        for mutation in mutations:
            text = mutate_architecture(config, mutation)
            try:
                config = json.loads(text)
                assert isinstance(config, dict) and isinstance(config.get("layers"), list) and len(config["layers"]) >= 4
            except (ValueError, AssertionError):
                break
        f.attrs["architecture"] = text
    assert load_and_run(path) in ("refused", "loaded")  # any other exception fails the test


@FUZZ
@given(
    name=st.sampled_from(["0/kernel", "0/bias", "3/kernel", "3/bias", "extra"]),
    action=st.sampled_from(["delete", "replace", "nan"]),
    array=hnp.arrays(
        dtype=st.sampled_from([np.float32, np.float64, np.int8, np.bool_]),
        shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5),
    ),
)
def test_wrong_weights(valid, tmp_path, short_probe, name, action, array):
    path = fresh_path(tmp_path)
    path.write_bytes(valid)
    with h5py.File(path, "r+") as f:
        weights = f["weights"]
        if action == "delete" and name in weights:
            del weights[name]
        elif action == "replace":
            if name in weights:
                del weights[name]
            weights.create_dataset(name, data=array)
        elif action == "nan" and name in weights:
            values = weights[name][()]
            values.flat[0] = np.nan
            weights[name][...] = values
    assert load_and_run(path) in ("refused", "loaded")  # any other exception fails the test


def test_nan_weights_are_refused(valid, tmp_path):
    path = fresh_path(tmp_path)
    path.write_bytes(valid)
    with h5py.File(path, "r+") as f:
        kernel = f["weights/0/kernel"]
        values = kernel[()]
        values.flat[3] = np.inf
        kernel[...] = values
    with pytest.raises(DataFileError):
        load_model(path)


def test_weights_beyond_float32_are_refused(valid, tmp_path):
    path = fresh_path(tmp_path)
    path.write_bytes(valid)
    with h5py.File(path, "r+") as f:
        del f["weights/3/bias"]
        f["weights"].create_dataset("3/bias", data=np.array([1e300, 0.0]))
    with pytest.raises(DataFileError, match="float32"):
        load_model(path)


def test_overflowing_outputs_are_one_error(valid, tmp_path):
    path = fresh_path(tmp_path)
    path.write_bytes(valid)
    with h5py.File(path, "r+") as f:
        f["weights/0/bias"][...] = np.float32(1.7e38)
        f["weights/3/kernel"][...] = np.float32(10.0)
    model = load_model(path)  # finite weights load ...
    with pytest.raises(NonFiniteOutput, match="overflow"):  # ... but outputs that overflow are refused
        model.predict(np.zeros((2, *model.input_shape), dtype=np.float32))


def test_crafted_model_file_cannot_run_code(valid, tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    blob = pickle.dumps(Payload())
    # a layer type naming a callable, a pickled object where a weight should be, pickle as JSON
    attempts = [
        {"layers": [{"type": "os.system", "config": {"command": f"touch {marker}"}}], "input_shape": [1, 8, 8]},
        {"layers": [{"type": "__builtins__.eval", "config": {"source": f"open({str(marker)!r}, 'w')"}}], "input_shape": [1, 8, 8]},
        {"layers": [{"type": "Dense", "config": {"units": {"py/reduce": [{"py/function": "os.system"}, [f"touch {marker}"]]}}}], "input_shape": [4]},
    ]
    for architecture in attempts:
        path = fresh_path(tmp_path)
        path.write_bytes(valid)
        with h5py.File(path, "r+") as f:
            f.attrs["architecture"] = json.dumps(architecture)
        with pytest.raises(DataFileError):
            load_model(path)
    path = fresh_path(tmp_path)
    path.write_bytes(valid)
    with h5py.File(path, "r+") as f:
        del f["weights/0/kernel"]
        f["weights/0"].create_dataset("kernel", data=np.void(blob))
        f.attrs["architecture"] = np.void(blob)
    with pytest.raises(DataFileError):
        load_model(path)
    assert not marker.exists()
    pickle.loads(blob)  # the payload does run when unpickled...
    assert marker.exists()  # ...so nothing above unpickled it


def test_planned_arrays_match_what_building_creates():
    """Loading checks a file against Layer.array_shapes before anything is built, so for every
    registered layer those shapes must be exactly the parameters and buffers build() creates."""
    from fieldnet.engine.layers import (
        ELU,
        LAYER_REGISTRY,
        AvgPool2d,
        AvgPool3d,
        BatchNorm,
        Conv1d,
        Conv3d,
        Dropout,
        GlobalAvgPool,
        GlobalMaxPool,
        LeakyReLU,
        MaxPool3d,
        ReLU,
        Residual,
        Sigmoid,
        Tanh,
    )
    from fieldnet.engine.saving import planned_arrays

    models = [
        Sequential([Conv2d(3, 3, activation="relu"), BatchNorm(), ReLU(), MaxPool2d(2), AvgPool2d(2), LeakyReLU(),
                    Residual([Conv2d(3, 3), ELU(), Conv2d(3, 1, bias=False)], activation="relu"), Tanh(), Sigmoid(),
                    Dropout(0.2), Flatten(), Dense(5, bias=False), BatchNorm(), Dense(2)], input_shape=(2, 8, 8)),
        Sequential([Conv1d(2, 3, stride=2), GlobalMaxPool(), Dense(2)], input_shape=(1, 8)),
        Sequential([Conv3d(2, (1, 2, 3), padding="valid"), MaxPool3d(2), AvgPool3d(1), GlobalAvgPool(), Dense(2)],
                   input_shape=(1, 4, 6, 6)),
    ]
    covered = {type(layer).__name__ for m in models for layer in m.layers}
    covered |= {type(inner).__name__ for m in models for layer in m.layers for inner in getattr(layer, "layers", [])}
    assert covered == set(LAYER_REGISTRY), f"add an example of {sorted(set(LAYER_REGISTRY) - covered)}"
    for model in models:
        built = {name: value.shape for name, value in model.get_weights().items()}
        assert planned_arrays(Sequential.from_config({**model.get_config(), "input_shape": None}), model.input_shape) == built
