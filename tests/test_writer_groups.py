"""Group commit: finished points that wait for the single writer are written together with one
flush, and the file is the one writing them one at a time gives (same variables, attributes,
chunks and bytes); a group interrupted part-way leaves its points unmarked, and resuming gives
the uninterrupted file."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import xarray as xr
from fieldnet.simulations import campaign as campaign_module
from fieldnet.simulations.campaign import INTERRUPT_ENV, plan_campaign, run_campaign, serial_map
from fieldnet.simulations.distributed import ResultStream, dask_map, run_point_on_worker
from test_dist_campaign import CAMPAIGN, assert_same_content

from fieldnet.errors import FieldnetError
from fieldnet.io import dataset as dataset_module
from fieldnet.io.atomic import partial_path
from fieldnet.io.dataset import DatasetWriter, LatticeSpec, PointRecord, encode_configs

N_POINTS = len(CAMPAIGN["sizes"]) * len(CAMPAIGN["temperatures"])


def stored(path: Path) -> dict[str, object]:
    """What the file stores, beyond :func:`assert_same_content`'s values: every dataset's layout
    (shape, maxshape, chunks, filters, fill value) and the raw bytes of every compressed chunk."""
    out: dict[str, object] = {}
    with h5py.File(path, "r") as f:

        def visit(name: str, obj) -> None:
            if isinstance(obj, h5py.Dataset):
                plist = obj.id.get_create_plist()
                filters = [plist.get_filter(i)[:3] for i in range(plist.get_nfilters())]
                out[name] = (obj.shape, obj.maxshape, obj.chunks, obj.dtype.str, repr(obj.fillvalue), plist.get_layout(), filters)
                if obj.compression:
                    offsets = [obj.id.get_chunk_info(i).chunk_offset for i in range(obj.id.get_num_chunks())]
                    out[f"{name} chunks"] = [(o, obj.id.read_direct_chunk(o)) for o in offsets]

        f.visititems(visit)
    return out


def assert_same_file(a: Path, b: Path) -> None:
    assert_same_content(a, b)
    assert stored(a) == stored(b)


def all_waiting(tasks):
    """``map_points`` as a cluster's when the writer is the bottleneck: every result (compressed by
    its worker) is already waiting, and the stream says so."""
    results = [run_point_on_worker(task) for task in tasks]
    taken = [0]

    def each():
        for i, result in enumerate(results):
            taken[0] = i + 1
            yield result

    return ResultStream(each(), lambda: len(results) - taken[0])


@pytest.fixture(scope="module")
def serial_file(tmp_path_factory) -> Path:
    return run_campaign(**CAMPAIGN, output=tmp_path_factory.mktemp("serial") / "serial.h5", progress=False, map_points=serial_map)


@pytest.fixture
def group_sizes(monkeypatch):
    """The sizes of the groups the campaign's writer is handed (recorded while the test runs)."""
    sizes: list[int] = []
    original = DatasetWriter.write_points

    def write_points(self, points):
        points = list(points)
        sizes.append(len(points))
        return original(self, points)

    monkeypatch.setattr(DatasetWriter, "write_points", write_points)
    return sizes


# -- the writer --------------------------------------------------------------------------------

def _spec(L: int, n: int, temperatures: np.ndarray) -> LatticeSpec:
    return LatticeSpec(L=L, ndim=2, channel_names=["spin"], dtype="int8", temperatures=temperatures,
                       samples_per_temperature=n, observables=("energy", "magnetization"),
                       point_stats=("tau_int_energy", "thinning"), attrs={"model": "ising2d"})


def _records(n: int, sizes=(4, 6), n_points: int = 4, encoded: bool = True) -> list[PointRecord]:
    rng = np.random.default_rng(5)
    records = []
    for L in sizes:
        for p in range(n_points):
            configs = rng.choice(np.array([-1, 1], np.int8), size=(n, 1, L, L))
            obs = {"energy": rng.normal(size=n), "magnetization": configs.reshape(n, -1).mean(1)}
            label = int(p < 2) if L == sizes[0] else (rng.integers(-1, 2, size=n)).astype(np.int8)  # per point or per sample
            # a record a point does not give stays NaN (here point 1 of the first size gives no thinning)
            stats = {"tau_int_energy": 0.5 + p, **({} if (L, p) == (sizes[0], 1) else {"thinning": float(L)})}
            records.append(PointRecord(L, p, encode_configs(configs, "int8") if encoded else configs, obs, label, stats))
    return records


