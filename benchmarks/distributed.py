"""Speed-up of a campaign on a local Dask cluster, 1 -> 2 single-threaded worker processes, with the
output checked identical to a serial run; and how many workers the single writer can keep up with.

    python benchmarks/distributed.py                      # L 32 48 64, 16 temperatures, 600 samples
    python benchmarks/distributed.py --L 16 --T 1.5:3.5:8 --samples 200   # quick

Writer and workers are measured in one in-process serial campaign: each point is produced as a
worker produces it (simulation, then compression of its chunks; one thread) and written by the
campaign's writer, and both are timed point by point.  The writer's throughput is the megabytes
of samples (uncompressed) it stores per second of its own time; a worker's production rate is
the megabytes it produces per second; their ratio is the number of workers at which the writer
would be busy all the time (beyond it, more workers add nothing).  The writer is timed twice:
taking each point as it comes (one flush per point), and with the same results all waiting, as
it finds them once it is the bottleneck, when the campaign writes the waiting points in groups
(one flush per group; the file is checked identical).  The same figure is printed for a writer
that compresses the samples itself, as it did before workers compressed.  Storing is not all the
writer's process does: it also takes each result from the cluster (a request through the
client, the scheduler and a worker).  That is timed on the same results on 2 local workers, once
all have finished, and the last saturation figure counts it too; on a machine with few cores the
local workers and scheduler compete with the writer for them, so it errs high.

Each cluster is started and warmed up (every worker loads the cached numba kernels) before the
campaign is timed, so the figures are campaign throughput; start-up is printed separately, and
so is the share of the campaign's time the writer was busy.  Absolute times on a shared machine
are noisy: read the ratios, and the load average printed beside them.  Where the kernel shares
the processors between login sessions (sched_autogroup), a benchmark's processes together get
one session's share of a busy machine, so more workers cannot show a speed-up there.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("NUMBA_NUM_THREADS", "1")  # the serial reference uses one core, like one worker
# this file's folder is sys.path[0] and this file is named like the dask.distributed package:
# drop the folder so that `import distributed` finds the package
sys.path = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

import argparse  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import h5py  # noqa: E402
import numpy as np  # noqa: E402
from fieldnet.simulations.campaign import (  # noqa: E402
    PointTask,
    full_params,
    run_campaign,
    run_point,
    serial_map,
)
from fieldnet.simulations.distributed import ResultStream, connect, dask_map, run_point_on_worker  # noqa: E402
from fieldnet.simulations.grids import parse_temperatures  # noqa: E402

from fieldnet.io.dataset import DatasetWriter  # noqa: E402

VOLATILE_ATTRS = {"created", "command", "history", "_NCProperties", "DIMENSION_LIST", "REFERENCE_LIST"}


def content_differences(a: Path, b: Path) -> list[str]:
    """Names of variables/attributes that differ between two data files (provenance excluded)."""

    def walk(path: Path) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        with h5py.File(path, "r") as f:

            def visit(name: str, obj) -> None:
                for key, value in obj.attrs.items():
                    if key not in VOLATILE_ATTRS:
                        out[f"{name}@{key}"] = np.asarray(value)
                if isinstance(obj, h5py.Dataset):
                    out[name] = obj[()]

            visit("/", f)
            f.visititems(visit)
        return out

    ca, cb = walk(a), walk(b)
    differ = sorted(set(ca) ^ set(cb))
    for key in sorted(set(ca) & set(cb)):
        x, y = ca[key], cb[key]
        if not np.array_equal(x, y, equal_nan=x.dtype.kind == "f" and y.dtype.kind == "f"):
            differ.append(key)
    return differ


def _warm_up_worker() -> None:
    """Load the numba kernels in a worker (a tiny point) so timing starts warm."""
    task = PointTask("ising2d", full_params("ising2d", {}), 4, 2.0, 0, 2, "auto", 0)
    run_point(task)


class WriterClock:
    """Times DatasetWriter.write_points (the single writer's own work per point or group of
    points; write_point goes through it too) while installed."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.raw_bytes = 0
        self.stored_bytes = 0
        self.points = 0
        self.groups = 0

    def __enter__(self) -> WriterClock:
        original = self.original = DatasetWriter.write_points
        clock = self

        def write_points(writer, points, *args, **kwargs):
            points = list(points)
            t0 = time.perf_counter()
            original(writer, points, *args, **kwargs)
            clock.seconds += time.perf_counter() - t0
            clock.points += len(points)
            clock.groups += 1
            for point in points:
                clock.raw_bytes += point.configs.nbytes
                clock.stored_bytes += getattr(point.configs, "compressed_nbytes", 0)

        DatasetWriter.write_points = write_points
        return self

    def __exit__(self, *exc: object) -> None:
        DatasetWriter.write_points = self.original


