"""A model-independent Monte Carlo driver: burn-in, tau_int pilot, thinning, decorrelated samples.

Every lattice model plugs in a *sweeper*, a small object that knows how to update many
independent replicas of its lattice at once.  The driver :func:`sample_point` does the rest the
same way for every model, so burn-in, autocorrelation and thinning mean the same thing in every
file.

The sweeper protocol (see :class:`Sweeper`)::

    state = sweeper.init(L, temperature, n_replicas, seed, key)
        # R = n_replicas independent chains; seed their random streams from (seed, *key) with
        # fieldnet.simulations.rng.seeded_states, one stream per replica (or per replica-row), never per
        # thread, so that results do not depend on the thread count.
    acceptance = sweeper.sweep(state, n_sweeps)
        # advance every replica by n_sweeps sweeps in place; return the mean acceptance rate of
        # those sweeps (float in [0, 1]) or NaN when it has no meaning (cluster updates).
    obs = sweeper.measure(state)
        # dict name -> (R,) float64 per-site observables of the current configurations.  Must hold
        # "energy" (energy per site) and "magnetization" (per site; for vector order parameters
        # its magnitude); the driver measures tau_int of obs["energy"] and |obs["magnetization"]|.
    configs = sweeper.configs(state)
        # (R, n_channels, *spatial) copy of the current configurations in the storage dtype.

Optional fast paths (each saves a Python round trip and a parallel region per sweep or round,
which matters on small lattices and loaded machines):

* ``sweeper.series(state, n_steps) -> (dict name -> (R, n_steps), acceptance)``: n_steps single
  sweeps, measuring after each (the pilot); default: loops over sweep/measure.
* ``sweeper.draw(state, n_rounds, thinning) -> (configs (n_rounds, R, C, *spatial),
  dict name -> (n_rounds, R), acceptance)``: the sampling rounds; must equal calling
  sweep(thinning), configs and measure n_rounds times.

What :func:`sample_point` does, for one (L, temperature) point:

1. burn-in: ``burn_in`` sweeps from the sweeper's initial state;
2. pilot: sweeps measuring E and |m| after each; tau_int is estimated (Sokal windowing,
   :mod:`fieldnet.simulations.autocorr`, autocovariance averaged over the R replicas) on the second
   half of the pilot, the first half serving as further burn-in.  The pilot doubles (256, 512,
   ... up to ``max_pilot`` sweeps) until the estimate is reliable (pilot half >= 50 tau_int);
3. thinning = max(1, ceil(2 * max(tau_E, tau_|m|))) sweeps between stored samples;
4. sampling: ``ceil(n_samples / R)`` rounds; each round advances every replica by ``thinning``
   sweeps and stores one configuration per replica.  Sample ``k * R + r`` is replica r's k-th
   configuration (the last round is truncated to n_samples), a deterministic order;
5. what the samples are worth, measured on the stored series themselves: the lag-1
   autocorrelation of E and of |m| between consecutive samples of one replica, and the
   effective sample size n (1 - r) / (1 + r), r the larger of the two (at least 0).

Thinning by 2 tau_int leaves a lag-1 correlation of 0 to about 0.2 between stored samples.
Thinning until it is below 0.02 takes 1.1 to 3 times the CPU time and gives 5-50 % fewer
effective samples per second in 12 of the 13 points where it applies (benchmarks/simulate_samples.py
--strict: five models at 0.3, 1 and 2 times their transition temperature), so the thinning stays
and the effective number of samples is recorded for the statistics built on them.

Returned records (``PointResult.stats``, described in :data:`POINT_STAT_ATTRS`): tau_int_energy,
tau_int_abs_magnetization (in sweeps), thinning (sweeps), burn_in (sweeps before the first
stored sample, pilot included), acceptance, lag1_autocorr_energy,
lag1_autocorr_abs_magnetization, effective_samples and replicas; ``PointResult.warnings`` says
when tau_int was not reliable.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from fieldnet.simulations.autocorr import (
    RELIABLE_LENGTH_IN_TAU,
    AutocorrEstimate,
    effective_sample_size,
    integrated_autocorr_time,
    lag1_autocorrelation,
)


@dataclass
class PointResult:
    """The samples of one temperature point.

    Attributes:
        configs: (n_samples, channel, *spatial) in the model's dtype.
        observables: name -> (n_samples,) float per-site values (energy, magnetization, ...).
        stats: per-temperature records, e.g. tau_int_energy, tau_int_abs_magnetization,
            thinning, burn_in, acceptance; floats (NaN when not measured).
        algorithm: the update actually used (after ``auto`` was resolved).
        warnings: human-readable warnings (e.g. a chain too short for a trustworthy tau_int).
    """

    configs: np.ndarray
    observables: dict[str, np.ndarray]
    stats: dict[str, float]
    algorithm: str
    warnings: list[str] = field(default_factory=list)


#: how tau_int is defined, recorded in every data file
TAU_INT_CONVENTION = (
    "tau_int = 1/2 + sum_{t=1}^{W} rho(t), in sweeps: rho(t) the normalised autocorrelation of the series at a lag "
    "of t sweeps (autocovariances averaged over the replicas, centred on their common mean), W the smallest window "
    "with W >= 5 tau_int(W) (Sokal); the mean of n consecutive sweeps has the variance var / n * 2 tau_int; "
    "measured on the pilot run of each temperature point"
)

#: CF attributes of the per-temperature records, as the data file stores them
POINT_STAT_ATTRS: dict[str, dict[str, str]] = {
    "tau_int_energy": {
        "units": "1",
        "long_name": "integrated autocorrelation time of the energy per site, in sweeps",
        "comment": "tau_int = 1/2 + sum_{t>=1} rho(t), rho the normalised autocorrelation at a lag of t sweeps, "
        "summed up to Sokal's window W >= 5 tau_int; measured on the pilot run",
    },
    "tau_int_abs_magnetization": {
        "units": "1",
        "long_name": "integrated autocorrelation time of |magnetization|, in sweeps",
        "comment": "tau_int = 1/2 + sum_{t>=1} rho(t), as tau_int_energy",
    },
    "thinning": {"units": "1", "long_name": "sweeps between stored samples of one replica",
                 "comment": "max(1, ceil(2 max(tau_int_energy, tau_int_abs_magnetization)))"},
    "burn_in": {"units": "1", "long_name": "sweeps before the first stored sample, pilot run included"},
    "acceptance": {"units": "1", "long_name": "mean acceptance rate of the local updates (NaN for cluster updates)"},
    "lag1_autocorr_energy": {
        "units": "1",
        "long_name": "lag-1 autocorrelation of the stored energy series",
        "comment": "between consecutive stored samples of one replica (samples k R + r and (k + 1) R + r), "
        "centred on the point's mean; NaN when every sample comes from its own replica",
    },
    "lag1_autocorr_abs_magnetization": {
        "units": "1",
        "long_name": "lag-1 autocorrelation of the stored |magnetization| series",
        "comment": "as lag1_autocorr_energy",
    },
    "replicas": {
        "units": "1",
        "long_name": "independent Markov chains the samples of this temperature come from",
        "comment": "sample k R + r of the point is chain r's k-th (R = replicas), consecutive samples of one chain "
        "being thinning sweeps apart; chains are independent, so blocks of whole chains are independent",
    },
    "effective_samples": {
        "units": "1",
        "long_name": "effective number of independent samples at this temperature",
        "comment": "n (1 - r) / (1 + r), n the samples stored, r = max(0, lag1_autocorr_energy, "
        "lag1_autocorr_abs_magnetization): geometric decay between stored samples, 2 tau_int = (1 + r) / (1 - r)",
    },
}

DEFAULT_BURN_IN = 64
DEFAULT_MIN_PILOT = 256
DEFAULT_MAX_PILOT = 1 << 14
#: sampling rounds per ``draw`` call (bounds the latency between progress reports)
DRAW_CHUNK_ROUNDS = 64


class Sweeper(Protocol):
    """Updates R independent replicas of one model at one temperature (see module docstring)."""

    def init(self, L: int, temperature: float, n_replicas: int, seed: int, key: tuple[int, ...]) -> Any: ...

    def sweep(self, state: Any, n_sweeps: int) -> float: ...

    def measure(self, state: Any) -> dict[str, np.ndarray]: ...

    def configs(self, state: Any) -> np.ndarray: ...


def measure_series(sweeper: Sweeper, state: Any, n_steps: int) -> tuple[dict[str, np.ndarray], float]:
    """Run ``n_steps`` single sweeps, measuring after each.

    Returns:
        (name -> (R, n_steps) float64 series, mean acceptance of the sweeps or NaN).
    """
    fast = getattr(sweeper, "series", None)
    if fast is not None:
        out = fast(state, n_steps)
        return out[0], out[1]
    columns: dict[str, list[np.ndarray]] = {}
    acceptance = []
    for _ in range(n_steps):
        acceptance.append(sweeper.sweep(state, 1))
        for name, value in sweeper.measure(state).items():
            columns.setdefault(name, []).append(np.asarray(value, dtype=np.float64))
    return {k: np.stack(v, axis=1) for k, v in columns.items()}, float(np.mean(acceptance))


def _estimates(series: dict[str, np.ndarray]) -> tuple[AutocorrEstimate, AutocorrEstimate]:
    half = series["energy"].shape[1] // 2
    tau_e = integrated_autocorr_time(series["energy"][:, half:])
    tau_m = integrated_autocorr_time(np.abs(series["magnetization"][:, half:]))
    return tau_e, tau_m


def sample_point(
    sweeper: Sweeper,
    L: int,
    temperature: float,
    n_samples: int,
    *,
    n_replicas: int,
    seed: int,
    key: tuple[int, ...],
    algorithm: str,
    burn_in: int = DEFAULT_BURN_IN,
    min_pilot: int = DEFAULT_MIN_PILOT,
    max_pilot: int = DEFAULT_MAX_PILOT,
    thinning: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> PointResult:
    """Equilibrate, measure tau_int, thin, and draw ``n_samples`` configurations.

    Args:
        sweeper: the model's update (see :class:`Sweeper`).
        L: linear lattice size; temperature: in units of J/k_B.
        n_samples: configurations to return (>= 1).
        n_replicas: independent chains R the samples are spread over.
        seed, key: the point's random streams (passed to ``sweeper.init``).
        algorithm: the update's name, recorded in the result.
        burn_in: sweeps before the pilot starts.
        min_pilot, max_pilot: first and largest pilot length in sweeps (doubling in between).
        thinning: sweeps between stored samples; None: max(1, ceil(2 tau_int)) from the pilot.
        progress: called with the number of samples drawn so far.

    Returns:
        PointResult with configs (n_samples, C, *spatial), the sweeper's observables per sample,
        stats (the records of :data:`POINT_STAT_ATTRS`).
    """
    if n_samples < 1:
        raise ValueError(f"n_samples must be >= 1, got {n_samples}")
    state = sweeper.init(L, temperature, n_replicas, seed, key)
    acc_sum = 0.0
    acc_weight = 0
    a = sweeper.sweep(state, burn_in)
    acc_sum, acc_weight = acc_sum + a * burn_in, acc_weight + burn_in

    # pilot: grow the series by doubling until tau_int is trustworthy or the budget is spent
    series, a = measure_series(sweeper, state, min_pilot)
    acc_sum, acc_weight = acc_sum + a * min_pilot, acc_weight + min_pilot
    while True:
        tau_e, tau_m = _estimates(series)
        n_pilot = series["energy"].shape[1]
        if (tau_e.reliable and tau_m.reliable) or n_pilot >= max_pilot:
            break
        more, a = measure_series(sweeper, state, n_pilot)
        acc_sum, acc_weight = acc_sum + a * n_pilot, acc_weight + n_pilot
        series = {k: np.concatenate([series[k], more[k]], axis=1) for k in series}
    if thinning is None:
        thinning = max(1, math.ceil(2.0 * max(tau_e.tau, tau_m.tau)))

    warnings: list[str] = []
    for name, est in (("E", tau_e), ("|m|", tau_m)):
        if not est.reliable:
            warnings.append(
                f"L={L} T={temperature:.4g}: tau_int({name}) = {est.tau:.3g} sweeps is not reliable "
                f"(pilot of {est.n} sweeps x {n_replicas} replicas, needs >= {RELIABLE_LENGTH_IN_TAU:g} tau); "
                f"samples may be correlated; a cluster algorithm (--algorithm wolff) helps near Tc"
            )

    rounds = math.ceil(n_samples / n_replicas)
    configs: list[np.ndarray] = []
    observables: dict[str, list[np.ndarray]] = {}
    draw = getattr(sweeper, "draw", None)
    done = 0
    while done < rounds:
        chunk = min(rounds - done, DRAW_CHUNK_ROUNDS) if draw is not None else 1
        if draw is not None:
            block, values, a = draw(state, chunk, thinning)
            configs.append(block.reshape(chunk * n_replicas, *block.shape[2:]))
            for name, value in values.items():
                observables.setdefault(name, []).append(np.asarray(value, dtype=np.float64).reshape(-1))
        else:
            a = sweeper.sweep(state, thinning)
            configs.append(sweeper.configs(state))
            for name, value in sweeper.measure(state).items():
                observables.setdefault(name, []).append(np.asarray(value, dtype=np.float64))
        acc_sum, acc_weight = acc_sum + a * thinning * chunk, acc_weight + thinning * chunk
        done += chunk
        if progress is not None:
            progress(min(n_samples, done * n_replicas))
    stacked = np.concatenate(configs, axis=0)[:n_samples]
    drawn = {name: np.concatenate(v) for name, v in observables.items()}  # whole rounds
    obs = {name: v[:n_samples] for name, v in drawn.items()}
    lag1_e = lag1_autocorrelation(drawn["energy"], n_replicas)
    lag1_m = lag1_autocorrelation(np.abs(drawn["magnetization"]), n_replicas)
    stats = {
        "tau_int_energy": tau_e.tau,
        "tau_int_abs_magnetization": tau_m.tau,
        "thinning": float(thinning),
        "burn_in": float(burn_in + series["energy"].shape[1]),
        "acceptance": acc_sum / acc_weight if acc_weight else float("nan"),
        "lag1_autocorr_energy": lag1_e,
        "lag1_autocorr_abs_magnetization": lag1_m,
        "effective_samples": effective_sample_size(n_samples, lag1_e, lag1_m),
        "replicas": float(n_replicas),
    }
    return PointResult(configs=stacked, observables=obs, stats=stats, algorithm=algorithm, warnings=warnings)