def _write_file(path: Path, records: list[PointRecord], groups: list[int], n: int, sizes=(4, 6), n_points: int = 4) -> Path:
    temperatures = np.linspace(1.5, 3.5, n_points)
    with DatasetWriter(path, {"model": "ising2d", "seed": 0, "lattice_sizes": list(sizes)}) as w:
        for L in sizes:
            w.add_lattice(_spec(L, n, temperatures))
        i = 0
        for size in groups:
            w.write_points(records[i : i + size])
            i += size
        assert i == len(records)
        return w.finalize()


@pytest.mark.parametrize("groups", [[8], [3, 3, 2], [4, 4], [1, 5, 2]], ids=["one group", "across sizes", "by size", "uneven"])
@pytest.mark.parametrize("encoded", [True, False], ids=["workers compress", "writer compresses"])
def test_grouped_points_give_the_one_point_at_a_time_file(tmp_path, groups, encoded):
    records = _records(12, encoded=encoded)
    one_at_a_time = _write_file(tmp_path / "single.h5", records, [1] * len(records), 12)
    grouped = _write_file(tmp_path / "grouped.h5", records, groups, 12)
    assert_same_file(one_at_a_time, grouped)
    tree = xr.open_datatree(grouped, engine="h5netcdf")
    assert tree["L6"].to_dataset().sizes["sample"] == 4 * 12
    np.testing.assert_array_equal(tree["L4"]["completed"].values, 1)


def test_chunks_straddling_points_in_one_group(tmp_path):
    # a prime sample count: config chunks hold the end of one point and the start of the next
    n = 1031
    assert dataset_module.config_chunk_samples(n, (1, 8, 8), "int8") < n
    records = _records(n, sizes=(8,), n_points=3, encoded=True)
    assert not isinstance(records[0].configs, dataset_module.EncodedConfigs)
    one_at_a_time = _write_file(tmp_path / "single.h5", records, [1, 1, 1], n, sizes=(8,), n_points=3)
    grouped = _write_file(tmp_path / "grouped.h5", records, [3], n, sizes=(8,), n_points=3)
    assert_same_content(one_at_a_time, grouped)
    with h5py.File(grouped) as f:
        np.testing.assert_array_equal(f["L8/config"][()], np.concatenate([r.configs for r in records]))


def test_a_group_out_of_order_or_malformed_writes_nothing(tmp_path):
    records = _records(12)
    temperatures = np.linspace(1.5, 3.5, 4)
    with DatasetWriter(tmp_path / "d.h5", {"model": "ising2d", "seed": 0, "lattice_sizes": [4, 6]}) as w:
        for L in (4, 6):
            w.add_lattice(_spec(L, 12, temperatures))
        w.write_points(records[:1])
        with pytest.raises(RuntimeError, match="expected point 2, got 3"):
            w.write_points([records[1], records[3]])
        with pytest.raises(KeyError):
            w.write_points([records[1], records[2]._replace(observables={"energy": np.zeros(12)})])
        with pytest.raises(ValueError):
            w.write_points([records[1], records[2]._replace(observables={"energy": np.zeros(5), "magnetization": np.zeros(12)})])
        with pytest.raises(KeyError, match="no per-temperature record"):
            w.write_points([records[1]._replace(stats={"tau_int_magnetization": 1.0})])
        assert w.completed_points(4) == 1
        w.write_points(records[1:])  # the rejected groups left nothing behind
        w.finalize()
    assert_same_file(_write_file(tmp_path / "single.h5", records, [1] * len(records), 12), tmp_path / "d.h5")


