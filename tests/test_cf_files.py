"""Every netCDF file fieldnet writes follows CF-1.x, checked with readers that are not fieldnet's:
netCDF4 (libnetcdf) for the attributes, UDUNITS (cf-units) for the units, cf-xarray for the flags,
and plain xarray for the coordinates the README uses."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import xarray as xr

netCDF4 = pytest.importorskip("netCDF4")
cf_units = pytest.importorskip("cf_units")
cf_xarray = pytest.importorskip("cf_xarray")


def cf_problems(path, group: str | None = None, *, kind: str, version: int) -> list[str]:
    """What in ``path`` (one group of it) breaks the conventions fieldnet promises, read with libnetcdf."""
    problems = []
    with netCDF4.Dataset(path) as root:
        if not str(getattr(root, "Conventions", "")).startswith("CF-1."):
            problems.append("root: no Conventions CF-1.x")
        history = str(getattr(root, "history", ""))
        if not history or ":" not in history.splitlines()[-1]:
            problems.append("root: no history line '<time>: <command>'")
        if getattr(root, "fieldnet_format", None) != kind or int(np.ravel(getattr(root, "format_version", [-1]))[0]) != version:
            problems.append(f"root: fieldnet_format/format_version not {kind}/{version}")
        g = root[group] if group else root
        for name, var in g.variables.items():
            attrs = var.ncattrs()
            if "long_name" not in attrs:
                problems.append(f"{name}: no long_name")
            if "units" in attrs:
                try:
                    cf_units.Unit(var.units)
                except ValueError:
                    problems.append(f"{name}: units {var.units!r} not UDUNITS")
            if "flag_values" in attrs:
                values = np.ravel(var.flag_values)
                if values.dtype.kind not in "iu" or len(str(var.flag_meanings).split()) != values.size:
                    problems.append(f"{name}: flag_values not numeric or not matched by flag_meanings")
            for coord in str(getattr(var, "coordinates", "")).split():
                if coord not in g.variables:
                    problems.append(f"{name}: coordinate {coord!r} is not a variable")
    return problems


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """A data file, a model and its predictions written by the command line."""
    import subprocess
    import sys

    from fieldnet.simulations.campaign import run_campaign

    folder = tmp_path_factory.mktemp("cf")
    data = folder / "data.h5"
    run_campaign("ising2d", {}, [8], [1.6, 2.0, 2.6, 3.2], 24, seed=5, output=data, progress=False,
                 command="fieldnet simulate --L 8 (test)")
    from fieldnet.training.presets import build_preset

    model = build_preset("gap", (1, 8, 8), seed=1)
    model.save(folder / "model.h5")
    res = subprocess.run([sys.executable, "-m", "fieldnet", "predict", "model.h5", "data.h5", "-o", "pred.nc", "-q"],
                         cwd=folder, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    return folder


def test_data_file_is_cf(small_run):
    data = small_run / "data.h5"
    assert cf_problems(data, "L8", kind="dataset", version=2) == []
    with netCDF4.Dataset(data) as root:
        t = root["L8"].variables["temperature"]
        assert t.units == "1" and "J/k_B" in t.long_name
        assert root["L8"].variables["energy"].coordinates == "temperature label"
        assert "fieldnet simulate --L 8 (test)" in root.history
    ds = xr.open_dataset(data, engine="h5netcdf", group="L8")
    by_T = ds.energy.groupby("temperature").mean()                 # as the README writes it
    assert list(by_T.temperature.values) == [1.6, 2.0, 2.6, 3.2] and by_T.values[0] < by_T.values[-1]
    assert ds.tau_int_energy.temperature_grid.size == 4
    assert ds.label.cf.is_flag_variable
    np.testing.assert_array_equal((ds.label.cf == "ordered").values, ds.label.values == 1)


def test_predictions_are_cf_and_lead_back_to_the_data_rows(small_run):
    pred_path, data = small_run / "pred.nc", small_run / "data.h5"
    assert cf_problems(pred_path, kind="predictions", version=2) == []
    with netCDF4.Dataset(pred_path) as root:
        assert "fieldnet predict" in root.history.splitlines()[-1] and Path(root.data) == data.resolve()
        assert list(np.ravel(root.variables["label"].flag_values)) == [-1, 0, 1]
    pred = xr.open_dataset(pred_path, engine="h5netcdf")
    ds = xr.open_dataset(data, engine="h5netcdf", group="L8")
    rows = ds.isel(sample=pred.sample_index.values)
    np.testing.assert_array_equal(rows.temperature.values, pred.temperature.values)
    np.testing.assert_array_equal(rows.label.values, pred.label.values)
    assert pred.probability.sel({"class": "ordered"}).groupby("temperature").mean().sizes["temperature"] == 4


def test_analysis_results_are_cf(small_run, run_cli):
    res = run_cli("analyze", "rg", small_run / "data.h5", "-o", small_run / "rg", check=True)
    assert "wrote" in res.stdout
    assert cf_problems(small_run / "rg" / "rg.nc", kind="rg", version=1) == []
    from fieldnet.analysis.samples import write_netcdf
    from fieldnet.analysis.uncertainty import mc_dropout

    from fieldnet.io.dataset import open_dataset
    from fieldnet.training.presets import build_preset

    model = build_preset("gap", (1, 8, 8), seed=1, dropout=0.3)
    result = mc_dropout(model, open_dataset(small_run / "data.h5").load(), n_passes=2)
    write_netcdf(result.assign_attrs(fieldnet_format="uncertainty"), small_run / "unc.nc", command="a notebook")
    assert cf_problems(small_run / "unc.nc", kind="uncertainty", version=1) == []
    with netCDF4.Dataset(small_run / "unc.nc") as root:
        assert root.history.endswith("a notebook") and root.variables["temperature"].units == "1"


def test_version_1_data_files_still_read(small_run, tmp_path):
    """A file in the layout before CF (units J/k_B, no coordinates attributes, format_version 1)
    trains and predicts as before."""
    import shutil

    from fieldnet.io.dataset import open_dataset
    from fieldnet.training.predict import predict_dataset
    from fieldnet.training.trainer import train

    old = tmp_path / "v1.h5"
    shutil.copy(small_run / "data.h5", old)
    with h5py.File(old, "r+") as f:
        f.attrs["format_version"] = np.array([1])
        for key in ("Conventions", "history", "source"):
            del f.attrs[key]
        for var in f["L8"].values():
            for key in ("coordinates", "comment"):
                if key in var.attrs:
                    del var.attrs[key]
            if var.attrs.get("units") == "1" and var.name.endswith(("temperature", "temperature_grid")):
                var.attrs["units"] = "J/k_B"
    ds = open_dataset(old)
    assert "temperature" in ds.data_vars                   # version 1: not yet a coordinate
    model = train(old, None, preset="gap", epochs=1, seed=1, progress=False, log=lambda line: None)
    pred = predict_dataset(model, old)
    assert pred.sizes["sample"] == ds.sizes["sample"] and pred.temperature.attrs["units"] == "1"
    again = predict_dataset(model, ds.load())
    np.testing.assert_array_equal(again.probability.values, pred.probability.values)
