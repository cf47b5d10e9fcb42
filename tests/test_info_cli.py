"""`fieldnet info` on data, partial, model and prediction files, and on bad input."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import xarray as xr
from fieldnet.simulations.campaign import INTERRUPT_ENV


@pytest.fixture
def data_file(run_cli, tmp_path):
    res = run_cli("simulate", "--L", "4", "--T", "2.2,3.0", "--samples", "6", "--seed", "2", "-q", "-o", "d.h5")
    assert res.returncode == 0, res.stderr
    return tmp_path / "d.h5"


def test_info_describes_a_data_file(run_cli, data_file):
    res = run_cli("info", data_file)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    for text in ("fieldnet data set", "status complete", "ising2d", '"h": 0.0', "seed       2", "L4:", "(12, 1, 4, 4)",
                 "int8", "2/2 temperatures done", "tau_E", "wolff", "metropolis", "fieldnet simulate"):
        assert text in out, (text, out)
    rows = [line.split() for line in out.splitlines() if line.strip().startswith(("2.2000", "3.0000"))]
    assert [r[1] for r in rows] == ["1", "0"]  # labels


def test_info_shows_a_partial_file_and_points_at_it(run_cli, tmp_path):
    res = run_cli("simulate", "--L", "4", "--T", "1.5,2.0,3.0", "--samples", "6", "-q", "-o", "p.h5", env={INTERRUPT_ENV: "1"})
    assert res.returncode == 130
    missing = run_cli("info", "p.h5")
    assert missing.returncode == 2 and "p.h5.partial" in missing.stderr
    res = run_cli("info", "p.h5.partial")
    assert res.returncode == 0, res.stderr
    assert "status partial" in res.stdout and "1/3 temperatures done" in res.stdout and "not yet simulated" in res.stdout


def test_info_prints_model_and_prediction_files_generically(run_cli, tmp_path):
    model = tmp_path / "m.h5"
    with h5py.File(model, "w") as f:
        f.attrs["fieldnet_format"] = "model"
        f.attrs["architecture"] = '{"layers": []}'
        f.create_dataset("weights/conv1/kernel", data=np.zeros((4, 1, 3, 3), np.float32))
    pred = tmp_path / "p.nc"
    ds = xr.Dataset({"p_ordered": (("sample",), np.linspace(0, 1, 5, dtype=np.float32))},
                    coords={"temperature": ("sample", np.linspace(1, 3, 5))},
                    attrs={"fieldnet_format": "predictions", "model_file": "m.h5"})
    ds.to_netcdf(pred, engine="h5netcdf")
    res = run_cli("info", model, pred)
    assert res.returncode == 0, res.stderr
    assert "fieldnet model file" in res.stdout and "kernel: (4, 1, 3, 3) float32" in res.stdout
    assert "fieldnet predictions file" in res.stdout and "p_ordered: (5,) float32" in res.stdout
    assert "@model_file = m.h5" in res.stdout


@pytest.mark.parametrize("make, message", [
    (lambda p: p.write_bytes(b"not hdf5"), "not a readable"),
    (lambda p: h5py.File(p, "w").close(), "not a fieldnet file"),
    (lambda p: None, "does not exist"),
])
def test_info_bad_files_are_one_line_and_status_2(run_cli, tmp_path, make, message):
    path = tmp_path / "x.h5"
    make(path)
    res = run_cli("info", path)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in res.stderr


def test_info_lists_models(run_cli):
    res = run_cli("info", "--models")
    assert res.returncode == 0
    assert "ising2d" in res.stdout and "--param h=0.0" in res.stdout and "wolff" in res.stdout
