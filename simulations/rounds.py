"""A base for sweepers whose compiled kernel runs whole sampling rounds.

Every model (:mod:`fieldnet.simulations.ising2d`, :mod:`fieldnet.simulations.graph_ising`,
:mod:`fieldnet.simulations.multispin3d`, :mod:`fieldnet.simulations.potts`, :mod:`fieldnet.simulations.xy`,
:mod:`fieldnet.simulations.phi4`) does all the work of one sampler call in one compiled kernel: ``n_rounds`` rounds of ``sweeps_per_round`` sweeps of every
replica, each round followed by a measurement and, when asked, a copy of the configurations.
Where the model has a global symmetry that its updates cannot cross quickly (the spin flip of
Ising and phi^4 without a field, the state permutations of Potts, O(2) for XY), every round
that sweeps ends with a uniformly random symmetry move, before the measurement: the direction
of the order parameter is then independent from one stored sample to the next.
:class:`RoundsSweeper` turns that one method into the sweeper protocol's ``sweep`` and its fast
paths ``series`` and ``draw`` (see :mod:`fieldnet.simulations.sampling`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
from fieldnet.simulations.clusters import square_tables
from fieldnet.simulations.rng import seeded_states


class RoundsSweeper:
    """Base of sweepers built on a rounds kernel; subclasses implement :meth:`_run` (and the
    protocol's ``init``, ``measure`` and ``configs``) and may convert the kernel's copies to the
    stored layout in :meth:`_stored`."""

    #: observable names, in the order of the rows of the values :meth:`_run` returns
    observables: ClassVar[tuple[str, ...]] = ("energy", "magnetization")
    #: observables whose pilot series are returned as absolute values
    absolute_series: ClassVar[tuple[str, ...]] = ()
    #: sweeps of each of the two calibration runs of :meth:`_calibrated_clusters`
    CALIBRATION_SWEEPS: ClassVar[int] = 8

    def _run(self, state: dict[str, Any], n_rounds: int, sweeps_per_round: int,
             store: bool) -> tuple[np.ndarray, np.ndarray, float]:
        """Run the kernel: ``n_rounds`` x (``sweeps_per_round`` sweeps, measure, copy if ``store``).

        Returns:
            configs: (n_rounds, R, ...) the kernel's copies ((0, R, ...) unless ``store``);
            values: (len(observables), n_rounds, R) float64 per-site observables;
            acceptance: mean acceptance of the sweeps, or NaN.
        """
        raise NotImplementedError

    def _stored(self, state: dict[str, Any], configs: np.ndarray) -> np.ndarray:
        """The kernel's copies (n_rounds, R, ...) as stored configurations (n_rounds, R, C, *spatial)."""
        return configs

    def _calibrated_clusters(self, state: dict[str, Any], n_sites: int,
                             counts: Callable[[dict[str, Any]], tuple[Any, Any]]) -> int:
        """Clusters per sweep, round(N / mean cluster size), for a cluster update whose kernel,
        while ``state["n_clusters"]`` is 0, grows clusters until N sites changed (a biased
        stopping rule: used for this count, and as burn-in, only).

        Two runs of ``CALIBRATION_SWEEPS`` sweeps: the first only relaxes the ordered start, whose
        clusters are too big; ``counts(state)`` gives (sites changed, clusters grown) of the last.
        """
        self._run(state, 1, self.CALIBRATION_SWEEPS, False)
        self._run(state, 1, self.CALIBRATION_SWEEPS, False)
        changed, grown = counts(state)
        mean_size = changed / max(1, grown)
        return max(1, int(round(n_sites / mean_size)))

    def sweep(self, state: dict[str, Any], n_sweeps: int) -> float:
        if n_sweeps <= 0:
            return float("nan")
        return self._run(state, 1, n_sweeps, False)[2]

    def series(self, state: dict[str, Any], n_steps: int) -> tuple[dict[str, np.ndarray], float]:
        """Pilot fast path: the observables, (R, n_steps), after each of ``n_steps`` sweeps."""
        _, values, acceptance = self._run(state, n_steps, 1, False)
        return {name: np.abs(values[k].T) if name in self.absolute_series else values[k].T.copy()
                for k, name in enumerate(self.observables)}, acceptance

    def draw(self, state: dict[str, Any], n_rounds: int, thinning: int) -> tuple[np.ndarray, dict[str, np.ndarray], float]:
        """Sampling fast path: configs (n_rounds, R, C, *spatial), observables (n_rounds, R)."""
        configs, values, acceptance = self._run(state, n_rounds, thinning, True)
        return self._stored(state, configs), {name: values[k] for k, name in enumerate(self.observables)}, acceptance


class SquareLatticeSweeper(RoundsSweeper):
    """Base of the square-lattice sweepers (Potts, XY, phi^4) whose ``algorithm`` may be "wolff".

    :meth:`init` is the same for all: the state starts with ``L``, one xoshiro256** stream per
    replica ``rng``, the neighbour table ``nbr`` and the local-update site order ``order`` of
    :func:`fieldnet.simulations.clusters.square_tables`; the subclass adds its fields in
    :meth:`_model_state` (its ordered start, scratch, ``n_clusters`` = 0) and, for Wolff, fixes the
    clusters per sweep in :meth:`_clusters_per_sweep` once the state is complete.
    """

    algorithm: str = ""

    def _model_state(self, state: dict[str, Any], temperature: float, n_replicas: int) -> dict[str, Any]:
        """The model's own fields of the state (``state`` holds L, rng, nbr and order)."""
        raise NotImplementedError

    def _clusters_per_sweep(self, state: dict[str, Any]) -> int:
        """Wolff clusters per sweep, calibrated on the complete state (advancing it)."""
        raise NotImplementedError

    def init(self, L: int, temperature: float, n_replicas: int, seed: int, key: tuple[int, ...]) -> dict[str, Any]:
        nbr, order = square_tables(L)
        state: dict[str, Any] = {"L": L, "rng": seeded_states(seed, n_replicas, *key), "nbr": nbr, "order": order}
        state.update(self._model_state(state, temperature, n_replicas))
        if self.algorithm == "wolff":
            state["n_clusters"] = self._clusters_per_sweep(state)
        return state
