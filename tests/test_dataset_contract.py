"""The data contract: files written by DatasetWriter open with plain xarray and resume exactly."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import xarray as xr

from fieldnet.errors import DataFileError, FieldnetError
from fieldnet.io.atomic import atomic_output, check_output_path, partial_path
from fieldnet.io.dataset import DatasetWriter, LatticeSpec, check_dataset_file, open_dataset

TEMPS = np.array([1.5, 2.0, 3.0])
N = 5


def _spec(L=4, ndim=2, dtype="int8", channels=("spin",)):
    return LatticeSpec(
        L=L,
        ndim=ndim,
        channel_names=channels,
        dtype=dtype,
        temperatures=TEMPS,
        samples_per_temperature=N,
        point_stats=("tau_int_energy", "thinning"),
        attrs={"model": "ising2d", "J": 1.0, "Tc": 2.269185},
    )


def _point(rng, spec, point):
    configs = rng.choice(np.array([-1, 1], dtype=np.int8), size=(N, *spec.config_shape))
    obs = {"energy": rng.normal(size=N), "magnetization": configs.reshape(N, -1).mean(axis=1)}
    return configs, obs, (1 if TEMPS[point] < 2.269185 else 0), {"tau_int_energy": 1.0 + point, "thinning": 3.0}


def _write(path, sizes=(4, 6), stop_after=None, resume=False):
    rng = np.random.default_rng(0)
    w = DatasetWriter(path, {"model": "ising2d", "seed": 1, "lattice_sizes": list(sizes)}, resume=resume)
    written = 0
    for L in sizes:
        spec = _spec(L)
        w.add_lattice(spec)
        for p in range(len(TEMPS)):
            args = _point(rng, spec, p)  # drawn even when skipped, like a seeded per-point stream
            if p < w.completed_points(L):
                continue
            if stop_after is not None and written == stop_after:
                w.close()
                return None
            w.write_point(L, p, args[0], args[1], args[2], args[3])
            written += 1
    return w.finalize()


def test_plain_xarray_reads_every_group(tmp_path):
    path = _write(tmp_path / "d.h5")
    assert not partial_path(path).exists()
    ds = xr.open_dataset(path, engine="h5netcdf", group="L6")
    assert ds["config"].dims == ("sample", "channel", "y", "x")
    assert ds["config"].dtype == np.int8
    assert ds.sizes["sample"] == N * len(TEMPS)
    np.testing.assert_array_equal(np.unique(ds["temperature"]), TEMPS)
    assert set(np.unique(ds["label"].values)) == {0, 1}
    assert ds["tau_int_energy"].dims == ("temperature_point",)
    tree = xr.open_datatree(path, engine="h5netcdf")
    assert {"L4", "L6"} <= set(tree.children)
    with h5py.File(path) as f:
        cfg = f["L4/config"]
        assert cfg.chunks is not None and cfg.compression == "gzip"


def test_resume_after_interruption_gives_identical_content(tmp_path):
    whole = _write(tmp_path / "whole.h5")
    target = tmp_path / "resumed.h5"
    assert _write(target, stop_after=4) is None
    assert partial_path(target).exists() and not target.exists()
    _write(target, resume=True)
    for L in (4, 6):
        a = xr.open_dataset(whole, engine="h5netcdf", group=f"L{L}").load()
        b = xr.open_dataset(target, engine="h5netcdf", group=f"L{L}").load()
        xr.testing.assert_identical(a, b)


def test_resume_with_other_arguments_is_refused(tmp_path):
    target = tmp_path / "d.h5"
    _write(target, stop_after=1)
    with pytest.raises(FieldnetError, match="seed"):
        DatasetWriter(target, {"model": "ising2d", "seed": 2}, resume=True)


def test_open_dataset_adds_file_provenance_and_checks_L(tmp_path):
    path = _write(tmp_path / "d.h5", sizes=(4,))
    ds = open_dataset(path)
    assert ds.attrs["L"] == 4 and ds.attrs["seed"] == 1
    with pytest.raises(FieldnetError, match="L=5"):
        open_dataset(path, L=5)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p.write_bytes(b"not an hdf5 file at all"), "not a readable HDF5"),
        (lambda p: h5py.File(p, "w").close(), "not a fieldnet data file"),
    ],
)
def test_foreign_files_raise_data_file_error(tmp_path, make, message):
    path = tmp_path / "x.h5"
    make(path)
    with pytest.raises(DataFileError, match=message):
        check_dataset_file(path)


def test_truncated_file_raises_data_file_error(tmp_path):
    path = _write(tmp_path / "d.h5", sizes=(4,))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataFileError):
        check_dataset_file(path)
        open_dataset(path).load()


def test_missing_file_points_at_partial(tmp_path):
    target = tmp_path / "d.h5"
    _write(target, stop_after=1)
    with pytest.raises(DataFileError, match="--resume"):
        check_dataset_file(target)


def test_output_checks_protect_existing_files(tmp_path):
    existing = tmp_path / "keep.h5"
    existing.write_bytes(b"precious")
    with pytest.raises(FieldnetError, match="--overwrite"):
        check_output_path(existing, overwrite=False)
    with pytest.raises(FieldnetError, match="does not exist"):
        check_output_path(tmp_path / "no" / "such.h5", overwrite=False)
    with pytest.raises(RuntimeError), atomic_output(existing) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("interrupted")
    assert existing.read_bytes() == b"precious"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.h5"]
