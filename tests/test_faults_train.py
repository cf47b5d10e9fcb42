"""Faults during `fieldnet train`: kill -9 and Ctrl-C mid-training, then --resume, give the model an
uninterrupted run writes (same weights, same history apart from timings)."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import cli_command
from interrupted import start_and_wait

from fieldnet.io.atomic import partial_path

EPOCHS = 6


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("train-data") / "data.h5"
    subprocess.run(
        [*cli_command(), "simulate", "--L", "8", "--T", "1.6:3.2:6", "--samples", "160", "--seed", "2", "-q", "-o", str(out)],
        check=True,
        capture_output=True,
    )
    return out


def train_args(data: Path, out: Path) -> list[str]:
    return [*cli_command(), "train", str(data), "-o", str(out), "--epochs", str(EPOCHS), "--batch-size", "16", "--seed", "4", "-q"]


@pytest.fixture(scope="module")
def reference(data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("train-ref") / "model.h5"
    subprocess.run(train_args(data, out), check=True, capture_output=True)
    return out


def model_content(path: Path) -> tuple[dict[str, np.ndarray], dict]:
    """Weights by name, and the history without wall-clock timings."""
    import json

    with h5py.File(path, "r") as f:
        weights = {}
        f["weights"].visititems(lambda name, obj: weights.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
        history = json.loads(f.attrs["history"])
    history.pop("seconds", None)
    return weights, history


def assert_same_model(a: Path, b: Path) -> None:
    wa, ha = model_content(a)
    wb, hb = model_content(b)
    assert sorted(wa) == sorted(wb)
    for name in wa:
        np.testing.assert_array_equal(wa[name], wb[name], err_msg=name)
    assert ha == hb


def start_and_wait_for_checkpoint(data: Path, out: Path) -> subprocess.Popen:
    """Start training; return once the first epoch's checkpoint is on disk (the run is mid-way)."""
    return start_and_wait(train_args(data, out), partial_path(out).exists, 300, "training")


def resume(data: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*train_args(data, out), "--resume"], capture_output=True, text=True)


def test_kill_9_during_training_then_resume_gives_the_same_model(data, reference, tmp_path):
    out = tmp_path / "model.h5"
    proc = start_and_wait_for_checkpoint(data, out)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not out.exists(), "the run finished before the kill; make the epochs longer"
    res = resume(data, out)
    assert res.returncode == 0, res.stderr
    assert_same_model(reference, out)
    assert not partial_path(out).exists()


def test_ctrl_c_during_training_says_how_to_resume(data, reference, tmp_path):
    out = tmp_path / "model.h5"
    proc = start_and_wait_for_checkpoint(data, out)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "--resume" in stderr and "Traceback" not in stderr
    assert not out.exists() and partial_path(out).exists()
    res = resume(data, out)
    assert res.returncode == 0, res.stderr
    assert_same_model(reference, out)
