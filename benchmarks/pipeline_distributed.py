"""Wall time of a whole `fieldnet pipeline` run serially and on 1 and 2 local Dask workers, side by
side, with the speed-up and a check that every run wrote the serial run's results.

    python benchmarks/pipeline_distributed.py                     # the built-in default study
    python benchmarks/pipeline_distributed.py --config small.toml --workers 1 2 4

Each run is the command line a user types (``fieldnet pipeline [CONFIG] -o DIR -q [--workers N]``),
so the wall time includes starting Python, the cluster and its workers (each loads the cached
numba kernels).  The serial run uses this process's numba threads (NUMBA_NUM_THREADS or all
cores); each Dask worker is one process with one thread.  A small pipeline runs first, untimed, so
every run starts from a warm kernel cache.  Absolute times on a shared machine are noisy: read the
ratios, and the load averages printed before and after.
"""

from __future__ import annotations

import os
import sys

# this file's folder holds benchmarks/distributed.py, which would shadow the dask.distributed
# package for this process and for the worker processes it spawns (they inherit sys.path)
sys.path = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import h5py  # noqa: E402
import numpy as np  # noqa: E402

WARM_UP = """
[simulate]
L = [4, 8]
T = "1.4:3.6:5"
scan_samples = 12
zoom_points = 5
samples = 12
[train]
ensemble = 1
shifts = [0.0]
epochs = 1
[analysis]
bootstrap = 2
"""


def fieldnet() -> list[str]:
    exe = shutil.which("fieldnet", path=str(Path(sys.executable).parent)) or shutil.which("fieldnet")
    return [exe] if exe else [sys.executable, "-m", "fieldnet"]


def run(config: str | None, folder: Path, *extra: str) -> float:
    """Wall seconds of one pipeline run into ``folder``."""
    args = [*fieldnet(), "pipeline", *([config] if config else []), "-o", str(folder), "-q", *extra]
    start = time.perf_counter()
    res = subprocess.run(args, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{res.stderr}")
    return seconds


def results(folder: Path) -> dict[str, object]:
    """What a run measured: model weights, predictions, the summary without timings (paths as <run>)."""
    out: dict[str, object] = {}
    for path in sorted(folder.glob("model_*.h5")):
        with h5py.File(path, "r") as f:
            f["weights"].visititems(lambda name, obj, p=path: out.__setitem__(f"{p.name}/{name}", obj[()])
                                    if isinstance(obj, h5py.Dataset) else None)
    for path in sorted(folder.glob("predictions_*.nc")):
        with h5py.File(path, "r") as f:
            for name in ("probability", "blocked_probability", "member_probability", "member_blocked_probability"):
                if name in f:
                    out[f"{path.name}/{name}"] = f[name][()]
    summary = json.loads((folder / "summary.json").read_text())
    summary.pop("timings_seconds", None)
    for history in summary.get("training", {}).values():
        history.pop("seconds", None)
    out["summary"] = json.dumps(summary, sort_keys=True).replace(str(folder.resolve()), "<run>")
    return out


def same(a: dict[str, object], b: dict[str, object]) -> bool:
    return sorted(a) == sorted(b) and all(
        a[k] == b[k] if isinstance(a[k], str) else np.array_equal(a[k], b[k], equal_nan=True) for k in a)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=None, help="pipeline TOML (default: the built-in default study)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="local worker counts (default: 1 2)")
    args = parser.parse_args(argv)
    config = str(Path(args.config).resolve()) if args.config else None
    threads = os.environ.get("NUMBA_NUM_THREADS", str(os.cpu_count()))
    print(f"pipeline: {args.config or 'built-in default'}; {os.cpu_count()} CPUs; serial run with {threads} numba threads")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "warm.toml").write_text(WARM_UP)
        run(str(tmp / "warm.toml"), tmp / "warm")
        load_before = os.getloadavg()
        rows = [("serial", run(config, tmp / "serial"), tmp / "serial")]
        for n in args.workers:
            folder = tmp / f"workers{n}"
            rows.append((f"{n} Dask worker{'s' if n > 1 else ''}", run(config, folder, "--workers", str(n)), folder))
        load_after = os.getloadavg()
        reference = results(tmp / "serial")
        one = next((s for name, s, _ in rows if name == "1 Dask worker"), None)
        print(f"{'run':16s} {'wall s':>8s} {'scan':>6s} {'sim':>6s} {'train':>6s} {'predict':>7s} {'analysis':>8s} "
              f"{'vs serial':>9s} {'vs 1 worker':>11s}  results")
        for name, seconds, folder in rows:
            t = json.loads((folder / "summary.json").read_text())["timings_seconds"]
            stages = " ".join(f"{t.get(k, float('nan')):{w}.1f}" for k, w in
                              (("scan", 6), ("simulate", 6), ("train", 6), ("predict", 7), ("analysis", 8)))
            vs_one = f"{one / seconds:10.2f}x" if one else f"{'-':>11s}"
            verdict = "reference" if name == "serial" else ("identical" if same(reference, results(folder)) else "DIFFER")
            print(f"{name:16s} {seconds:8.1f} {stages} {rows[0][1] / seconds:8.2f}x {vs_one}  {verdict}")
        print(f"load average (1 min) {load_before[0]:.1f} before, {load_after[0]:.1f} after")
    return 0


if __name__ == "__main__":
    sys.exit(main())
