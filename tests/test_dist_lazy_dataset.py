"""open_dataset is lazy and dask-chunked by default, with chunks aligned to the file's HDF5 chunks."""

from __future__ import annotations

import dask
import dask.array as da
import h5py
import numpy as np
import xarray as xr

from fieldnet.io.dataset import DatasetWriter, LatticeSpec, open_dataset

TEMPS = np.array([1.0, 2.0, 3.0, 4.0])


def _write_file(path, L=8, n=40):
    rng = np.random.default_rng(3)
    spec = LatticeSpec(L=L, ndim=2, channel_names=("spin",), dtype="int8", temperatures=TEMPS, samples_per_temperature=n)
    with DatasetWriter(path, {"model": "ising2d", "seed": 3, "lattice_sizes": [L]}) as w:
        w.add_lattice(spec)
        for p in range(len(TEMPS)):
            configs = rng.choice(np.array([-1, 1], dtype=np.int8), size=(n, 1, L, L))
            obs = {"energy": rng.normal(size=n), "magnetization": configs.reshape(n, -1).mean(1)}
            w.write_point(L, p, configs, obs, int(TEMPS[p] < 2.27))
        return w.finalize()


def test_default_is_dask_backed_and_equal_to_eager(tmp_path):
    path = _write_file(tmp_path / "d.h5")
    lazy = open_dataset(path)
    assert isinstance(lazy["config"].data, da.Array)
    assert isinstance(lazy["energy"].data, da.Array)
    assert "temperature" in lazy.coords  # a coordinate (format 2): small, read when first used
    eager = xr.open_dataset(path, engine="h5netcdf", group="L8").load()
    xr.testing.assert_equal(lazy[["config", "temperature", "label", "energy"]].load(), eager[["config", "temperature", "label", "energy"]])
    assert lazy["config"].dtype == np.int8


def test_chunks_are_whole_hdf5_chunks(tmp_path):
    path = _write_file(tmp_path / "d.h5")
    with h5py.File(path) as f:
        disk_chunk = f["L8/config"].chunks[0]
    # a small dask chunk-size forces several dask chunks; each must cover whole HDF5 chunks so
    # that no HDF5 chunk is decompressed twice
    with dask.config.set({"array.chunk-size": "2KiB"}):
        ds = open_dataset(path)
    sample_chunks = ds["config"].chunks[0]
    assert len(sample_chunks) > 1
    assert all(c % disk_chunk == 0 for c in sample_chunks[:-1])
    assert sum(sample_chunks) == 4 * 40


def test_explicit_none_gives_plain_lazy_arrays(tmp_path):
    path = _write_file(tmp_path / "d.h5")
    ds = open_dataset(path, chunks=None)
    assert not isinstance(ds["config"].data, da.Array)
    assert ds["config"].shape == (160, 1, 8, 8)
