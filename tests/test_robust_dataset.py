"""Random corruptions of a data file: the only outcomes of loading (open_dataset, and the training
stream read_index + stream_batches) are FieldnetError or a file that still keeps the data contract.  Truncations, byte flips, wrong or missing attributes, missing or
replaced variables (wrong dtype, wrong shape), NaN/inf values, renamed groups, pickled payloads.

``FIELDNET_FUZZ_EXAMPLES=2000`` runs a longer search than CI's.
"""

from __future__ import annotations

import pickle
import struct
from pathlib import Path

import h5py
import numpy as np
import pytest
from fuzzing import FUZZ, FileBytes, flip_bytes, fresh_path, write_fresh
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from fieldnet.errors import DataFileError, FieldnetError
from fieldnet.io import hdf5probe
from fieldnet.io.dataset import (
    SPATIAL_DIMS,
    DatasetWriter,
    LatticeSpec,
    check_dataset_file,
    open_dataset,
)
from fieldnet.training.batches import read_index, stream_batches

TEMPS = np.array([1.5, 3.0])
SIZES = (4, 6)
VARIABLES = ("config", "temperature", "label", "energy", "magnetization", "temperature_grid", "completed", "channel")
ATTRS = ("fieldnet_format", "L", "samples_per_temperature", "format_version", "model", "lattice_sizes", "channel_names", "status")


def write_valid_file(path: Path) -> Path:
    rng = np.random.default_rng(11)
    n = 6
    with DatasetWriter(path, {"model": "ising2d", "seed": 11, "lattice_sizes": list(SIZES)}) as w:
        for L in SIZES:
            spec = LatticeSpec(L=L, ndim=2, channel_names=("spin",), dtype="int8", temperatures=TEMPS, samples_per_temperature=n)
            w.add_lattice(spec)
            for p in range(len(TEMPS)):
                configs = rng.choice(np.array([-1, 1], dtype=np.int8), size=(n, 1, L, L))
                w.write_point(L, p, configs, {"energy": rng.normal(size=n), "magnetization": configs.reshape(n, -1).mean(1)}, int(p == 0))
        return w.finalize()


def load_everything(path: Path) -> None:
    """What a reader does: validate, open every lattice size, read every value; check the result
    keeps the contract (a loader must refuse a file rather than return something else)."""
    sizes = check_dataset_file(path)
    for L in sizes:
        with open_dataset(path, L) as lazy:
            ds = lazy.load()
            cfg = ds["config"]
            n_spatial = cfg.ndim - 2
            assert cfg.dims == ("sample", "channel", *SPATIAL_DIMS[n_spatial])
            assert cfg.shape[2:] == (L,) * n_spatial and cfg.shape[1] >= 1
            assert cfg.dtype in (np.int8, np.float32)
            assert ds["temperature"].dims == ("sample",) and ds["temperature"].dtype.kind == "f"
            assert ds["label"].dims == ("sample",) and ds["label"].dtype.kind in "iu"


def stream_everything(path: Path) -> None:
    """What training and prediction do: index the file, then stream every sample in batches."""
    index = read_index(path)
    seen = 0
    for x, label, temperature, L in stream_batches(index, 5, shuffle=True, seed=0, buffer_chunks=2):
        assert x.dtype == np.float32 and x.shape[1:] == index.lattices[[lat.L for lat in index.lattices].index(L)].shape
        assert np.all(np.isfinite(x)) and np.all(np.isfinite(temperature)) and len(label) == len(x)
        seen += len(x)
    assert seen == index.n_samples


def only_fieldnet_errors(path: Path) -> str:
    """'refused' when every loader raises FieldnetError, 'loaded' when every loader succeeds,
    'mixed' otherwise (a NaN temperature is data to open_dataset but refused by training);
    any other exception fails the test."""
    outcomes = []
    for loader in (load_everything, stream_everything):
        try:
            loader(path)
            outcomes.append("loaded")
        except FieldnetError:
            outcomes.append("refused")
    return outcomes[0] if len(set(outcomes)) == 1 else "mixed"


@pytest.fixture(scope="module")
def valid(tmp_path_factory) -> FileBytes:
    path = write_valid_file(tmp_path_factory.mktemp("valid") / "d.h5")
    assert only_fieldnet_errors(path) == "loaded"
    return FileBytes(path.read_bytes(), "data file")


@FUZZ
@given(data=st.data())
def test_truncated_files(valid, tmp_path, short_probe, data):
    keep = data.draw(st.integers(0, len(valid) - 1), label="bytes kept")
    path = write_fresh(tmp_path, valid[:keep])
    assert only_fieldnet_errors(path) == "refused"  # a cut file is never complete


@FUZZ
@given(data=st.data())
def test_flipped_bytes(valid, tmp_path, short_probe, data):
    flips = data.draw(st.lists(st.tuples(st.integers(0, len(valid) - 1), st.integers(1, 255)), min_size=1, max_size=12))
    path = write_fresh(tmp_path, flip_bytes(valid, flips))
    assert only_fieldnet_errors(path) in ("refused", "loaded", "mixed")  # any other exception fails the test


# -- structural corruptions, made with h5py as another tool (or a careless script) would --------

