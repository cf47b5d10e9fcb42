"""R1 throughput with numpy imported before fieldnet and with fieldnet imported first, side by side.

fieldnet keeps BLAS (the dense layers' matrix products) on one thread around each forward and
backward pass with threadpoolctl (:mod:`fieldnet.engine.blas`), because numba's threads already
use every core.  That limit is applied where the engine calls BLAS, so the speed must not depend
on what a script or notebook imported first.  This benchmark measures it: each order runs in its
own fresh interpreter, with no BLAS environment variable set (as in a user's notebook), and the
orders alternate over several rounds so load from other jobs on a shared machine hits both alike.

A third row, numpy first with the limit switched off, shows what the limit is for.

Usage::

    python benchmarks/import_order.py                    # L = 32, batch 128, 2 threads
    python benchmarks/import_order.py --threads 1 --rounds 5 --repeats 15

Figures are samples per second: the median over ``--repeats`` steps within a round, then the
median over rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: order -> how the worker starts: which module first, and whether the BLAS limit is kept
ORDERS = {
    "numpy first": ("numpy", True),
    "fieldnet first": ("fieldnet", True),
    "numpy first, no BLAS limit": ("numpy", False),
}

WORKER = r"""
import json, sys
first, limit, L, batch, repeats = sys.argv[1], sys.argv[2] == "1", int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
if first == "numpy":
    import numpy
    import fieldnet
else:
    import fieldnet
    import numpy
from threadpoolctl import threadpool_info
blas_threads = sorted({i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"})
if not limit:
    import contextlib
    import fieldnet.engine.model as model_module
    model_module.single_threaded_blas = contextlib.nullcontext
sys.path.insert(0, sys.argv[6])
from engine import FieldnetCase, median_time   # the R1 case of benchmarks/engine.py
case = FieldnetCase("r1", 2, L, batch)
result = {"train": batch / median_time(case.train, repeats), "infer": batch / median_time(case.infer, repeats)}
print("RESULT " + json.dumps({"train": result["train"], "infer": result["infer"], "blas_threads": blas_threads}))
"""


def run_worker(order: str, args: argparse.Namespace) -> dict:
    first, limit = ORDERS[order]
    # only the numba thread count is set: BLAS sees whatever a user's process would
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS")}
    env["NUMBA_NUM_THREADS"] = str(args.threads)
    cmd = [sys.executable, "-c", WORKER, first, "1" if limit else "0", str(args.L), str(args.batch),
           str(args.repeats), str(HERE)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        sys.exit(f"worker '{order}' failed:\n{proc.stderr}")
    return json.loads(lines[-1][len("RESULT "):])


def median(values: list[float]) -> float:
    values = sorted(values)
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else 0.5 * (values[mid - 1] + values[mid])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--L", type=int, default=32, help="lattice size (default 32)")
    parser.add_argument("--batch", type=int, default=128, help="batch size (default 128)")
    parser.add_argument("--threads", type=int, default=2, help="numba threads (default 2)")
    parser.add_argument("--repeats", type=int, default=9, help="timed steps per round (default 9)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    args = parser.parse_args()
    runs: dict[str, list[dict]] = {order: [] for order in ORDERS}
    for _ in range(args.rounds):
        for order in ORDERS:
            runs[order].append(run_worker(order, args))
    print(f"R1, L = {args.L}, batch {args.batch}, {args.threads} numba threads; samples/s, median of "
          f"{args.rounds} alternating rounds of {args.repeats} steps")
    print(f"{'import order':<28} {'BLAS threads':>12} {'inference':>10} {'training':>10}")
    base = None
    for order, results in runs.items():
        infer = median([r["infer"] for r in results])
        train = median([r["train"] for r in results])
        blas = ",".join(map(str, results[0]["blas_threads"])) or "-"
        base = base or (infer, train)
        print(f"{order:<28} {blas:>12} {infer:10.0f} {train:10.0f}   "
              f"(x{infer / base[0]:.2f} / x{train / base[1]:.2f} of numpy first)")


if __name__ == "__main__":
    main()
