"""fieldnet pipeline end to end with a tiny configuration: the blind measurement, its report, its
resume bound to the settings, the same numbers from `analyze tc`, and blindness itself."""

from __future__ import annotations

import json
import tomllib

import h5py
import numpy as np
import pytest
from tiny_pipeline import TINY


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """One run of the tiny pipeline through the command line (shared by the tests of this module)."""
    import subprocess

    from conftest import cli_command

    folder = tmp_path_factory.mktemp("pipeline")
    (folder / "tiny.toml").write_text(TINY)
    res = subprocess.run([*cli_command(), "pipeline", "tiny.toml", "-o", "rep"], cwd=folder, capture_output=True,
                         text=True, timeout=900)
    assert res.returncode == 0, res.stderr
    return folder, res


def test_pipe_print_config_is_the_valid_default(run_cli):
    res = run_cli("pipeline", "--print-config", check=True)
    config = tomllib.loads(res.stdout)
    assert config["simulate"]["model"] == "ising2d" and config["train"]["labels"] == "bands"
    assert "# batch_size = 64" in res.stdout  # fieldnet train's defaults, listed for the user


def test_pipe_blind_pipeline_reports_tc_nu_baseline_and_systematics(tiny_run):
    folder, res = tiny_run
    rep = folder / "rep"
    for name in ("scan.h5", "measure.h5", "model_p0_net1.h5", "model_p0_net2.h5", "model_p1_net1.h5", "predictions_p0.nc",
                 "predictions_p1.nc", "stages.json", "summary.json", "report.md", "training.png", "gallery.png",
                 "tc/tc.json", "tc/tc.nc", "tc/rg_matching.png", "tc/binder.png", "tc/training_range.png"):
        assert (rep / name).is_file(), name
    summary = json.loads((rep / "summary.json").read_text())
    assert summary["blind"] and summary["headline"] == "rg_matching"
    assert summary["Tc_stat"] > 0 and summary["Tc_syst"] >= 0 and summary["sensitivity"] is not None
    assert 1.4 < summary["Tc"] < 3.6 and summary["nu"] > 0
    assert summary["methods"]["binder"]["Tc"] is not None  # the baseline beside it
    # the headline matches at two block steps (L=8 blocked twice against L=4 blocked once); the
    # one-step matching stands beside it
    assert "n-1 times" in summary["method"] and summary["methods"]["rg_matching_1"]["Tc"] is not None
    import xarray as xr

    with xr.open_dataset(rep / "predictions_p0.nc", engine="h5netcdf") as pred:
        twice, L = pred.member_twice_blocked_probability.values, pred.L.values
        assert np.isnan(twice[:, L == 4]).all() and np.isfinite(twice[:, L == 8]).all()
    assert [p["band_shift"] for p in summary["placements"]] == pytest.approx([0.0, 0.22])
    assert summary["reference"]["Tc"] == pytest.approx(2.269185, abs=1e-5)
    # the measurement sits on the located window, with another seed than the scan
    with h5py.File(rep / "measure.h5") as m, h5py.File(rep / "scan.h5") as s:
        T = np.unique(m["L8"]["temperature"][()])
        assert T.min() == pytest.approx(summary["window"]["measurement"][0])
        assert int(np.ravel(m.attrs["seed"])[0]) == int(np.ravel(s.attrs["seed"])[0]) + 1
    assert res.stdout.splitlines()[0].startswith("Tc = ") and "(stat)" in res.stdout and "Binder baseline" in res.stdout
    report = (rep / "report.md").read_text()
    assert "## Systematics" in report and "sensitivity" in report and "![tc/rg_matching.png]" in report


def test_pipe_analyze_tc_gives_the_pipelines_numbers(tiny_run, run_cli):
    folder, _ = tiny_run
    rep = folder / "rep"
    res = run_cli("analyze", "tc", rep / "predictions_p0.nc", rep / "predictions_p1.nc", "-o", folder / "again",
                  "--bootstrap", "6", "--no-figures")
    assert res.returncode == 0, res.stderr
    pipeline = json.loads((rep / "tc" / "tc.json").read_text())
    again = json.loads((folder / "again" / "tc.json").read_text())
    for key in ("Tc", "Tc_stat", "Tc_syst", "nu", "sensitivity"):
        assert again[key] == pytest.approx(pipeline[key], rel=1e-12), key


