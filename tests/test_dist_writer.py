"""The writer of distributed campaigns: samples compressed where they are produced are stored
exactly as HDF5's own filters would store them, and read back the same with plain h5py."""

from __future__ import annotations

import zlib

import h5py
import numpy as np
import pytest

from fieldnet.io.dataset import (
    DatasetWriter,
    EncodedConfigs,
    LatticeSpec,
    config_chunk_samples,
    decode_configs,
    encode_configs,
)


@pytest.mark.parametrize("dtype", ["int8", "float32"])
def test_encoded_chunks_are_what_hdf5_filters_store(tmp_path, dtype):
    rng = np.random.default_rng(0)
    n, shape = 24, (2, 6, 6)
    configs = (rng.choice([-1, 1], size=(n, *shape)) if dtype == "int8" else rng.standard_normal((n, *shape))).astype(dtype)
    per_chunk = config_chunk_samples(n, shape, dtype)
    encoded = encode_configs(configs, dtype)
    assert isinstance(encoded, EncodedConfigs) and encoded.chunk_samples == per_chunk
    np.testing.assert_array_equal(decode_configs(encoded), configs)
    # the same samples written through HDF5's shuffle + deflate(4) filters
    with h5py.File(tmp_path / "ref.h5", "w") as f:
        ds = f.create_dataset("c", data=configs, chunks=(per_chunk, *shape), compression="gzip", compression_opts=4, shuffle=True)
        for i, chunk in enumerate(encoded.chunks):
            mask, stored = ds.id.read_direct_chunk((i * per_chunk, 0, 0, 0))
            assert mask == 0
            # the same bytes once inflated (the deflate streams themselves may differ between zlib builds)
            assert zlib.decompress(stored) == zlib.decompress(chunk)


def _spec(L: int, n: int, dtype: str = "int8") -> LatticeSpec:
    return LatticeSpec(L=L, ndim=2, channel_names=["spin"], dtype=dtype, temperatures=np.array([1.0, 2.0, 3.0]),
                       samples_per_temperature=n, observables=("energy",))


def _write(path, points, n=12, L=6):
    with DatasetWriter(path, {"model": "ising2d", "seed": 0, "lattice_sizes": [L]}) as w:
        w.add_lattice(_spec(L, n))
        for p, configs in enumerate(points):
            w.write_point(L, p, configs, {"energy": np.zeros(n, np.float32)}, 1)
        return w.finalize()


def test_encoded_and_plain_points_give_the_same_file(tmp_path):
    rng = np.random.default_rng(1)
    points = [rng.choice(np.array([-1, 1], np.int8), size=(12, 1, 6, 6)) for _ in range(3)]
    plain = _write(tmp_path / "plain.h5", points)
    encoded = _write(tmp_path / "encoded.h5", [encode_configs(p, "int8") for p in points])
    with h5py.File(plain) as a, h5py.File(encoded) as b:
        np.testing.assert_array_equal(a["L6/config"][()], np.concatenate(points))
        np.testing.assert_array_equal(b["L6/config"][()], np.concatenate(points))
        for i in range(a["L6/config"].id.get_num_chunks()):
            offset = a["L6/config"].id.get_chunk_info(i).chunk_offset
            assert a["L6/config"].id.read_direct_chunk(offset) == b["L6/config"].id.read_direct_chunk(offset)


def test_chunks_laid_out_otherwise_are_decoded_and_rewritten(tmp_path):
    # e.g. a resumed file started by another version: the writer falls back to HDF5's filters
    rng = np.random.default_rng(2)
    points = [rng.choice(np.array([-1, 1], np.int8), size=(12, 1, 6, 6)) for _ in range(3)]
    odd = []
    for p in points:
        enc = encode_configs(p, "int8")
        half = [zlib.compress(np.ascontiguousarray(p[i : i + 6]).tobytes(), 4) for i in (0, 6)]
        odd.append(EncodedConfigs(enc.shape, enc.dtype, 6, tuple(half)) if enc.chunk_samples != 6 else enc)
    out = _write(tmp_path / "odd.h5", odd)
    with h5py.File(out) as f:
        np.testing.assert_array_equal(f["L6/config"][()], np.concatenate(points))


def test_sample_counts_without_a_chunk_divisor_stay_arrays():
    # chunks would straddle two points: only complete once the next point is written
    n = 8191  # prime, and far more samples than one chunk holds
    configs = np.ones((n, 1, 8, 8), np.int8)
    assert config_chunk_samples(n, (1, 8, 8), "int8") < n
    assert isinstance(encode_configs(configs, "int8"), np.ndarray)