def test_completed_flags_are_written_after_their_group_is_flushed(tmp_path, monkeypatch):
    events: list[str] = []
    original_flush, original_write, original_configs = h5py.File.flush, dataset_module._Rows.write, dataset_module._write_configs

    def flush(self):
        events.append("flush")
        return original_flush(self)

    def write(self, start, values):
        events.append("completed" if h5py.h5i.get_name(self.dsid).endswith(b"/completed") else "rows")
        return original_write(self, start, values)

    def write_configs(*args, **kwargs):
        events.append("configs")
        return original_configs(*args, **kwargs)

    records = _records(12)
    temperatures = np.linspace(1.5, 3.5, 4)
    with DatasetWriter(tmp_path / "d.h5", {"model": "ising2d", "seed": 0, "lattice_sizes": [4, 6]}) as w:
        for L in (4, 6):
            w.add_lattice(_spec(L, 12, temperatures))
        w.write_points(records[:2])
        monkeypatch.setattr(h5py.File, "flush", flush)
        monkeypatch.setattr(dataset_module._Rows, "write", write)
        monkeypatch.setattr(dataset_module, "_write_configs", write_configs)
        w.write_points(records[2:6])  # the last two points of L=4 and the first two of L=6
        w.finalize()
    # all the samples and records, one flush, then the flags (one write per lattice size), one flush
    assert events.count("configs") == 4
    assert events[events.index("flush"):] == ["flush", "completed", "completed", "flush"]
    assert set(events[: events.index("flush")]) == {"configs", "rows"}


# -- campaigns ---------------------------------------------------------------------------------

def test_campaign_writes_waiting_results_in_groups(serial_file, tmp_path, group_sizes, monkeypatch):
    monkeypatch.setattr(campaign_module, "MAX_GROUP_POINTS", 4)
    out = run_campaign(**CAMPAIGN, output=tmp_path / "grouped.h5", progress=False, map_points=all_waiting)
    assert group_sizes == [4, 4, 2]
    assert_same_content(serial_file, out)
    ungrouped = run_campaign(**CAMPAIGN, output=tmp_path / "one_at_a_time.h5", progress=False,
                             map_points=lambda tasks: iter(list(all_waiting(tasks))))  # no ready(): one point at a time
    assert group_sizes[3:] == [1] * N_POINTS
    assert_same_file(ungrouped, out)


def test_groups_are_bounded_by_the_bytes_of_their_samples(tmp_path, group_sizes, monkeypatch):
    # points of 12 * 4 * 4 and 12 * 6 * 6 bytes: no point joins a group that holds 432 bytes
    monkeypatch.setattr(campaign_module, "MAX_GROUP_BYTES", 12 * 6 * 6)
    run_campaign(**CAMPAIGN, output=tmp_path / "grouped.h5", progress=False, map_points=all_waiting)
    assert group_sizes == [3, 3, 1, 1, 1, 1]


def test_ctrl_c_hook_stops_after_exactly_its_points_with_groups(serial_file, tmp_path, monkeypatch):
    monkeypatch.setenv(INTERRUPT_ENV, "3")
    out = tmp_path / "cut.h5"
    with pytest.raises(KeyboardInterrupt):
        run_campaign(**CAMPAIGN, output=out, progress=False, map_points=all_waiting)
    with h5py.File(partial_path(out), "r") as f:
        assert sum(int(f[g]["completed"][:].sum()) for g in ("L4", "L6")) == 3
    monkeypatch.delenv(INTERRUPT_ENV)
    run_campaign(**CAMPAIGN, output=out, progress=False, resume=True, map_points=all_waiting)
    assert_same_content(serial_file, out)


def test_a_group_failing_part_way_leaves_its_points_unmarked_and_resumes(serial_file, tmp_path, monkeypatch):
    monkeypatch.setattr(campaign_module, "MAX_GROUP_POINTS", 4)
    original = dataset_module._write_configs
    calls = [0]

    def failing(*args, **kwargs):  # the disk fills up while the second group's samples are written
        calls[0] += 1
        if calls[0] == 6:
            raise OSError(28, "No space left on device")
        return original(*args, **kwargs)

    monkeypatch.setattr(dataset_module, "_write_configs", failing)
    out = tmp_path / "failed.h5"
    with pytest.raises(FieldnetError, match="no space left"):
        run_campaign(**CAMPAIGN, output=out, progress=False, map_points=all_waiting)
    with h5py.File(partial_path(out), "r") as f:
        marks = np.concatenate([f["L4"]["completed"][:], f["L6"]["completed"][:]])
    np.testing.assert_array_equal(marks, [1] * 4 + [0] * (N_POINTS - 4))  # the first group only
    monkeypatch.setattr(dataset_module, "_write_configs", original)
    run_campaign(**CAMPAIGN, output=out, progress=False, resume=True, map_points=all_waiting)
    assert_same_content(serial_file, out)


