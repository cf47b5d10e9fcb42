"""Bad input on the real command line: each gets one line on stderr, exit status 2, no traceback,
and no damage to existing files.  (Issue 7's list: truncated/corrupt HDF5, non-HDF5, another
tool's file, NaN/inf in data, a corrupt file that hangs libhdf5, a damaged partial file.)"""

from __future__ import annotations

import shutil
import struct

import h5py
import numpy as np
import pytest
import xarray as xr
from test_robust_dataset import global_heap_objects, write_valid_file

from fieldnet.atomic import partial_path


def assert_one_line_error(res, *fragments: str) -> None:
    assert res.returncode == 2, (res.returncode, res.stderr)
    assert "Traceback" not in res.stderr, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    for fragment in fragments:
        assert fragment in res.stderr, res.stderr


@pytest.fixture(scope="module")
def valid_file(tmp_path_factory):
    return write_valid_file(tmp_path_factory.mktemp("cli") / "good.h5")


def _truncated(valid, path):
    data = valid.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])


def _not_hdf5(valid, path):
    path.write_text("temperature,energy\n1.5,-1.9\n")


def _other_tools_netcdf(valid, path):
    # a perfectly good netCDF file with a 'config' variable -- just not one written by fieldnet
    xr.Dataset(
        {"config": (("sample", "channel", "y", "x"), np.ones((4, 1, 4, 4), np.int8)), "temperature": ("sample", np.ones(4))}
    ).to_netcdf(path, engine="h5netcdf")


def _corrupt_chunk(valid, path):
    data = bytearray(valid.read_bytes())
    with h5py.File(valid) as f:
        offset = f["L6/config"].id.get_chunk_info(0).byte_offset
    for i in range(8):
        data[offset + 16 + i] ^= 0xFF  # inside the compressed bytes of the first chunk
    path.write_bytes(bytes(data))


def _hangs_libhdf5(valid, path):
    data = bytearray(valid.read_bytes())
    offset, size = global_heap_objects(bytes(data))[0]
    struct.pack_into("<Q", data, offset, size + 156)
    path.write_bytes(bytes(data))


BAD_DATA = {
    "truncated HDF5": (_truncated, "truncated or corrupt"),
    "not HDF5": (_not_hdf5, "not a readable HDF5"),
    "another tool's netCDF": (_other_tools_netcdf, "not a fieldnet data file"),
    "corrupt chunk": (_corrupt_chunk, "damaged"),
    "hangs libhdf5": (_hangs_libhdf5, "corrupt"),
}


@pytest.mark.parametrize("case", sorted(BAD_DATA))
def test_bad_data_file_for_analyze_confusion(case, valid_file, tmp_path, run_cli):
    make, fragment = BAD_DATA[case]
    bad = tmp_path / "bad.h5"
    make(valid_file, bad)
    before = bad.read_bytes()
    res = run_cli("analyze", "confusion", bad, "--L", "6", "-o", tmp_path / "out", env={"FIELDNET_HDF5_PROBE_TIMEOUT": "3"})
    assert_one_line_error(res, fragment)
    assert bad.read_bytes() == before
    assert not (tmp_path / "out" / "confusion.json").exists()


def test_damaged_partial_file_on_resume_is_one_line(tmp_path, run_cli):
    out = tmp_path / "d.h5"
    partial_path(out).write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(200))  # a run killed as it started
    res = run_cli("simulate", "--L", "4", "--T", "2.0", "--samples", "4", "-q", "-o", out, "--resume")
    assert_one_line_error(res, "cannot resume", "delete it")
    assert not out.exists()


def test_resume_with_other_arguments_keeps_the_partial_file(tmp_path, run_cli):
    out = tmp_path / "d.h5"
    env = {"FIELDNET_TEST_INTERRUPT_AFTER_POINTS": "1"}
    first = run_cli("simulate", "--L", "4", "--T", "1.5:3:3", "--samples", "4", "--seed", "1", "-q", "-o", out, env=env)
    assert first.returncode == 130
    kept = partial_path(out).read_bytes()
    res = run_cli("simulate", "--L", "4", "--T", "1.5:3:3", "--samples", "4", "--seed", "2", "-q", "-o", out, "--resume")
    assert_one_line_error(res, "seed")
    assert partial_path(out).read_bytes() == kept


def test_info_on_a_corrupt_file_is_one_line(valid_file, tmp_path, run_cli):
    bad = tmp_path / "bad.h5"
    shutil.copy(valid_file, bad)
    _truncated(valid_file, bad)
    res = run_cli("info", bad)
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
