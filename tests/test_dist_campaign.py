"""Campaigns on a real Dask LocalCluster (separate worker processes on loopback): the file equals a
serial run's, chunk for chunk (the workers compress, the writer only copies), and a worker
killed mid-campaign costs nothing (its task is re-run, no point is lost or written twice)."""

from __future__ import annotations

import functools
import os
import signal
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from fieldnet.simulations.campaign import run_campaign, serial_map
from fieldnet.simulations.distributed import connect, dask_map, run_point_on_worker, task_key

from fieldnet.errors import FieldnetError

# provenance that legitimately differs between two runs of the same campaign
VOLATILE_ATTRS = {"created", "command", "history", "_NCProperties"}
CAMPAIGN = dict(model="ising2d", params={}, sizes=[4, 6], temperatures=np.linspace(1.6, 3.4, 5), n_samples=12, seed=7)


def file_content(path: Path) -> dict[str, object]:
    """Every attribute and variable of an HDF5 file, by path, minus the volatile provenance."""
    content: dict[str, object] = {}
    with h5py.File(path, "r") as f:

        def visit(name: str, obj) -> None:
            for key, value in obj.attrs.items():
                if key in VOLATILE_ATTRS or key in ("DIMENSION_LIST", "REFERENCE_LIST"):
                    continue  # object references: file offsets, compared via the variables
                content[f"{name}@{key}"] = np.asarray(value)
            if isinstance(obj, h5py.Dataset):
                content[name] = obj[()]

        visit("/", f)
        f.visititems(visit)
    return content


def assert_same_content(a: Path, b: Path) -> None:
    ca, cb = file_content(a), file_content(b)
    assert sorted(ca) == sorted(cb)
    for key, value in ca.items():
        other = cb[key]
        equal_nan = np.asarray(value).dtype.kind == "f"
        assert np.array_equal(np.asarray(value), np.asarray(other), equal_nan=equal_nan), key


@pytest.fixture(scope="module")
def serial_file(tmp_path_factory) -> Path:
    return run_campaign(**CAMPAIGN, output=tmp_path_factory.mktemp("serial") / "serial.h5", progress=False, map_points=serial_map)


@pytest.fixture(scope="module")
def client():
    with connect(workers=2) as c:
        yield c


def test_cli_local_cluster_writes_the_serial_file(serial_file, run_cli, tmp_path):
    out = tmp_path / "dist.h5"
    res = run_cli(
        "simulate", "--L", "4", "6", "--T", "1.6:3.4:5", "--samples", "12", "--seed", "7", "-o", out, "-q", "--workers", "2"
    )
    assert res.returncode == 0, res.stderr
    assert_same_content(serial_file, out)
    with h5py.File(out) as f:
        assert "--workers" in f.attrs["command"]


def stored_chunks(path: Path) -> dict[tuple, bytes]:
    """Every stored chunk of every group's ``config``, compressed, by (group, chunk offset)."""
    out: dict[tuple, bytes] = {}
    with h5py.File(path, "r") as f:
        for name in f:
            ds = f[name]["config"]
            for i in range(ds.id.get_num_chunks()):
                info = ds.id.get_chunk_info(i)
                mask, data = ds.id.read_direct_chunk(info.chunk_offset)
                out[(name, info.chunk_offset)] = (mask, data)
    return out


def test_workers_compress_and_the_file_keeps_its_chunks_and_filters(serial_file, client, tmp_path):
    out = run_campaign(**CAMPAIGN, output=tmp_path / "dist.h5", progress=False, map_points=dask_map(client))
    assert_same_content(serial_file, out)
    serial, dist = stored_chunks(serial_file), stored_chunks(out)
    assert serial.keys() == dist.keys() and len(serial) >= 10
    assert all(serial[k] == dist[k] for k in serial)  # byte for byte, filter mask included
    with h5py.File(out) as f:
        ds = f["L6"]["config"]
        assert ds.compression == "gzip" and ds.compression_opts == 4 and ds.shuffle and ds.dtype == np.int8


def test_float_configurations_take_the_same_path(client, tmp_path):
    # float32 samples (the XY model's cos/sin channels) are byte-shuffled before deflate
    campaign = dict(model="xy", params={}, sizes=[4], temperatures=[0.6, 1.4], n_samples=8, seed=5)
    serial = run_campaign(**campaign, output=tmp_path / "serial.h5", progress=False, map_points=serial_map)
    dist = run_campaign(**campaign, output=tmp_path / "dist.h5", progress=False, map_points=dask_map(client))
    assert_same_content(serial, dist)
    assert stored_chunks(serial) == stored_chunks(dist)
    with h5py.File(dist) as f:
        assert f["L4"]["config"].dtype == np.float32 and f["L4"]["config"].shuffle


