"""Bad input on the real command line: each gets one line on stderr, exit status 2, no traceback,
and no damage to existing files.  (Issue 7's list: truncated/corrupt HDF5, non-HDF5, another
tool's file, NaN/inf in data, a corrupt file that hangs libhdf5, a damaged partial file.)"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess

import h5py
import numpy as np
import pytest
import xarray as xr
from cli_checks import assert_one_line_error
from test_robust_dataset import global_heap_objects, write_valid_file

from fieldnet.io.atomic import partial_path
from fieldnet.io.dataset import DatasetWriter, LatticeSpec


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


# -- train / predict -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ising_data(tmp_path_factory):
    """A small real data file (L=8, both phases) and a model trained on it with a size-specific
    (Dense after Flatten) architecture, so other sizes do not fit."""
    from conftest import cli_command

    folder = tmp_path_factory.mktemp("train-cli")
    data = folder / "data.h5"
    subprocess.run([*cli_command(), "simulate", "--L", "8", "--T", "1.6:3.2:4", "--samples", "16", "--seed", "1", "-q", "-o", str(data)], check=True, capture_output=True)
    arch = folder / "flat.json"
    arch.write_text(json.dumps([{"type": "Conv2d", "out_channels": 2, "kernel_size": 3}, {"type": "Flatten"}, {"type": "Dense", "out_features": 2}]))
    model = folder / "model.h5"
    subprocess.run([*cli_command(), "train", str(data), "--architecture", str(arch), "--epochs", "1", "-q", "-o", str(model)], check=True, capture_output=True)
    return data, model


def _float_data(path, L, channels, poison=None):
    """A float32 data file (like an XY or phi^4 model's) with ``channels`` channels; ``poison``
    puts NaN or inf into one configuration."""
    rng = np.random.default_rng(0)
    temps = np.array([0.5, 2.0])
    spec = LatticeSpec(L=L, ndim=2, channel_names=tuple(f"c{i}" for i in range(channels)), dtype="float32", temperatures=temps, samples_per_temperature=8, attrs={"model": "xy", "Tc": 0.89})
    with DatasetWriter(path, {"model": "xy", "seed": 0, "lattice_sizes": [L]}) as w:
        w.add_lattice(spec)
        for p in range(2):
            configs = rng.uniform(-1, 1, size=(8, channels, L, L)).astype(np.float32)  # XY components
            if poison is not None and p == 1:
                configs[3, 0, 1, 2] = poison
            w.write_point(L, p, configs, {"energy": np.zeros(8), "magnetization": np.zeros(8)}, int(p == 0))
        return w.finalize()


def test_model_and_data_of_different_size(ising_data, tmp_path, run_cli):
    _, model = ising_data
    other = tmp_path / "L12.h5"
    run_cli("simulate", "--L", "12", "--T", "2.0", "--samples", "4", "-q", "-o", other, check=True)
    res = run_cli("predict", model, other, "-o", tmp_path / "p.nc")
    assert_one_line_error(res)
    assert not (tmp_path / "p.nc").exists()


def test_model_and_data_with_different_channels(ising_data, tmp_path, run_cli):
    _, model = ising_data
    two_channels = _float_data(tmp_path / "xy.h5", 8, 2)
    res = run_cli("predict", model, two_channels, "-o", tmp_path / "p.nc")
    assert_one_line_error(res)


@pytest.mark.parametrize("poison", [np.nan, np.inf])
def test_nan_or_inf_in_data(poison, tmp_path, run_cli):
    data = _float_data(tmp_path / "bad.h5", 8, 1, poison=poison)
    res = run_cli("train", data, "--epochs", "1", "-q", "-o", tmp_path / "m.h5")
    assert_one_line_error(res, "NaN or inf")
    assert not (tmp_path / "m.h5").exists()


def test_temperature_window_that_empties_a_class(ising_data, tmp_path, run_cli):
    data, _ = ising_data
    res = run_cli("train", data, "--exclude-T", "0.1:2.2", "--epochs", "1", "-q", "-o", tmp_path / "m.h5")
    assert_one_line_error(res, "no ordered", "--exclude-T")


@pytest.mark.parametrize(
    "layers, fragment",
    [
        ([{"type": "Bogus"}, {"type": "Dense", "out_features": 2}], "unknown layer"),
        ([{"type": "os.system", "command": "touch pwned"}], "unknown layer"),
        ([{"type": "Conv2d", "out_channels": 2, "kernel_size": 20, "padding": "valid"}, {"type": "Flatten"}, {"type": "Dense", "out_features": 2}], ""),
        ([{"type": "Conv2d", "out_channels": -3}], ""),
        ({"layers": "not a list"}, ""),
    ],
)
def test_unknown_layer_or_impossible_architecture(layers, fragment, ising_data, tmp_path, run_cli):
    data, _ = ising_data
    arch = tmp_path / "arch.json"
    arch.write_text(json.dumps(layers))
    res = run_cli("train", data, "--architecture", arch, "--epochs", "1", "-q", "-o", tmp_path / "m.h5")
    assert_one_line_error(res, fragment)
    assert not (tmp_path / "m.h5").exists() and not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("case", ["truncated HDF5", "not HDF5", "another tool's netCDF", "hangs libhdf5"])
def test_bad_model_file_for_predict(case, ising_data, tmp_path, run_cli):
    data, model = ising_data
    make, _ = BAD_DATA[case]
    bad = tmp_path / "bad-model.h5"
    make(model, bad)
    res = run_cli("predict", bad, data, "-o", tmp_path / "p.nc", env={"FIELDNET_HDF5_PROBE_TIMEOUT": "3"})
    assert_one_line_error(res)
    assert not (tmp_path / "p.nc").exists()


@pytest.mark.parametrize("case", ["truncated HDF5", "not HDF5", "corrupt chunk", "hangs libhdf5"])
def test_bad_data_file_for_train(case, valid_file, tmp_path, run_cli):
    make, _ = BAD_DATA[case]
    bad = tmp_path / "bad.h5"
    make(valid_file, bad)
    res = run_cli("train", bad, "--L", "6", "--epochs", "1", "-q", "-o", tmp_path / "m.h5", env={"FIELDNET_HDF5_PROBE_TIMEOUT": "3"})
    assert_one_line_error(res)
    assert not (tmp_path / "m.h5").exists()
