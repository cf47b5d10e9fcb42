"""What the stored samples are worth: residual correlation and effective samples per second (a
benchmark, never a test).

For each model at T = 0.3, 1.0 and 2.0 times its transition temperature (ising2d, ising3d, Potts
q = 3: the exact or reference Tc; XY: T_KT = 0.8929 J; phi^4 at the registry's defaults
mu0^2 = -1, lambda = 1: T* = 0.75, the Binder-cumulant crossing of L = 16 and 32 measured with
this package), one ``simulate_point`` call with ``algorithm="auto"`` (burn-in and pilot
included, after a warm-up that compiles the kernels) prints:

* ``algo``, ``thin``: the update ``auto`` chose and the thinning in sweeps;
* ``r_E``, ``r_|m|``: lag-1 autocorrelation of the stored energy and |m| between consecutive
  samples of one replica (the definition stored in the data file, see
  :func:`fieldnet.simulations.autocorr.lag1_autocorrelation`);
* ``r_dir``: the same for the direction of the order parameter: sign(m) for Ising and phi^4, the
  majority colour for Potts ((q P(same) - 1) / (q - 1)), cos(angle of m) for XY;
* ``ESS/s``: effective samples n (1 - r) / (1 + r), r = max(0, r_E, r_|m|), per CPU second of
  the whole call (all threads; on a shared machine CPU time is far steadier than wall time);
  ``ESS_dir/s`` uses r = max(0, r_E, r_|m|, r_dir), i.e. counts a sample as independent only
  when the direction of its order parameter is too;
* ``cpu_s``, ``wall_s``: CPU and wall seconds of the call (medians of ``--repeats``, default 3).

A lag-1 correlation measured from n_pairs pairs of consecutive samples carries a statistical error
of about 1 / sqrt(n_pairs) (0.016 for the 4096 samples here in 16 replicas, 0.018 in 128).

With ``--strict`` (only where :func:`fieldnet.simulations.sampling.sample_point` accepts a
``thinning`` argument) each point is also drawn with the thinning that should bring the lag-1
correlations below 0.02: k times the usual one, k = ceil(ln 0.02 / ln r) for geometric decay
r^k, to compare the two policies: thin more, or keep the thinning and report the effective
sample size.

Run from any checkout: ``python benchmarks/simulate_samples.py`` (a few minutes on 2 cores;
``--models xy potts`` for a subset, ``--algorithm hmc`` for another update than ``auto``).  The machine is shared: compare ratios, not absolute times.
"""

from __future__ import annotations

import argparse
import inspect
import math
import os
import statistics
import time

import numpy as np
from fieldnet.simulations.autocorr import lag1_autocorrelation

L2D, L3D = 16, 8
N_SAMPLES = 4096
#: phi^4 (mu0^2 = -1, lambda = 1): where the Binder cumulants U4 = 1 - <m^4> / (3 <m^2>^2) of
#: L = 16 and 32 cross (Wolff, 4000 samples a point, T = 0.70, 0.74, ..., 0.98): between 0.74
#: (U4 0.587 and 0.609) and 0.78 (0.528 and 0.468), at T = 0.755; L = 8 and 16 cross at 0.78
PHI4_T_STAR = 0.75
FACTORS = (0.3, 1.0, 2.0)


def direction_lag1(name: str, result, n_replicas: int) -> float:
    """Lag-1 autocorrelation of the direction of the order parameter between stored samples."""
    configs = result.configs
    if name == "xy":
        angle = np.arctan2(configs[:, 1].sum(axis=(1, 2)), configs[:, 0].sum(axis=(1, 2)))
        return lag1_autocorrelation(np.cos(angle), n_replicas)
    if name == "potts":
        q = 3
        states = configs[:, 0].reshape(len(configs), -1)
        majority = np.argmax(np.stack([(states == k).sum(axis=1) for k in range(q)], axis=1), axis=1)
        rounds = len(majority) // n_replicas
        if rounds < 2:
            return float("nan")
        m = majority[: rounds * n_replicas].reshape(rounds, n_replicas)
        same = float(np.mean(m[1:] == m[:-1]))
        return (q * same - 1.0) / (q - 1.0)
    return lag1_autocorrelation(np.sign(result.observables["magnetization"]), n_replicas)


def effective(n: int, *correlations: float) -> float:
    """n (1 - r) / (1 + r) with r the largest of ``correlations`` (NaN ignored), at least 0."""
    finite = [c for c in correlations if c == c]
    r = max([0.0, *finite])
    return n * (1.0 - r) / (1.0 + r)


