"""fieldnet pipeline end to end with a tiny configuration, in a subprocess."""

from __future__ import annotations

import json
import tomllib

TINY = """
[simulate]
L = [6, 8]
T = "1.5:3.5:9"
samples = 48
seed = 2

[train]
epochs = 3
exclude_T = ["2.2:2.3"]

[analysis]
bootstrap = 40
collapse_bootstrap = 5
"""


def test_pipe_print_config_is_the_valid_default(run_cli):
    res = run_cli("pipeline", "--print-config", check=True)
    config = tomllib.loads(res.stdout)
    assert config["simulate"]["model"] == "ising2d" and config["train"]["exclude_T"]


def test_pipe_pipeline_writes_the_report_and_resumes(run_cli, tmp_path):
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(TINY)
    res = run_cli("pipeline", cfg, "-o", "rep", "-q")
    assert res.returncode == 0, res.stderr
    rep = tmp_path / "rep"
    for name in ("data.h5", "model_L6.h5", "model_L8.h5", "predictions.nc", "summary.json", "report.md",
                 "training.png", "gallery.png", "tc/p_ordered.png", "tc/collapse.png", "tc/tc.json"):
        assert (rep / name).is_file(), name
    summary = json.loads((rep / "summary.json").read_text())
    # tiny lattices: each crossing lies near Onsager's Tc; the extrapolation exists with an error bar
    assert all(abs(row["Tc"] - 2.269185) < 0.3 for row in summary["tc"]["Tc_L"])
    assert summary["Tc"] is not None and summary["Tc_err"] > 0
    assert summary["Tc_reference"] == summary["tc"]["Tc_reference"]
    assert "Tc" in (rep / "report.md").read_text() and "![tc/p_ordered.png]" in (rep / "report.md").read_text()
    # the folder holds a run: refused without --resume; --resume skips the finished stages
    res = run_cli("pipeline", cfg, "-o", "rep")
    assert res.returncode == 2 and "--resume" in res.stderr
    res = run_cli("pipeline", cfg, "-o", "rep", "--resume")
    assert res.returncode == 0 and "exists, skipped" in res.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text("[train]\nepoch = 3\n")
    res = run_cli("pipeline", bad, "-o", "rep2")
    assert res.returncode == 2 and "unknown key" in res.stderr and not (tmp_path / "rep2").exists()
