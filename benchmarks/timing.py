"""What the simulation benchmarks share (a helper module of the benchmark scripts, never a test):
the median wall time of repeated calls, and one measurement run in a child process at a given
numba thread count (numba fixes its thread count when it starts)."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

#: timed repetitions of a measurement; the median is reported
REPEATS = 3


def median_seconds(call: Callable[..., object], *args: object) -> float:
    """Median wall time in seconds of :data:`REPEATS` calls of ``call(*args)``."""
    times = []
    for _ in range(REPEATS):
        t = time.perf_counter()
        call(*args)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def run_worker(script: str, args: list[str], threads: int, what: str) -> dict:
    """``python SCRIPT ARGS`` with NUMBA_NUM_THREADS = ``threads``: the JSON of its last output line."""
    env = {**os.environ, "NUMBA_NUM_THREADS": str(threads)}
    res = subprocess.run([sys.executable, script, *args], env=env, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"benchmark worker {what} failed:\n{res.stderr}")
    return json.loads(res.stdout.strip().splitlines()[-1])
