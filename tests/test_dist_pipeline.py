"""The whole pipeline and `fieldnet train --ensemble` as Dask tasks on a real LocalCluster (worker
processes on loopback): the same files and summary as a serial run, and a worker killed in the middle
of a training costs nothing (its network is retrained from its last checkpoint to the same weights)."""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import cli_command
from fieldnet.simulations.distributed import connect
from test_dist_campaign import assert_same_content, file_content
from test_faults_pipeline import summary_without_timings
from test_faults_train import assert_same_model
from tiny_pipeline import TINY

from fieldnet.app.executors import DaskExecutor, train_network
from fieldnet.errors import FieldnetError, TrainingDiverged


@pytest.fixture(scope="module")
def serial(tmp_path_factory) -> Path:
    """The tiny pipeline run serially through the command line: the reference of every test here."""
    folder = tmp_path_factory.mktemp("dist-pipeline")
    (folder / "tiny.toml").write_text(TINY)
    res = subprocess.run([*cli_command(), "pipeline", "tiny.toml", "-o", "serial", "-q"], cwd=folder, capture_output=True,
                         text=True, timeout=900)
    assert res.returncode == 0, res.stderr
    return folder / "serial"


@pytest.fixture(scope="module")
def client():
    with connect(workers=2) as c:
        yield c


def predictions_content(path: Path, folder: Path) -> dict[str, object]:
    """A predictions file's variables and attributes, the work folder's path written as <run>
    (the file names its data file by absolute path) and its history (dates) left out."""
    content = {}
    for key, value in file_content(path).items():
        if key.endswith("@history"):
            continue
        if np.asarray(value).dtype.kind in "OSU":
            value = np.asarray(str(np.ravel(value)[0]).replace(str(folder), "<run>"))
        content[key] = value
    return content


def assert_same_study(a: Path, b: Path) -> None:
    """Two pipeline work folders hold the same data, models, predictions, stage records and summary."""
    for name in ("scan.h5", "measure.h5"):
        assert_same_content(a / name, b / name)
    models = sorted(p.name for p in a.glob("model*.h5"))
    assert len(models) == 4 and models == sorted(p.name for p in b.glob("model*.h5"))
    for name in models:
        assert_same_model(a / name, b / name)
    for name in ("predictions_p0.nc", "predictions_p1.nc"):
        ca, cb = predictions_content(a / name, a), predictions_content(b / name, b)
        assert sorted(ca) == sorted(cb)
        for key, value in ca.items():
            assert np.array_equal(value, cb[key], equal_nan=np.asarray(value).dtype.kind == "f"), (name, key)
    records_a, records_b = (json.loads((f / "stages.json").read_text()) for f in (a, b))
    assert list(records_a) == list(records_b) and records_a == records_b  # same records, written in the same order
    assert summary_without_timings(a) == summary_without_timings(b)
    assert not list(b.glob("*.partial"))


def test_pipeline_on_local_workers_writes_the_serial_results(serial, run_cli):
    folder = serial.parent
    res = run_cli("pipeline", "tiny.toml", "-o", "dist", "-q", "--workers", "2", cwd=folder)
    assert res.returncode == 0, res.stderr
    assert_same_study(serial, folder / "dist")


def test_worker_killed_during_training_is_retrained_from_its_checkpoint(serial, client, tmp_path):
    from fieldnet.app.pipeline import run_pipeline
    from fieldnet.app.pipeline_config import load_config

    marker = tmp_path / "killed"
    pids_before = set(client.run(os.getpid).values())
    lines: list[str] = []
    run_pipeline(load_config(serial.parent / "tiny.toml"), tmp_path / "run", progress=False, log=lines.append,
                 executor=_KillingExecutor(client, marker))
    assert marker.exists(), "no worker was killed"
    assert set(client.run(os.getpid).values()) != pids_before  # the nanny restarted the killed worker
    resumed = [line for line in lines if "resuming" in line]
    assert len(resumed) == 1 and "from epoch 1" in resumed[0], lines  # continued from the checkpoint, not afresh
    assert_same_study(serial, tmp_path / "run")


