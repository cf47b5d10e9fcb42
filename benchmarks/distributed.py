"""Speed-up of a campaign on a local Dask cluster, 1 -> 2 single-threaded worker processes, with the
output checked identical to a serial run; and how many workers the single writer can keep up with.

    python benchmarks/distributed.py                      # L 32 48 64, 16 temperatures, 600 samples
    python benchmarks/distributed.py --L 16 --T 1.5:3.5:8 --samples 200   # quick

Writer and workers are measured in one in-process serial campaign: each point is produced as a
worker produces it (simulation, then compression of its chunks; one thread) and written by the
campaign's writer, and both are timed point by point.  The writer's throughput is the megabytes
of samples (uncompressed) it stores per second of its own time; a worker's production rate is
the megabytes it produces per second; their ratio is the number of workers at which the writer
would be busy all the time (beyond it, more workers add nothing).  The same figure is printed
for a writer that compresses the samples itself, as it did before workers compressed.

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
from fieldnet.simulations.distributed import connect, dask_map, run_point_on_worker  # noqa: E402
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
    """Times DatasetWriter.write_point (the single writer's own work per point) while installed."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.raw_bytes = 0
        self.stored_bytes = 0

    def __enter__(self) -> WriterClock:
        original = self.original = DatasetWriter.write_point
        clock = self

        def write_point(writer, L, point, configs, *args, **kwargs):
            t0 = time.perf_counter()
            original(writer, L, point, configs, *args, **kwargs)
            clock.seconds += time.perf_counter() - t0
            clock.raw_bytes += configs.nbytes
            clock.stored_bytes += getattr(configs, "compressed_nbytes", 0)

        DatasetWriter.write_point = write_point
        return self

    def __exit__(self, *exc: object) -> None:
        DatasetWriter.write_point = self.original


def writer_and_worker_rates(kwargs: dict, tmp: Path) -> None:
    """Print the writer's throughput, a worker's production rate and the writer's saturation point."""
    produced = {"seconds": 0.0, "bytes": 0, "points": 0}

    def as_a_worker(tasks):
        for task in tasks:
            t0 = time.perf_counter()
            result = run_point_on_worker(task)
            produced["seconds"] += time.perf_counter() - t0
            produced["bytes"] += result.configs.nbytes
            produced["points"] += 1
            yield result

    with WriterClock() as ours:
        run_campaign(**kwargs, output=tmp / "rates.h5", progress=False, map_points=as_a_worker)
    with WriterClock() as before:
        run_campaign(**kwargs, output=tmp / "rates_before.h5", progress=False, map_points=serial_map)
    mb = 1e6
    worker = produced["bytes"] / produced["seconds"] / mb
    writer = ours.raw_bytes / ours.seconds / mb
    writer_before = before.raw_bytes / before.seconds / mb
    print(f"worker (1 thread): {produced['points'] / produced['seconds']:.2f} points/s, {worker:.2f} MB/s of samples "
          "(simulated and compressed)")
    print(f"writer, workers compress:  {writer:8.1f} MB/s of samples ({ours.stored_bytes / ours.seconds / mb:.1f} MB/s stored), "
          f"{1e3 * ours.seconds / produced['points']:.1f} ms per point")
    print(f"writer compressing itself: {writer_before:8.1f} MB/s of samples, {1e3 * before.seconds / produced['points']:.1f} ms per point")
    print(f"writer saturates at {writer / worker:.0f} workers (a writer that compresses: {writer_before / worker:.0f}); "
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
            writer_and_worker_rates(kwargs, tmp)
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
        base = next((r[2] for r in rows if r[0].startswith("dask, 1 ")), rows[0][2])
        print(f"campaign seconds: median of {args.rounds} alternating round(s)")
        print(f"{'run':34s} {'start-up s':>10s} {'campaign s':>10s} {'points/s':>9s} {'speed-up':>8s}  output   (load avg {os.getloadavg()[0]:.1f})")
        for name, startup, seconds, same in rows:
            print(f"{name:34s} {startup:10.2f} {seconds:10.2f} {n_points / seconds:9.2f} {base / seconds:8.2f}x  {same}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