def cases() -> list[tuple[str, dict, int, float]]:
    from fieldnet.simulations.registry import get_model

    out = []
    for name, params, L in (("ising2d", {}, L2D), ("ising3d", {}, L3D), ("potts", {"q": 3}, L2D), ("xy", {}, L2D),
                            ("phi4", {}, L2D)):
        reference = PHI4_T_STAR if name == "phi4" else get_model(name, **params).reference_temperature()
        out.append((name, params, L, reference))
    return out


def run_point(model, L: int, T: float, key: int, algorithm: str, thinning: int | None = None):
    """One point as ``fieldnet simulate`` computes it (or with a forced thinning)."""
    if thinning is None:
        return model.simulate_point(L, T, N_SAMPLES, algorithm=algorithm, seed=1, key=(L, key))
    from fieldnet.simulations.sampling import sample_point

    algorithm = model.resolve_algorithm(algorithm, T)
    sweeper, R = model.sweeper(algorithm, N_SAMPLES)
    return sample_point(sweeper, L, T, N_SAMPLES, n_replicas=R, seed=1, key=(L, key), algorithm=algorithm,
                        thinning=thinning)


def measure(name, params, L, T, key, repeats, algorithm="auto", thinning=None) -> dict:
    from fieldnet.simulations.registry import get_model

    model = get_model(name, **params)
    model.simulate_point(4, T, 8, algorithm=algorithm, seed=0, key=(4, key))  # compile / load
    cpu, wall, result = [], [], None
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        result = run_point(model, L, T, key, algorithm, thinning)
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - t0)
    seconds = statistics.median(cpu)
    R = model.sweeper(result.algorithm, N_SAMPLES)[1]
    r_e = lag1_autocorrelation(result.observables["energy"], R)
    r_m = lag1_autocorrelation(np.abs(result.observables["magnetization"]), R)
    r_dir = direction_lag1(name, result, R)
    return {
        "algorithm": result.algorithm, "thinning": int(result.stats["thinning"]), "r_E": r_e, "r_m": r_m, "r_dir": r_dir,
        "ess_per_s": effective(N_SAMPLES, r_e, r_m) / seconds,
        "ess_dir_per_s": effective(N_SAMPLES, r_e, r_m, r_dir) / seconds, "seconds": seconds,
        "wall": statistics.median(wall),
    }


def _fmt(x: float) -> str:
    return "   nan" if x != x else f"{x:6.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=None, help="subset of: ising2d ising3d potts xy phi4")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats per point (median; default 3)")
    parser.add_argument("--strict", action="store_true", help="also thin until the lag-1 correlations are below 0.02")
    parser.add_argument("--algorithm", default="auto", help="update to use at every point (default: auto)")
    args = parser.parse_args()
    from fieldnet.simulations.sampling import sample_point

    strict = args.strict and "thinning" in inspect.signature(sample_point).parameters
    print(f"# samples per point {N_SAMPLES}, L = {L2D} (ising3d {L3D}), {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.2f}")
    print(f"{'model':8} {'T/Tref':>6} {'T':>7} {'algo':>10} {'thin':>4} {'r_E':>6} {'r_|m|':>6} {'r_dir':>6} "
          f"{'ESS/s':>8} {'ESS_dir/s':>9} {'cpu_s':>6} {'wall_s':>6}")
    for name, params, L, reference in cases():
        if args.models and name not in args.models:
            continue
        for key, factor in enumerate(FACTORS):
            T = factor * reference
            row = measure(name, params, L, T, key, args.repeats, args.algorithm)
            print(f"{name:8} {factor:6.1f} {T:7.4f} {row['algorithm']:>10} {row['thinning']:4d} {_fmt(row['r_E'])} "
                  f"{_fmt(row['r_m'])} {_fmt(row['r_dir'])} {row['ess_per_s']:8.0f} {row['ess_dir_per_s']:9.0f} "
                  f"{row['seconds']:6.2f} {row['wall']:6.2f}", flush=True)
            worst = max([c for c in (row["r_E"], row["r_m"]) if c == c] or [0.0])
            if strict and worst > 0.02:
                k = math.ceil(math.log(0.02) / math.log(min(worst, 0.99)))
                strict_row = measure(name, params, L, T, key, args.repeats, args.algorithm, thinning=row["thinning"] * k)
                print(f"{'':8} {'':6} {'strict':>7} {strict_row['algorithm']:>10} {strict_row['thinning']:4d} "
                      f"{_fmt(strict_row['r_E'])} {_fmt(strict_row['r_m'])} {_fmt(strict_row['r_dir'])} "
                      f"{strict_row['ess_per_s']:8.0f} {strict_row['ess_dir_per_s']:9.0f} {strict_row['seconds']:6.2f} "
                      f"{strict_row['wall']:6.2f}  (cpu time x{strict_row['seconds'] / row['seconds']:.2f}, ESS/s x"
                      f"{strict_row['ess_per_s'] / row['ess_per_s']:.2f})", flush=True)
    print(f"# load at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
