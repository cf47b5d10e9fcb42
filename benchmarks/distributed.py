"""Speed-up of a campaign on a local Dask cluster, 1 -> 2 single-threaded worker processes, with the
output checked identical to a serial run.

    python benchmarks/distributed.py                      # L 32 48 64, 16 temperatures, 600 samples
    python benchmarks/distributed.py --L 16 --T 1.5:3.5:8 --samples 200   # quick

Each cluster is started and warmed up (every worker loads the cached numba kernels) before the
campaign is timed, so the figures are campaign throughput; start-up is printed separately.
Absolute times on a shared machine are noisy: read the ratio, and the load average printed
beside it.
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
from fieldnet.simulations.distributed import connect, dask_map  # noqa: E402
from fieldnet.simulations.grids import parse_temperatures  # noqa: E402

VOLATILE_ATTRS = {"created", "command", "_NCProperties", "DIMENSION_LIST", "REFERENCE_LIST"}


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
        if not args.skip_serial:
            _warm_up_worker()
            reference = tmp / "serial.h5"
            seconds = timed_campaign(kwargs, reference, serial_map)
            rows.append(("serial (in process, 1 thread)", 0.0, seconds, "reference"))
        for n in args.workers:
            t0 = time.perf_counter()
            with connect(workers=n) as client:
                client.run(_warm_up_worker)
                startup = time.perf_counter() - t0
                out = tmp / f"workers{n}.h5"
                seconds = timed_campaign(kwargs, out, dask_map(client))
            if reference is None:
                reference = out
                same = "reference"
            else:
                diff = content_differences(reference, out)
                same = "identical" if not diff else f"DIFFERS: {diff[:4]}"
            rows.append((f"dask, {n} worker process{'es' if n > 1 else ''}", startup, seconds, same))
        base = next((r[2] for r in rows if r[0].startswith("dask, 1 ")), rows[0][2])
        print(f"{'run':34s} {'start-up s':>10s} {'campaign s':>10s} {'points/s':>9s} {'speed-up':>8s}  output   (load avg {os.getloadavg()[0]:.1f})")
        for name, startup, seconds, same in rows:
            print(f"{name:34s} {startup:10.2f} {seconds:10.2f} {n_points / seconds:9.2f} {base / seconds:8.2f}x  {same}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