def all_waiting(results: list):
    """A ``map_points`` handing out ``results`` (already produced) with every one of them waiting,
    as a writer finds them when it is the bottleneck: the campaign writes them in groups."""

    def map_points(tasks):
        assert len(tasks) == len(results)
        position = [0]

        def each():
            for i, result in enumerate(results):
                position[0] = i + 1
                yield result

        return ResultStream(each(), lambda: len(results) - position[0])

    return map_points


def _stored_result(folder: str, task, numba_threads: int):
    """A worker's result read back from ``folder`` (as the worker produced it, compressed)."""
    import pickle

    with open(os.path.join(folder, f"{task.L}_{task.index}.pkl"), "rb") as f:
        return pickle.load(f)


def taking_time(client, tasks: list, folder: Path, fetch_together: int) -> float:
    """Seconds of the writer's process per point to take results that have all finished from the
    cluster (``dask_map``, fetching ``fetch_together`` finished results per request)."""
    import functools

    stream = dask_map(client, function=functools.partial(_stored_result, str(folder)), max_in_flight=len(tasks),
                      fetch_together=fetch_together)(tasks)
    next(stream)
    while stream.ready() < len(tasks) - 1:
        time.sleep(0.01)
    t0 = time.perf_counter()
    taken = sum(1 for _ in stream)
    return (time.perf_counter() - t0) / taken


def writer_and_worker_rates(kwargs: dict, tmp: Path, rounds: int) -> None:
    """Print the writer's throughput, a worker's production rate and the writer's saturation point."""
    import pickle

    produced = {"seconds": 0.0, "bytes": 0, "points": 0}
    results = []
    tasks = []

    def as_a_worker(pending):
        for task in pending:
            t0 = time.perf_counter()
            result = run_point_on_worker(task)
            produced["seconds"] += time.perf_counter() - t0
            produced["bytes"] += result.configs.nbytes
            produced["points"] += 1
            results.append(result)
            tasks.append(task)
            yield result

    with WriterClock() as ours:
        run_campaign(**kwargs, output=tmp / "rates.h5", progress=False, map_points=as_a_worker)
    with WriterClock() as grouped:
        run_campaign(**kwargs, output=tmp / "rates_grouped.h5", progress=False, map_points=all_waiting(results))
    with WriterClock() as before:
        run_campaign(**kwargs, output=tmp / "rates_before.h5", progress=False, map_points=serial_map)
    diff = content_differences(tmp / "rates.h5", tmp / "rates_grouped.h5")
    # the same results taken from a local cluster's workers, once all have finished, alternating
    # between fetching the finished ones together and one request per point
    folder = tmp / "results"
    folder.mkdir()
    for task, result in zip(tasks, results, strict=True):
        with open(folder / f"{task.L}_{task.index}.pkl", "wb") as f:
            pickle.dump(result, f)
    taking: dict[int, list[float]] = {16: [], 1: []}
    with connect(workers=2) as client:
        for _ in range(rounds):
            for together in taking:
                taking[together].append(taking_time(client, tasks, folder, together))
    take, take_single = (float(np.median(taking[k])) for k in (16, 1))
    mb = 1e6
    worker = produced["bytes"] / produced["seconds"] / mb
    point_mb = ours.raw_bytes / ours.points / mb
    store, store_grouped, store_before = (c.seconds / c.points for c in (ours, grouped, before))
    print(f"worker (1 thread): {produced['points'] / produced['seconds']:.2f} points/s, {worker:.2f} MB/s of samples "
          f"(simulated and compressed; {point_mb:.2f} MB a point)")
    print("writer's own time per point (storing it):")
    print(f"  workers compress, one point at a time: {1e3 * store:6.2f} ms, {point_mb / store:7.1f} MB/s of samples "
          f"({ours.stored_bytes / ours.seconds / mb:.1f} MB/s stored)")
    print(f"  workers compress, results waiting:     {1e3 * store_grouped:6.2f} ms, {point_mb / store_grouped:7.1f} MB/s "
          f"(groups of {grouped.points / grouped.groups:.1f} points; file {'identical' if not diff else f'DIFFERS: {diff[:4]}'})")
    print(f"  writer compressing itself:             {1e3 * store_before:6.2f} ms, {point_mb / store_before:7.1f} MB/s")
    print(f"writer's process taking a finished result from 2 local workers: {1e3 * take:.2f} ms per point "
          f"(one request per point: {1e3 * take_single:.2f} ms; median of {rounds})")
    print(f"writer saturates at {point_mb / store / worker:.0f} workers storing one point at a time, "
          f"{point_mb / store_grouped / worker:.0f} storing waiting results in groups as when saturated "
          f"(a writer that compresses: {point_mb / store_before / worker:.0f}); "
          f"taking them from the cluster too: {point_mb / (store_grouped + take) / worker:.0f}; "
          f"load average {os.getloadavg()[0]:.1f}")


def timed_campaign(kwargs: dict, output: Path, map_points) -> float:
    start = time.perf_counter()
    run_campaign(**kwargs, output=output, progress=False, map_points=map_points)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--L", type=int, nargs="+", default=[32, 48, 64])
    parser.add_argument("--T", default="1.5:3.5:16")
    parser.add_argument("--samples", type=int, default=600)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--skip-serial", action="store_true", help="no in-process serial reference run")
    parser.add_argument("--skip-rates", action="store_true", help="no writer/worker throughput measurement")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of the Dask runs (median)")
    args = parser.parse_args(argv)
    kwargs = dict(
        model="ising2d", params={}, sizes=args.L, temperatures=parse_temperatures([args.T]), n_samples=args.samples, seed=args.seed
    )
    n_points = len(args.L) * len(kwargs["temperatures"])
    print(f"campaign: ising2d L={args.L} T={args.T} samples={args.samples} -> {n_points} points; {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        rows = []
        reference = None
        _warm_up_worker()
        if not args.skip_rates:
            writer_and_worker_rates(kwargs, tmp, max(1, args.rounds))
        if not args.skip_serial:
            reference = tmp / "serial.h5"
            seconds = timed_campaign(kwargs, reference, serial_map)
            rows.append(("serial (in process, 1 thread)", 0.0, seconds, "reference"))
        # alternate the worker counts round by round, so load from other jobs hits them alike
        timings: dict[int, list[tuple[float, float]]] = {n: [] for n in args.workers}
        for r in range(args.rounds):
            for n in args.workers:
                t0 = time.perf_counter()
                with connect(workers=n) as client:
                    client.run(_warm_up_worker)
                    startup = time.perf_counter() - t0
                    out = tmp / f"workers{n}_round{r}.h5"
                    with WriterClock() as clock:
                        seconds = timed_campaign(kwargs, out, dask_map(client))
                if reference is None:
                    reference = out
                    same = "reference"
                else:
                    diff = content_differences(reference, out)
                    same = "identical" if not diff else f"DIFFERS: {diff[:4]}"
                    out.unlink()
                timings[n].append((startup, seconds, clock.seconds / seconds))
                if r == args.rounds - 1:
                    startup, seconds, busy = (float(np.median(v)) for v in zip(*timings[n], strict=True))
                    rows.append((f"dask, {n} worker process{'es' if n > 1 else ''}", startup, seconds, f"{same}, writer busy {busy:.0%}"))
        if not rows:
            return 0
        base = next((r[2] for r in rows if r[0].startswith("dask, 1 ")), rows[0][2])
        print(f"campaign seconds: median of {args.rounds} alternating round(s)")
        print(f"{'run':34s} {'start-up s':>10s} {'campaign s':>10s} {'points/s':>9s} {'speed-up':>8s}  output   (load avg {os.getloadavg()[0]:.1f})")
        for name, startup, seconds, same in rows:
            print(f"{name:34s} {startup:10.2f} {seconds:10.2f} {n_points / seconds:9.2f} {base / seconds:8.2f}x  {same}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