# a campaign in a child process that dies (os._exit: no clean-up, no HDF5 close, like kill -9)
# inside its second group of 4 points
_KILLED_CHILD = textwrap.dedent("""
    import os, sys
    import numpy as np
    from fieldnet.simulations import campaign
    from fieldnet.io import dataset
    sys.path.insert(0, {tests!r})
    from test_writer_groups import all_waiting
    from test_dist_campaign import CAMPAIGN

    campaign.MAX_GROUP_POINTS = 4
    where = {where!r}
    if where == "samples":  # the second group's fifth point is being written
        original = dataset._write_configs
        calls = [0]
        def write_configs(*args, **kwargs):
            calls[0] += 1
            if calls[0] == 7:
                os._exit(9)
            return original(*args, **kwargs)
        dataset._write_configs = write_configs
    else:  # the second group's samples are written and flushed, its completed flags not yet
        original = dataset._GroupHandles.rows
        calls = [0]
        def rows(self, name):
            if name == "completed":
                calls[0] += 1
                if calls[0] == 2:
                    os._exit(9)
            return original(self, name)
        dataset._GroupHandles.rows = rows
    campaign.run_campaign(**CAMPAIGN, output={out!r}, progress=False, map_points=all_waiting)
""")


@pytest.mark.parametrize("where", ["samples", "flags"], ids=["while writing samples", "before marking completed"])
def test_killed_in_the_middle_of_a_group_resumes_to_the_uninterrupted_file(serial_file, tmp_path, where):
    out = tmp_path / "killed.h5"
    script = _KILLED_CHILD.format(tests=str(Path(__file__).parent), where=where, out=str(out))
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert res.returncode == 9, res.stderr
    assert not out.exists() and partial_path(out).exists()
    with h5py.File(partial_path(out), "r", locking=False) as f:
        marks = np.concatenate([f["L4"]["completed"][:], f["L6"]["completed"][:]])
    # only the first group is marked completed: the second one's flags come after its data
    np.testing.assert_array_equal(marks, [1] * 4 + [0] * (N_POINTS - 4))
    run_campaign(**CAMPAIGN, output=out, progress=False, resume=True, map_points=all_waiting)
    assert_same_content(serial_file, out)


# -- the cluster's results -------------------------------------------------------------------

def _quick(task, numba_threads):
    return task.index


def test_dask_results_say_how_many_are_waiting_and_are_fetched_together():
    distributed = pytest.importorskip("distributed")
    tasks = plan_campaign(**{k: CAMPAIGN[k] for k in ("model", "params", "sizes", "temperatures")},
                          n_samples=CAMPAIGN["n_samples"], algorithm="auto", seed=CAMPAIGN["seed"])
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster, \
            distributed.Client(cluster, set_as_default=False) as client:
        fetches: list[int] = []
        gather = client.gather

        def counted_gather(futures, *args, **kwargs):
            fetches.append(len(futures))
            return gather(futures, *args, **kwargs)

        client.gather = counted_gather
        stream = dask_map(client, function=_quick, max_in_flight=len(tasks), fetch_together=4)(tasks)
        assert stream.ready() == 0  # nothing submitted yet
        assert next(stream) == 0
        deadline = time.monotonic() + 30
        while stream.ready() < len(tasks) - 1:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert next(stream) == 1 and stream.ready() == len(tasks) - 2  # 2, 3, 4 were fetched with 1
        assert list(stream) == [t.index for t in tasks[2:]]
        assert stream.ready() == 0
        # the first on its own (nothing else had finished, or some had: at most 4), then 4 at a time
        assert sum(fetches) == len(tasks) and max(fetches) <= 4 and len(fetches) <= 1 + -(-(len(tasks) - 1) // 4)
