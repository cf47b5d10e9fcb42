"""kill -9 in the middle of `fieldnet pipeline` (during training), then --resume: the same data, models,
predictions and Tc estimates as an uninterrupted run."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import xarray as xr
from conftest import cli_command
from test_dist_campaign import assert_same_content
from test_faults_train import assert_same_model

TINY = """
[simulate]
L = [4, 8]
T = "1.4:3.6:7"
scan_samples = 24
zoom_points = 6
samples = 30
seed = 3

[train]
ensemble = 2
shifts = [0.0, 0.1]
epochs = 3

[analysis]
bootstrap = 4
"""


def pipeline(config: Path, folder: Path, *extra: str) -> list[str]:
    return [*cli_command(), "pipeline", str(config), "-o", str(folder), "-q", *extra]


def summary_without_timings(folder: Path) -> dict:
    summary = json.loads((folder / "summary.json").read_text())
    summary.pop("timings_seconds", None)
    for history in summary.get("training", {}).values():
        history.pop("seconds", None)  # wall-clock time per epoch
    return json.loads(json.dumps(summary).replace(str(folder), "<run>"))


def test_kill_9_during_the_pipeline_then_resume_gives_the_same_results(tmp_path):
    config = tmp_path / "tiny.toml"
    config.write_text(TINY)
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    subprocess.run(pipeline(config, reference), check=True, capture_output=True)

    proc = subprocess.Popen(pipeline(config, killed), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    # a training checkpoint on disk: the simulation is done and the first network is mid-training
    while not any(killed.glob("model*.h5.partial")):
        assert proc.poll() is None, "the pipeline ended before it could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / "summary.json").exists()

    res = subprocess.run(pipeline(config, killed, "--resume"), capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    for name in ("scan.h5", "measure.h5"):
        assert_same_content(reference / name, killed / name)
    models = sorted(p.name for p in reference.glob("model*.h5"))
    assert models and models == sorted(p.name for p in killed.glob("model*.h5"))
    for name in models:
        assert_same_model(reference / name, killed / name)
    for name in ("predictions_p0.nc", "predictions_p1.nc"):
        with xr.open_dataset(reference / name, engine="h5netcdf") as a, xr.open_dataset(killed / name, engine="h5netcdf") as b:
            np.testing.assert_array_equal(a["probability"].values, b["probability"].values)
            np.testing.assert_array_equal(a["blocked_probability"].values, b["blocked_probability"].values)
    assert summary_without_timings(reference) == summary_without_timings(killed)
    assert not list(killed.glob("*.partial"))