def test_train_ensemble_on_local_workers_equals_serial_seeds(serial, run_cli, tmp_path):
    data = serial / "scan.h5"
    common = ("--epochs", "2", "--batch-size", "32", "-q")
    for seed in (4, 5):
        run_cli("train", data, "-o", f"seed{seed}.h5", "--seed", seed, *common, check=True)
    res = run_cli("train", data, "-o", "ens.h5", "--seed", "4", "--ensemble", "2", "--workers", "2", *common)
    assert res.returncode == 0, res.stderr
    assert "ens_net1.h5" in res.stdout and "ens_net2.h5" in res.stdout
    assert_same_model(tmp_path / "seed4.h5", tmp_path / "ens_net1.h5")
    assert_same_model(tmp_path / "seed5.h5", tmp_path / "ens_net2.h5")


def test_results_come_back_in_task_order_whatever_finishes_first(client):
    seconds = [0.3, 0.2, 0.1, 0.0]  # later tasks finish first
    assert list(DaskExecutor(client=client).map(_sleep, seconds)) == seconds


def test_a_task_error_and_an_unshared_folder_are_user_errors_here(client, tmp_path):
    executor = DaskExecutor(client=client)
    with pytest.raises(FieldnetError, match="diverged on a worker"):
        list(executor.map(_diverge, [1]))
    executor.check_shared(tmp_path)
    with pytest.raises(FieldnetError, match="do not see .*elsewhere; the work files must be on storage shared"):
        executor.check_shared(tmp_path / "elsewhere")


@pytest.mark.parametrize("args, expected", [
    (("pipeline", "--workers", "0"), "--workers must be at least 1"),
    (("pipeline", "--workers", "2", "--scheduler", "tcp://127.0.0.1:9"), "either --scheduler"),
    (("train", "data.h5", "--ensemble", "2", "--workers", "0"), "--workers must be at least 1"),
    (("train", "data.h5", "--ensemble", "0"), "--ensemble must be at least 1"),
])
def test_bad_distributed_options_are_one_line(run_cli, tmp_path, serial, args, expected):
    if "train" in args:
        (tmp_path / "data.h5").write_bytes((serial / "scan.h5").read_bytes())
    res = run_cli(*args, "-o", "out")
    assert res.returncode == 2 and expected in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert not list(tmp_path.glob("out*"))


@pytest.mark.parametrize("command", [("pipeline",), ("train", "data.h5", "--ensemble", "2")])
def test_missing_dask_is_one_line_naming_the_extra(run_cli, tmp_path, command):
    # a 'distributed' package that fails to import, first on the path: as if dask were not installed
    fake = tmp_path / "no_dask" / "distributed"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('No module named distributed')\n")
    (tmp_path / "data.h5").write_bytes(b"")
    res = run_cli(*command, "-o", "out", "--workers", "2", env={"PYTHONPATH": str(fake.parent)})
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and 'pip install "fieldnet[dist]"' in res.stderr
    assert not list(tmp_path.glob("out*"))


def test_importing_fieldnet_and_its_command_line_imports_no_dask():
    code = ("import sys, fieldnet, fieldnet.app.executors, fieldnet.app.pipeline, fieldnet.app.cli; "
            "fieldnet.app.cli.build_parser(); print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.strip() == "[]"


# -- instrumented tasks (top level, so worker processes can unpickle them) -------------------------


class _KillingExecutor(DaskExecutor):
    """The pipeline's Dask executor, except that the first training to write a checkpoint kills its
    own worker process right after writing it (once: ``marker`` is created by the one that does)."""

    def __init__(self, client, marker: Path):
        super().__init__(client=client)
        self.marker = str(marker)

    def map(self, function, tasks):
        if function is train_network:
            function = functools.partial(_train_killing_own_worker_once, marker=self.marker)
        return super().map(function, tasks)


def _train_killing_own_worker_once(task, marker: str):
    from fieldnet.engine.model import Sequential
    from fieldnet.io.atomic import partial_path

    checkpoint = partial_path(task.output)
    save = Sequential.save

    def save_then_die(model, path, *args, **kwargs):
        written = save(model, path, *args, **kwargs)
        if Path(path) == checkpoint and _claim(marker):
            os.kill(os.getpid(), signal.SIGKILL)  # the first epoch's checkpoint is on disk, the second epoch not run
        return written

    Sequential.save = save_then_die
    try:
        return train_network(task)
    finally:
        Sequential.save = save


def _claim(marker: str) -> bool:
    """True for the first caller in any process (the marker file is created exclusively)."""
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


def _diverge(task) -> None:
    raise TrainingDiverged("training diverged on a worker")


def _sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds
