"""Monte Carlo throughput of the 2D Ising simulator (a benchmark, never a test).

Prints, at 1 and 2 numba threads (each measurement in its own process, so the thread count is
honoured):

1. Metropolis spin-flip attempts per nanosecond: the multi-spin coded kernel (64 replicas a
   uint64, per-replica random decisions) beside a plain numba checkerboard with one byte a spin.
2. Independent configurations per second at T = Tc, L = 64, Wolff against Metropolis:
   ``chain``: replica-sweeps per second / (2 tau_int), tau_int = max(tau_E, tau_|m|) measured by
   the sampler's pilot; ``delivered``: samples per second of a whole ``simulate_point`` call
   (burn-in, pilot and thinning by ceil(2 tau_int) included).
3. The ``--algorithm auto`` rule: delivered independent samples/s of both updates at several
   temperatures (L = 32), and which one ``auto`` picks.
4. numba compile time on a cold cache (fresh NUMBA_CACHE_DIR) and start-up with a warm cache,
   for a tiny ``fieldnet simulate`` run that uses both updates.

The machine is shared: medians of a few repeats; compare ratios rather than absolute times.
The load average is printed beside each figure: with another job on one of the two cores, a
second thread cannot help (and a barrier per half-sweep, as in the plain checkerboard, waits
for a scheduler time slice each time).
Run: ``python benchmarks/simulate.py`` (about 1-2 minutes; ``--threads 1`` for one thread count).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fieldnet.simulations.rng import next_double
from numba import njit, prange
from timing import median_seconds, run_worker

# ---------------------------------------------------------------------------------------------
# measurements, each run in a child process with a fixed thread count


@njit(parallel=True, cache=True)
def plain_checkerboard_sweeps(spins, rng, accept, n_sweeps):  # pragma: no cover - compiled
    """The baseline: plain numba checkerboard Metropolis, one byte a spin, one replica, rows of a
    colour in parallel, one stream a row.  accept[k] = flip probability when s * sum(nbrs) = 2k - 4."""
    L = spins.shape[0]
    for _ in range(n_sweeps):
        for color in range(2):
            for y in prange(L):
                yu = y - 1 if y > 0 else L - 1
                yd = y + 1 if y < L - 1 else 0
                for x in range((color + y) & 1, L, 2):
                    xl = x - 1 if x > 0 else L - 1
                    xr = x + 1 if x < L - 1 else 0
                    s = spins[y, x]
                    local = s * (spins[yu, x] + spins[yd, x] + spins[y, xl] + spins[y, xr])
                    if next_double(rng, y) < accept[(local + 4) // 2]:
                        spins[y, x] = -s


def measure_flips(L: int = 128, n_sweeps: int = 200) -> dict:
    import numpy as np
    from fieldnet.simulations.ising2d import LANES, ONSAGER_TC, MultispinMetropolis
    from fieldnet.simulations.rng import seeded_states

    groups = 2
    sweeper = MultispinMetropolis(1.0, 0.0)
    state = sweeper.init(L, ONSAGER_TC, groups * LANES, 0, (0,))
    sweeper.sweep(state, 2)
    multispin = n_sweeps * groups * LANES * L * L / median_seconds(sweeper.sweep, state, n_sweeps) / 1e9

    sweeps = plain_checkerboard_sweeps
    spins = np.ones((L, L), dtype=np.int8)
    rng = seeded_states(0, L, 1)
    accept = np.minimum(1.0, np.exp(-2.0 * (2.0 * np.arange(5) - 4.0) / ONSAGER_TC))  # dE = 2 J s sum
    sweeps(spins, rng, accept, 2)
    plain = (n_sweeps // 4) * L * L / median_seconds(sweeps, spins, rng, accept, n_sweeps // 4) / 1e9
    return {"multispin_flips_per_ns": multispin, "plain_byte_flips_per_ns": plain, "L": L}


def _chain_rate(algorithm: str, L: int, T: float, tau: float, n_sweeps: int) -> float:
    """Replica-sweeps per second of the bare update, divided by 2 tau."""
    from fieldnet.simulations.ising2d import Ising2D

    model = Ising2D()
    sweeper, R = model.sweeper(algorithm, 10_000)
    state = sweeper.init(L, T, R, 0, (L, 0))
    sweeper.sweep(state, 2)
    return R * n_sweeps / median_seconds(sweeper.sweep, state, n_sweeps) / (2.0 * tau)


def _delivered(algorithm: str, L: int, T: float, n_samples: int) -> tuple[float, dict]:
    from fieldnet.simulations.ising2d import Ising2D

    model = Ising2D()
    model.simulate_point(4, T, 4, algorithm=algorithm, seed=0, key=(4, 0))  # compile/load
    t = time.perf_counter()
    result = model.simulate_point(L, T, n_samples, algorithm=algorithm, seed=1, key=(L, 0))
    return n_samples / (time.perf_counter() - t), result.stats


def measure_independent(L: int = 64) -> dict:
    from fieldnet.simulations.ising2d import ONSAGER_TC

    out = {}
    for algorithm, n_samples, n_sweeps in (("wolff", 1000, 100), ("metropolis", 256, 200)):
        rate, stats = _delivered(algorithm, L, ONSAGER_TC, n_samples)
        tau = max(stats["tau_int_energy"], stats["tau_int_abs_magnetization"], 0.5)
        out[algorithm] = {
            "tau_E": stats["tau_int_energy"],
            "tau_m": stats["tau_int_abs_magnetization"],
            "thinning": stats["thinning"],
            "chain_independent_per_s": _chain_rate(algorithm, L, ONSAGER_TC, tau, n_sweeps),
            "delivered_per_s": rate,
        }
    return out


def measure_auto_rule(L: int = 32) -> dict:
    from fieldnet.simulations.ising2d import ONSAGER_TC, Ising2D

    out = {}
    for T in (1.0, 1.5, 1.9, 2.0, ONSAGER_TC, 2.6, 2.8, 3.2):
        row = {}
        for algorithm in ("wolff", "metropolis"):
            rate, _ = _delivered(algorithm, L, T, 512)
            row[algorithm] = rate
        row["auto"] = Ising2D().resolve_algorithm("auto", T)
        out[f"{T:.4f}"] = row
    return out


def measure_startup() -> dict:
    """Cold compile and warm start-up of a tiny run that uses Metropolis and Wolff."""
    exe = [sys.executable, "-m", "fieldnet"]
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "NUMBA_CACHE_DIR": str(Path(tmp) / "cache")}
        args = [*exe, "simulate", "--L", "4", "--T", "1.5,3.0", "--samples", "4", "-q", "--overwrite", "-o", str(Path(tmp) / "d.h5")]
        times = []
        for _ in range(2):
            t = time.perf_counter()
            subprocess.run(args, env=env, check=True, capture_output=True)
            times.append(time.perf_counter() - t)
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import fieldnet.app.cli"], env=env, check=True)
        bare = time.perf_counter() - t
    return {"cold_s": times[0], "warm_s": times[1], "python_import_s": bare}


WORKERS = {"flips": measure_flips, "independent": measure_independent, "auto": measure_auto_rule}


def _child(name: str, threads: int) -> dict:
    return run_worker(__file__, ["--worker", name], threads, name)


def _arguments():
    import argparse

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], choices=[1, 2],
                        help="numba thread counts to measure (default: 1 2; --threads 1 halves the time)")
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)  # one measurement, in a child
    return parser.parse_args()


def main() -> None:
    args = _arguments()
    if args.worker:
        print(json.dumps(WORKERS[args.worker]()))
        return
    print(f"# fieldnet simulate benchmark, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start")
    startup = measure_startup()
    print(f"numba cold compile (fresh cache), tiny simulate run: {startup['cold_s']:.1f} s; "
          f"warm start-up: {startup['warm_s']:.2f} s (python + import fieldnet.app.cli alone: {startup['python_import_s']:.2f} s)")
    for threads in args.threads:
        f = _child("flips", threads)
        print(f"[{threads} thread{'s' if threads > 1 else ''}] Metropolis at Tc, L={f['L']}: multi-spin {f['multispin_flips_per_ns']:.2f} "
              f"flips/ns, plain byte checkerboard {f['plain_byte_flips_per_ns']:.3f} flips/ns "
              f"(x{f['multispin_flips_per_ns'] / f['plain_byte_flips_per_ns']:.0f})  [load {os.getloadavg()[0]:.2f}]")
    for threads in args.threads:
        ind = _child("independent", threads)
        for algorithm, r in ind.items():
            print(f"[{threads} thread{'s' if threads > 1 else ''}] L=64 T=Tc {algorithm:>10}: tau_E {r['tau_E']:.2f}, tau_|m| {r['tau_m']:.2f} sweeps, "
                  f"thinning {r['thinning']:.0f}; independent configs/s: chain {r['chain_independent_per_s']:.0f}, "
                  f"delivered (incl. burn-in + pilot) {r['delivered_per_s']:.0f}  [load {os.getloadavg()[0]:.2f}]")
    auto = _child("auto", max(args.threads))
    print(f"[{max(args.threads)} thread(s)] auto rule, L=32, delivered independent samples/s (512 per point):")
    print(f"    {'T':>7} {'wolff':>9} {'metropolis':>11}  auto picks   faster")
    for T, row in auto.items():
        faster = "wolff" if row["wolff"] > row["metropolis"] else "metropolis"
        print(f"    {float(T):7.4f} {row['wolff']:9.0f} {row['metropolis']:11.0f}  {row['auto']:>10}   {faster}")


if __name__ == "__main__":
    main()