def test_pipe_resume_skips_finished_stages_and_refuses_changed_settings(tiny_run, run_cli):
    folder, _ = tiny_run
    res = run_cli("pipeline", "tiny.toml", "-o", "rep", cwd=folder)
    assert res.returncode == 2 and "--resume" in res.stderr
    res = run_cli("pipeline", "tiny.toml", "-o", "rep", "--resume", cwd=folder)
    assert res.returncode == 0 and res.stderr.count("exists, skipped") >= 5
    changed = folder / "changed.toml"
    changed.write_text(TINY.replace("epochs = 2", "epochs = 3"))
    before = (folder / "rep" / "summary.json").read_bytes()
    res = run_cli("pipeline", changed, "-o", "rep", "--resume", cwd=folder)
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1
    assert "other settings ([train] epochs: 2 -> 3)" in res.stderr and "--overwrite" in res.stderr
    assert (folder / "rep" / "summary.json").read_bytes() == before


@pytest.mark.parametrize("text, expected", [
    ("[train]\nepoch = 3\n", "unknown key"),
    ("[train]\nensemble = 0\n", "ensemble = 0 must be a whole number from 1 to 64"),
    ('[train]\nepochs = "x"\n', "epochs = 'x' must be"),
    ("[simulate]\nL = [6, 10]\n", "L/2"),
    ("[simulate]\nsamples = 5\n", "samples = 5 must be"),
    ("[train]\nshifts = [0.1]\n", "starting with 0.0"),
])
def test_pipe_every_setting_is_checked_before_any_stage(run_cli, tmp_path, text, expected):
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    res = run_cli("pipeline", bad, "-o", "rep2")
    assert res.returncode == 2 and expected in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "rep2").exists()


def test_pipe_estimate_does_not_read_the_known_tc(tmp_path, monkeypatch):
    """The same study with the model's known Tc replaced by a wrong value and by none: the data
    files' labels and Tc attributes change, the estimate must not move by one bit."""
    from fieldnet.simulations.ising2d import Ising2D

    from fieldnet.app.pipeline import run_pipeline
    from fieldnet.app.pipeline_config import load_config

    config_path = tmp_path / "tiny.toml"
    config_path.write_text(TINY.replace("shifts = [0.0, 0.1]", "shifts = [0.0]").replace("ensemble = 2", "ensemble = 1"))
    results = {}
    for name, tc in (("none", None), ("wrong", 3.3)):
        monkeypatch.setattr(Ising2D, "critical_temperature", lambda self, tc=tc: tc)
        summary = run_pipeline(load_config(config_path), tmp_path / name, progress=False, log=lambda *_: None)
        with h5py.File(tmp_path / name / "measure.h5") as f:
            labels = set(np.unique(f["L8"]["label"][()]).tolist())
        results[name] = (summary, labels)
    assert results["none"][1] == {-1} and results["wrong"][1] <= {0, 1}  # the data files do differ
    a, b = results["none"][0], results["wrong"][0]
    assert a["reference"]["Tc"] is None and b["reference"]["Tc"] == 3.3
    for key in ("Tc", "Tc_stat", "nu", "nu_stat"):
        assert a[key] == b[key], key
    assert a["methods"] == b["methods"]


def test_pipe_known_tc_labels_are_named_as_no_measurement(tiny_run, tmp_path):
    from fieldnet.app.tc_study import analyse_study

    folder, _ = tiny_run
    summary = analyse_study([folder / "rep" / "predictions_p0.nc"], None, None, tmp_path / "tc", n_bootstrap=4,
                            known_tc_labels=True, figures=False)
    assert summary["blind"] is False and "not a measurement" in summary["method"]
    assert (tmp_path / "tc" / "tc.nc").is_file()
