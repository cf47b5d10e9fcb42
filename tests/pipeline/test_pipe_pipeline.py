"""fieldnet pipeline end to end with a tiny configuration, in a subprocess."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import numpy as np

from fieldnet.io.dataset import DatasetWriter, LatticeSpec

TINY = """
[simulate]
L = [6, 8]
T = "1.5:3.5:9"
samples = 48
seed = 2

[train]
epochs = 3
ensemble = 2
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
    for name in ("data.h5", "model_L6_net1.h5", "model_L6_net2.h5", "model_L8_net1.h5", "model_L8_net2.h5", "predictions.nc", "summary.json", "report.md",
                 "training.png", "gallery.png", "tc/p_ordered.png", "tc/collapse.png", "tc/tc.json"):
        assert (rep / name).is_file(), name
    summary = json.loads((rep / "summary.json").read_text())
    # tiny lattices: each crossing lies near Onsager's Tc; the extrapolation exists with an error bar
    assert all(abs(row["Tc"] - 2.269185) < 0.3 for row in summary["tc"]["Tc_L"])
    assert summary["Tc"] is not None and summary["Tc_err"] > 0
    assert summary["Tc_reference"] == summary["tc"]["Tc_reference"]
    # an ensemble of two networks per L: their spread is part of each Tc(L) error
    assert summary["n_networks"] == 2 and set(summary["training"]) == {"L=6 net 1", "L=6 net 2", "L=8 net 1", "L=8 net 2"}
    assert all(row["Tc_err_networks"] > 0 and len(row["Tc_network"]) == 2 for row in summary["tc"]["Tc_L"])
    assert "error from training" in (rep / "report.md").read_text()
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
    bad.write_text("[train]\nensemble = 0\n")
    res = run_cli("pipeline", bad, "-o", "rep2")
    assert res.returncode == 2 and "ensemble" in res.stderr and not (tmp_path / "rep2").exists()


def write_unlabelled(path: Path, L: int = 8) -> None:
    """Synthetic +-1 configurations without phase labels (-1): ordered below T = 1, random above."""
    temperatures = np.linspace(0.4, 1.6, 7)
    rng = np.random.default_rng(0)
    spec = LatticeSpec(L=L, ndim=2, channel_names=("spin",), dtype="int8", temperatures=temperatures,
                       samples_per_temperature=40, observables=("energy",),
                       attrs={"model": "synthetic", "T_KT_reference": 1.0})
    with DatasetWriter(path, {"model": "synthetic", "seed": 0}) as w:
        w.add_lattice(spec)
        for i, T in enumerate(temperatures):
            flip = rng.random((40, 1, L, L)) < (0.05 if T < 1.0 else 0.5)
            sign = rng.choice([-1, 1], size=(40, 1, 1, 1))
            w.write_point(L, i, (sign * np.where(flip, -1, 1)).astype(np.int8), {"energy": np.zeros(40, np.float32)}, -1)
        w.finalize()


def test_pipe_pipeline_uses_confusion_without_labels(run_cli, tmp_path):
    rep = tmp_path / "rep"
    rep.mkdir()
    write_unlabelled(rep / "data.h5")  # the simulate stage is done: --resume skips it
    cfg = tmp_path / "c.toml"
    cfg.write_text("[analysis]\nconfusion_repeats = 1\n")
    res = run_cli("pipeline", cfg, "-o", rep, "--resume", "-q")
    assert res.returncode == 0, res.stderr
    summary = json.loads((rep / "summary.json").read_text())
    assert summary["method"] == "confusion" and summary["tc"]["Tc_reference_name"] == "T_KT"
    # the W curve's central peak lies between the last ordered (0.8) and first random (1.0) temperature
    assert 0.7 <= summary["Tc"] <= 1.1
    for name in ("tc/confusion.png", "gallery.png", "report.md"):
        assert (rep / name).is_file(), name


def test_pipe_auto_critical_window_follows_the_model(tmp_path):
    """exclude_T = "auto" (the default) holds out 0.96..1.045 Tc of whichever model is configured."""
    from fieldnet.app.pipeline import load_config

    assert load_config(None).train["exclude_T"] == ["2.178:2.371"]  # 2D Ising: 2.2, 2.267, 2.333 of the grid
    cfg = tmp_path / "potts.toml"
    cfg.write_text('[simulate]\nmodel = "potts"\nparams = { q = 3 }\n')
    lo, hi = map(float, load_config(cfg).train["exclude_T"][0].split(":"))
    assert lo < 1 / np.log(1 + np.sqrt(3)) < hi and hi - lo < 0.1
    cfg.write_text('[simulate]\nmodel = "xy"\n')  # no Tc: no labels, learning by confusion, nothing to hold out
    assert load_config(cfg).train["exclude_T"] == []
    cfg.write_text('[train]\nexclude_T = "2.1:2.45"\n')
    assert load_config(cfg).train["exclude_T"] == ["2.1:2.45"]
