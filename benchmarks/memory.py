"""Peak memory (RSS) while streaming data files of increasing size: it should stay flat.

    python benchmarks/memory.py                       # 0.25, 1 and 4 GB of configurations
    python benchmarks/memory.py --sizes-gb 0.1 0.4    # quick

For each size a synthetic data file (2D Ising-like int8 spins, L=64, two classes of temperatures,
written with fieldnet's DatasetWriter: chunked and compressed) is generated once into
``--workdir`` (default: a temporary folder; the disk must hold them: check ``df -h``).  Each
measured job runs in its own child process; its peak RSS comes from ``os.wait4`` (the kernel's
``ru_maxrss`` of exactly that child).  Jobs:

- ``reduce``: ``fieldnet.open_dataset(path)["config"].mean()`` computed by dask, chunk by chunk;
- ``train``: ``fieldnet train`` streaming chunk-shuffled batches for ``--train-seconds`` (or one
  epoch, whichever ends first).

The table prints the peak RSS per job and size and the ratio largest/smallest; flat means the
job's memory does not grow with the file.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

L = 64
TEMPERATURES = np.array([1.8, 2.0, 2.6, 2.8])  # two below, two above Tc = 2.269


def generate(path: Path, gigabytes: float, seed: int = 0) -> Path:
    """A data file holding about ``gigabytes`` GB of int8 configurations (uncompressed)."""
    from fieldnet.io.dataset import DatasetWriter, LatticeSpec

    if path.exists():
        return path
    per_point = max(1, int(gigabytes * 1e9 / (L * L) / len(TEMPERATURES)))
    rng = np.random.default_rng(seed)
    spec = LatticeSpec(L=L, ndim=2, channel_names=("spin",), dtype="int8", temperatures=TEMPERATURES, samples_per_temperature=per_point)
    block = 4096  # samples generated at a time: memory stays small while writing large files
    with DatasetWriter(path, {"model": "ising2d", "seed": seed, "lattice_sizes": [L]}) as writer:
        writer.add_lattice(spec)
        for point, T in enumerate(TEMPERATURES):
            configs = np.empty((per_point, 1, L, L), dtype=np.int8)
            # ordered points: mostly aligned spins; disordered: random; cheap stand-ins for MC
            p_up = 0.9 if T < 2.269 else 0.5
            for start in range(0, per_point, block):
                stop = min(per_point, start + block)
                configs[start:stop] = np.where(rng.random((stop - start, 1, L, L)) < p_up, 1, -1).astype(np.int8)
            m = configs.reshape(per_point, -1).mean(axis=1, dtype=np.float32)
            writer.write_point(L, point, configs, {"energy": -2 * m * m, "magnetization": m}, int(T < 2.269))
            del configs
        writer.finalize()
    return path


def peak_rss_of(command: list[str], limit_seconds: float | None = None) -> tuple[float, float, int]:
    """Run ``command``; return (peak RSS in MB, wall seconds, exit status).

    With ``limit_seconds`` the job gets Ctrl-C (SIGINT) after that long -- enough to see a
    training run's memory settle without waiting for a whole epoch over gigabytes; it then
    exits with 130, which counts as success here.
    """
    start = time.perf_counter()
    # a job started from a background shell inherits SIGINT *ignored*; restore the default so
    # the child's Python installs its Ctrl-C handler and the time limit works
    proc = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)
    )
    interrupted = False
    while True:  # reap with wait4 ourselves: it reports exactly this child's resource usage
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if limit_seconds is not None and not interrupted and time.perf_counter() - start > limit_seconds:
            proc.send_signal(signal.SIGINT)
            interrupted = True
        time.sleep(0.05)
    proc.returncode = os.waitstatus_to_exitcode(status)
    stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.returncode not in (0, 130):
        sys.stderr.write(f"  {' '.join(command[:4])} ... failed ({proc.returncode}): {stderr.strip()[-300:]}\n")
    return usage.ru_maxrss / 1024, time.perf_counter() - start, 0 if proc.returncode == 130 else proc.returncode


REDUCE = (
    "import sys, fieldnet; ds = fieldnet.open_dataset(sys.argv[1]); "
    "print(float(ds['config'].astype('float32').mean().compute()))"
)


def jobs(path: Path, out: Path) -> dict[str, list[str]]:
    fieldnet = shutil.which("fieldnet") or "fieldnet"
    return {
        "reduce": [sys.executable, "-c", REDUCE, str(path)],
        "train": [fieldnet, "train", str(path), "-o", str(out), "--epochs", "1", "--overwrite", "-q"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes-gb", type=float, nargs="+", default=[0.25, 1.0, 4.0])
    parser.add_argument("--workdir", type=Path, default=None, help="where the data files go (kept for reuse)")
    parser.add_argument("--jobs", nargs="+", default=["reduce", "train"])
    parser.add_argument("--train-seconds", type=float, default=90.0, help="stop each training run (Ctrl-C) after this long")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="fieldnet-memory-"))
    workdir.mkdir(parents=True, exist_ok=True)
    free_gb = shutil.disk_usage(workdir).free / 1e9
    needed = sum(args.sizes_gb) * 0.3 + 1  # compressed spins take well under a third of their raw size
    if free_gb < needed:
        sys.exit(f"not enough disk in {workdir}: {free_gb:.1f} GB free, about {needed:.1f} GB needed")
    print(f"files in {workdir} ({free_gb:.0f} GB free); L={L}, int8 spins, {len(TEMPERATURES)} temperatures")
    table: dict[str, list[float]] = {job: [] for job in args.jobs}
    for gb in args.sizes_gb:
        path = workdir / f"data_{gb:g}GB.h5"
        t0 = time.perf_counter()
        generate(path, gb)
        print(f"{gb:g} GB raw -> {path.stat().st_size / 1e9:.2f} GB on disk ({time.perf_counter() - t0:.0f} s to generate)")
        for job, command in jobs(path, workdir / "model.h5").items():
            if job not in args.jobs:
                continue
            rss, seconds, status = peak_rss_of(command, args.train_seconds if job == "train" else None)
            table[job].append(rss if status == 0 else float("nan"))
            print(f"  {job:7s} peak RSS {rss:8.1f} MB  ({seconds:.1f} s){'' if status == 0 else '  FAILED'}")
    print()
    print(f"{'job':8s}" + "".join(f"{g:>10g} GB" for g in args.sizes_gb) + "   largest/smallest")
    for job, values in table.items():
        ratio = values[-1] / values[0] if values and values[0] else float("nan")
        print(f"{job:8s}" + "".join(f"{v:10.0f} MB" for v in values) + f"   {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
