"""Monte Carlo throughput of the other lattice models: ising3d, triangular Ising, Potts, XY (a
benchmark, never a test).

For each model near its critical point and each update, at 1 and 2 numba threads (each thread
count in its own process, so that it is honoured), prints:

* ``updates/ns``: site updates per nanosecond of the bare update (replica-sweeps x sites / time;
  for Wolff, one sweep changes about N sites, so the figure is comparable);
* ``tau``: max(tau_E, tau_|m|) in sweeps, measured by the sampler's pilot;
* ``chain indep/s``: replica-sweeps per second / (2 tau), independent configurations per second
  once equilibrated;
* ``delivered/s``: samples per second of a whole ``simulate_point`` call (burn-in, pilot,
  thinning by ceil(2 tau)), what ``fieldnet simulate`` delivers.

The machine is shared: medians of a few repeats; the load average is printed with each block.
Then, at 2 threads, the ``auto`` rule: delivered samples/s of every update at temperatures
around the transition, beside what ``auto`` picks.

Run: ``python benchmarks/simulate_models.py`` (a few minutes; ``--threads 1 --no-auto`` for a short run).
"""

from __future__ import annotations

import json
import math
import os
import time

from timing import median_seconds, run_worker

#: (label, registry name, parameters, L, T near criticality, samples delivered per algorithm)
CASES = [
    ("ising3d", "ising3d", {}, 16, 1.0 / 0.221654626, 256),
    ("triangular", "ising2d", {"lattice": "triangular"}, 48, 4.0 / math.log(3.0), 256),
    ("potts q=3", "potts", {"q": 3}, 48, 1.0 / math.log(1.0 + math.sqrt(3.0)), 256),
    ("xy", "xy", {}, 32, 0.9, 256),
    # mu0^2 = -1, lambda = 1: Binder cumulants of L = 8 and 16 cross near T = 0.8
    ("phi4", "phi4", {}, 32, 0.8, 256),
]

#: the ``auto`` rule: (label, registry name, parameters, L, reference temperature, T / reference)
AUTO_CASES = [
    ("ising3d", "ising3d", {}, 12, 1.0 / 0.221654626, (0.6, 0.8, 0.9, 1.0, 1.2, 1.4)),
    ("potts q=3", "potts", {"q": 3}, 24, 1.0 / math.log(1.0 + math.sqrt(3.0)), (0.6, 0.8, 0.9, 1.0, 1.2, 1.4)),
    ("xy", "xy", {}, 24, 1.0, (0.4, 0.6, 0.9, 1.2, 1.5, 2.0)),
]


def measure_case(index: int) -> dict:
    from fieldnet.simulations.registry import get_model

    label, name, params, L, T, n_samples = CASES[index]
    model = get_model(name, **params)
    out = {}
    for algorithm in model.algorithms:
        model.simulate_point(6, T, 4, algorithm=algorithm, seed=0, key=(6, 0))  # compile / load the cache
        t = time.perf_counter()
        result = model.simulate_point(L, T, n_samples, algorithm=algorithm, seed=1, key=(L, 0))
        delivered = n_samples / (time.perf_counter() - t)
        tau = max(result.stats["tau_int_energy"], result.stats["tau_int_abs_magnetization"], 0.5)
        sweeper, R = model.sweeper(algorithm, 10_000)
        state = sweeper.init(L, T, R, 0, (L, 1))
        sweeper.sweep(state, 2)
        n_sweeps = 20
        sweeps_per_s = R * n_sweeps / median_seconds(sweeper.sweep, state, n_sweeps)
        out[algorithm] = {
            "updates_per_ns": sweeps_per_s * L**model.ndim / 1e9,
            "tau": tau,
            "chain_independent_per_s": sweeps_per_s / (2.0 * tau),
            "delivered_per_s": delivered,
        }
    return {"label": label, "L": L, "T": T, "results": out}


def measure_auto(index: int) -> dict:
    """Delivered samples/s (512 per point, burn-in and pilot included) of every update at several
    temperatures, and what ``auto`` picks there."""
    from fieldnet.simulations.registry import get_model

    label, name, params, L, reference, ratios = AUTO_CASES[index]
    model = get_model(name, **params)
    rows = {}
    for k, ratio in enumerate(ratios):
        T = ratio * reference
        row = {}
        for algorithm in model.algorithms:
            model.simulate_point(4, T, 4, algorithm=algorithm, seed=0, key=(4, 0))
            t = time.perf_counter()
            model.simulate_point(L, T, 512, algorithm=algorithm, seed=2, key=(L, k))
            row[algorithm] = 512 / (time.perf_counter() - t)
        row["auto"] = model.resolve_algorithm("auto", T)
        rows[f"{ratio:g}"] = row
    return {"label": label, "L": L, "rows": rows}


def _child(index: int, threads: int, worker: str = "--worker") -> dict:
    return run_worker(__file__, [worker, str(index)], threads, str(index))


def _arguments():
    import argparse

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], choices=[1, 2],
                        help="numba thread counts to measure (default: 1 2)")
    parser.add_argument("--no-auto", action="store_true", help="skip the auto-rule table (the longer half)")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)  # one case, measured in a child process
    parser.add_argument("--auto-worker", type=int, help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    args = _arguments()
    if args.worker is not None or args.auto_worker is not None:
        measure, index = (measure_case, args.worker) if args.worker is not None else (measure_auto, args.auto_worker)
        print(json.dumps(measure(index)))
        return
    print(f"# lattice models benchmark, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start")
    print(f"{'model':>11} {'L':>3} {'T':>7} {'update':>10} {'thr':>3} {'updates/ns':>10} {'tau':>6} "
          f"{'chain indep/s':>13} {'delivered/s':>11}")
    for index in range(len(CASES)):
        for threads in args.threads:
            case = _child(index, threads)
            for algorithm, r in case["results"].items():
                print(f"{case['label']:>11} {case['L']:>3} {case['T']:7.4f} {algorithm:>10} {threads:>3} "
                      f"{r['updates_per_ns']:10.4f} {r['tau']:6.2f} {r['chain_independent_per_s']:13.0f} "
                      f"{r['delivered_per_s']:11.0f}")
        print(f"{'':>11} [load average {os.getloadavg()[0]:.2f}]")
    if args.no_auto:
        return
    print("\n[2 threads] the auto rule: delivered samples/s (512 a point) per update; T in units of Tc (xy: of J)")
    for index in range(len(AUTO_CASES)):
        case = _child(index, 2, "--auto-worker")
        for ratio, row in case["rows"].items():
            rates = {k: v for k, v in row.items() if k != "auto"}
            best = max(rates, key=rates.get)
            cells = "  ".join(f"{k} {v:7.0f}" for k, v in rates.items())
            print(f"{case['label']:>11} L={case['L']:<3} T/ref={float(ratio):4.2f}  {cells}  auto: {row['auto']:<10} fastest: {best}")
        print(f"{'':>11} [load average {os.getloadavg()[0]:.2f}]")


if __name__ == "__main__":
    main()