def test_cli_on_an_existing_scheduler_writes_the_serial_file(serial_file, client, run_cli, tmp_path):
    out = tmp_path / "sched.h5"
    address = client.scheduler.address
    res = run_cli(
        "simulate", "--L", "4", "6", "--T", "1.6:3.4:5", "--samples", "12", "--seed", "7", "-o", out, "-q", "--scheduler", address
    )
    assert res.returncode == 0, res.stderr
    assert_same_content(serial_file, out)


def test_results_come_back_in_task_order_whatever_finishes_first(client):
    # later tasks finish first (they sleep less), yet the results arrive in task order
    tasks = [_SleepTask(index=i, seconds=0.05 * (5 - i)) for i in range(6)]
    results = list(dask_map(client, function=_sleep_and_report, max_in_flight=3)(tasks))
    assert [r[0] for r in results] == list(range(6))
    assert len({r[1] for r in results}) == 2  # both worker processes did work


def test_killed_worker_is_retried_and_nothing_is_lost_or_duplicated(serial_file, client, tmp_path):
    log = tmp_path / "starts.log"
    pids_before = client.run(os.getpid)
    victims: list[int] = []
    inner = dask_map(client, function=functools.partial(_logged_slow_point, log=str(log)), max_in_flight=4)

    def map_points_killing_a_worker(tasks):
        for n, result in enumerate(inner(tasks)):
            if n == 0:  # first result in: kill a worker that is busy with a task right now
                busy = _wait_for_busy_worker(client)
                victims.append(pids_before[busy])
                os.kill(pids_before[busy], signal.SIGKILL)
            yield result

    out = run_campaign(**CAMPAIGN, output=tmp_path / "killed.h5", progress=False, map_points=map_points_killing_a_worker)
    assert_same_content(serial_file, out)
    starts = [line.split() for line in log.read_text().splitlines()]
    started_on_victim = {key for key, pid in starts if int(pid) == victims[0]}
    finished_elsewhere = {key for key, pid in starts if int(pid) != victims[0]}
    assert started_on_victim & finished_elsewhere, "the killed worker's task was not re-run elsewhere"
    assert set(client.run(os.getpid).values()) != set(pids_before.values())  # the nanny restarted it
    with h5py.File(out) as f:
        for L in (4, 6):
            g = f[f"L{L}"]
            assert g["config"].shape[0] == 5 * 12 and np.all(g["completed"][:] == 1)


def test_unreachable_scheduler_is_one_clear_error():
    with pytest.raises(FieldnetError, match="cannot reach the Dask scheduler"), connect("tcp://127.0.0.1:9", timeout=2):
        pass


def test_scheduler_and_workers_together_are_refused():
    with pytest.raises(FieldnetError, match="either --scheduler"), connect("tcp://127.0.0.1:9", 2):
        pass


# -- instrumented task functions (top level, so worker processes can unpickle them) -------------


class _SleepTask:
    def __init__(self, index: int, seconds: float):
        self.model, self.L, self.index, self.seconds = "sleep", 0, index, seconds

    def __repr__(self) -> str:
        return f"_SleepTask({self.index}, {self.seconds})"


def _sleep_and_report(task: _SleepTask, numba_threads: int) -> tuple[int, int]:
    time.sleep(task.seconds)
    return task.index, os.getpid()


def _logged_slow_point(task, numba_threads: int, log: str = ""):
    """run_point_on_worker, but first note (task key, worker pid) and linger so a kill lands mid-task."""
    with open(log, "a") as fh:
        fh.write(f"{task_key(task)} {os.getpid()}\n")
    time.sleep(0.4)
    return run_point_on_worker(task, numba_threads)


def _wait_for_busy_worker(client, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        busy = [w for w, keys in client.processing().items() if keys]
        if busy:
            return busy[0]
        time.sleep(0.02)
    raise AssertionError("no worker was busy")


def test_missing_dask_is_one_line_naming_the_extra(run_cli, tmp_path):
    # a 'distributed' package that fails to import, first on the path: as if dask were not installed
    fake = tmp_path / "no_dask" / "distributed"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('No module named distributed')\n")
    res = run_cli("simulate", "--L", "4", "--T", "2.0", "--samples", "4", "-q", "-o", tmp_path / "d.h5", "--workers", "2",
                  env={"PYTHONPATH": str(fake.parent)})
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and 'pip install "fieldnet[dist]"' in res.stderr
    assert list(tmp_path.glob("d.h5*")) == []  # refused before any file was started
