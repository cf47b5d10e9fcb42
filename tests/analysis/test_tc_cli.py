"""`fieldnet analyze tc`: a synthetic predictions file in, tc.json / tc.nc / figures out; bad input exits 2."""

from __future__ import annotations

import json

import numpy as np
import xarray as xr
from fieldnet.analysis.tc import synthetic_predictions

TC = 2.269185


def test_analyze_tc_writes_numbers_and_figures(run_cli, tmp_path):
    pred = synthetic_predictions((8, 16, 32, 64), np.linspace(2.0, 2.6, 31), 200, a=0.3, seed=21)
    pred.to_netcdf(tmp_path / "pred.nc", engine="h5netcdf")
    res = run_cli("analyze", "tc", "pred.nc", "-o", "out", "--nu", "1", "--bootstrap", "200",
                  "--collapse-bootstrap", "20", "--collapse-of", "probability", check=True)
    assert "Tc(inf) extrapolation" in res.stdout and "data collapse" in res.stdout
    out = tmp_path / "out"
    result = json.loads((out / "tc.json").read_text())
    assert [r["L"] for r in result["Tc_L"]] == [8, 16, 32, 64]
    for row in result["Tc_L"]:
        true = TC + 0.3 / row["L"]
        assert abs(row["Tc"] - true) < 3 * row["Tc_err"] and row["Tc_err"] < 0.01
    assert abs(result["Tc_inf"] - TC) < 3 * result["Tc_inf_err"] and result["Tc_inf_err"] < 0.005
    assert result["extrapolation"]["nu_fixed"] is True and result["nu"] == 1.0
    col = result["collapse"]
    assert abs(col["Tc"] - TC) < 3 * col["Tc_err"] and abs(col["nu"] - 1.0) < 3 * col["nu_err"]
    assert col["collapse_of"] == "probability"
    assert result["Tc_reference"] == TC or abs(result["Tc_reference"] - TC) < 1e-5
    assert abs(result["deviation"]["extrapolation"]["relative"]) < 0.005
    curves = xr.open_dataset(out / "tc.nc", engine="h5netcdf")
    assert curves.p_ordered.dims == ("L", "temperature") and curves.sizes["L"] == 4
    for name in ("p_ordered.png", "tc_vs_L.png", "collapse.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_analyze_tc_bad_input_is_one_line_exit_2(run_cli, tmp_path):
    res = run_cli("analyze", "tc", "missing.nc")
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1 and "no such file" in res.stderr
    res = run_cli("analyze", "tc", "missing.nc", "--collapse-of", "soft")
    assert res.returncode == 2 and "--collapse-of" in res.stderr and "decisions" in res.stderr
    (tmp_path / "notes.nc").write_text("not a netCDF file")
    res = run_cli("analyze", "tc", "notes.nc")
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr
    xr.Dataset({"config": ("sample", np.zeros(4))}, attrs={"fieldnet_format": "dataset"}).to_netcdf(
        tmp_path / "data.nc", engine="h5netcdf")
    res = run_cli("analyze", "tc", "data.nc")
    assert res.returncode == 2 and "not predictions" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    # predictions that never cross 1/2: the temperature range misses the transition
    synthetic_predictions((16,), np.linspace(1.0, 1.8, 5), 20).to_netcdf(tmp_path / "cold.nc", engine="h5netcdf")
    res = run_cli("analyze", "tc", "cold.nc", "-o", "cold_out")
    assert res.returncode == 2 and "never crosses 1/2" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "cold_out").exists()