attr_values = st.one_of(
    st.text(max_size=8),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.lists(st.integers(-5, 40), max_size=4).map(lambda v: np.asarray(v, dtype=np.int64)),
    st.binary(max_size=8).map(np.void),
)
replacement_arrays = hnp.arrays(
    dtype=st.sampled_from([np.int8, np.uint8, np.int64, np.float32, np.float64, np.bool_]),
    shape=hnp.array_shapes(min_dims=0, max_dims=5, min_side=0, max_side=7),
)


@st.composite
def mutations(draw):
    kind = draw(st.sampled_from(["set_attr", "del_attr", "del_var", "replace_var", "nan_inf", "move_group", "del_group"]))
    L = draw(st.sampled_from(SIZES))
    if kind in ("set_attr", "del_attr"):
        target = draw(st.sampled_from(["/", f"/L{L}", f"/L{L}/config"]))
        return (kind, target, draw(st.sampled_from(ATTRS)), draw(attr_values) if kind == "set_attr" else None)
    if kind in ("del_var", "replace_var"):
        var = draw(st.sampled_from(VARIABLES))
        return (kind, f"/L{L}", var, draw(replacement_arrays) if kind == "replace_var" else None)
    if kind == "nan_inf":
        var = draw(st.sampled_from(["temperature", "energy", "temperature_grid"]))
        return (kind, f"/L{L}", var, draw(st.sampled_from([np.nan, np.inf, -np.inf])))
    return (kind, f"/L{L}", draw(st.sampled_from([f"L{L + 1}", "L0", "Lx", "other"])), None)


def apply_mutation(f: h5py.File, mutation) -> None:
    kind, target, name, value = mutation
    if kind == "set_attr":
        f[target].attrs[name] = value
    elif kind == "del_attr":
        if name in f[target].attrs:
            del f[target].attrs[name]
    elif kind == "del_var":
        if name in f[target]:
            del f[target][name]
    elif kind == "replace_var":
        if name in f[target]:
            del f[target][name]
        f[target].create_dataset(name, data=value)
    elif kind == "nan_inf":
        var = f[target][name]
        values = var[()]
        values[len(values) // 2] = value
        var[...] = values
    elif kind == "move_group":
        if name not in f:
            f.move(target, "/" + name)
    elif kind == "del_group":
        del f[target]


@FUZZ
@given(changes=st.lists(mutations(), min_size=1, max_size=3))
def test_structural_corruptions(valid, tmp_path, short_probe, changes):
    path = fresh_path(tmp_path)
    path.write_bytes(valid)
    try:
        with h5py.File(path, "r+") as f:
            for change in changes:
                apply_mutation(f, change)
    except (OSError, KeyError, ValueError, TypeError, RuntimeError):
        pass  # h5py refused this mutation half-way: whatever it left is a fine test input too
    assert only_fieldnet_errors(path) in ("refused", "loaded", "mixed")  # any other exception fails the test


# -- targeted cases -------------------------------------------------------------------------------


def global_heap_objects(data: bytes) -> list[tuple[int, int]]:
    """(offset of the size field, size) of every object in the file's global heap collections
    (HDF5 format spec III.E: 'GCOL', version, 3 reserved, collection size, then objects of
    index u16, refcount u16, 4 reserved, size u64, data padded to 8 bytes)."""
    found = []
    start = data.find(b"GCOL")
    while start >= 0:
        (collection_size,) = struct.unpack_from("<Q", data, start + 8)
        pos, end = start + 16, start + collection_size
        while pos + 16 <= end:
            (index,) = struct.unpack_from("<H", data, pos)
            (size,) = struct.unpack_from("<Q", data, pos + 8)
            if index == 0:  # free space: the rest of the collection
                break
            found.append((pos + 8, size))
            pos += 16 + (size + 7) // 8 * 8
        start = data.find(b"GCOL", start + 4)
    return found


def test_global_heap_size_corruption_cannot_hang_the_reader(valid, tmp_path, monkeypatch):
    # found by test_flipped_bytes: a string attribute whose global-heap object claims a larger
    # size sends libhdf5 (2.0) into an endless loop with the GIL held; the child-process probe
    # turns that into DataFileError instead of a hung job
    monkeypatch.setattr(hdf5probe, "DEFAULT_TIMEOUT", 3.0)
    objects = global_heap_objects(valid)
    assert objects, "the data file stores its string attributes in a global heap"
    for offset, size in objects[:6]:
        damaged = bytearray(valid)
        struct.pack_into("<Q", damaged, offset, size + 156)
        path = fresh_path(tmp_path)
        path.write_bytes(bytes(damaged))
        assert only_fieldnet_errors(path) == "refused"


def test_pickled_payload_is_never_unpickled(tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    blob = np.void(pickle.dumps(Payload()))
    path = write_valid_file(tmp_path / "d.h5")
    with h5py.File(path, "r+") as f:
        del f["L4/config"]
        f["L4"].create_dataset("config", data=np.array([blob] * 3))  # opaque bytes where configs were
        f["L6"].attrs["channel_names"] = blob
        f.attrs["model"] = blob
    with pytest.raises(DataFileError):
        load_everything(path)
    assert not marker.exists()
    pickle.loads(pickle.dumps(Payload()))  # the payload does work when unpickled...
    assert marker.exists()  # ...so its absence above means nothing unpickled it
