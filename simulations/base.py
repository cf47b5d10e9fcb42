"""What every lattice model provides to a campaign.

A campaign (``fieldnet.simulations.campaign``) walks lattice sizes and temperatures; for each
(L, temperature point) it calls :meth:`LatticeModel.simulate_point`, which equilibrates,
measures autocorrelation times, thins, and returns the samples.  The campaign writes them with
:class:`fieldnet.io.dataset.DatasetWriter`.  A point's randomness must depend only on
``(seed, L, point index)`` (use :func:`fieldnet.simulations.rng.seeded_states` with that key), never on
the thread count, so that runs are reproducible and resumable point by point.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, NamedTuple

from fieldnet.simulations.sampling import PointResult, sample_point

from fieldnet.errors import FieldnetError

#: the lowest temperature (J/k_B) any sampler accepts: below it 1/T and the Boltzmann factors
#: leave the floating-point range
TEMPERATURE_FLOOR = 1e-300


class TemperatureRange(NamedTuple):
    """Where a sampler works, T in J/k_B, and why it stops working on either side (each a
    clause that also names what samples beyond, when something does)."""

    low: float
    high: float
    below: str = "below it 1/T leaves the floating-point range"
    above: str = ""

    def describe(self) -> str:
        """The range as text: "T >= 0.1" or "0.1 <= T <= 5"."""
        if math.isinf(self.high):
            return f"T >= {self.low:.4g}"
        return f"{self.low:.4g} <= T <= {self.high:.4g}"


class LatticeModel:
    """Base class of lattice models.  Subclasses set the class attributes and implement
    :meth:`sweeper` (and :meth:`resolve_algorithm` where ``auto`` needs a rule), or
    :meth:`simulate_point` itself; constructor arguments are the couplings, each documented in a
    line.
    """

    #: name used by ``fieldnet simulate --model NAME``
    name: ClassVar[str] = ""
    #: couplings and options: name -> (default, one-line doc).  The constructor takes exactly
    #: these as keyword arguments (``--param NAME=VALUE`` on the command line; values are coerced
    #: to the type of the default by :func:`fieldnet.simulations.registry.get_model`).
    parameters: ClassVar[dict[str, tuple[Any, str]]] = {}
    #: spatial dimensions of the lattice
    ndim: ClassVar[int] = 2
    #: channel names of a stored configuration
    channel_names: ClassVar[tuple[str, ...]] = ("spin",)
    #: storage dtype: "int8" for discrete values, "float32" for fields
    dtype: ClassVar[str] = "int8"
    #: per-sample observables stored (per site)
    observables: ClassVar[tuple[str, ...]] = ("energy", "magnetization")
    #: per-temperature records stored
    point_stats: ClassVar[tuple[str, ...]] = (
        "tau_int_energy",
        "tau_int_abs_magnetization",
        "thinning",
        "burn_in",
        "acceptance",
        "lag1_autocorr_energy",
        "lag1_autocorr_abs_magnetization",
        "effective_samples",
        "replicas",
    )
    #: update algorithms accepted by --algorithm ("auto" is always accepted too)
    algorithms: ClassVar[tuple[str, ...]] = ("metropolis",)

    def critical_temperature(self) -> float | None:
        """Exact or reference Tc (units of J/k_B) used for labels, or None where unknown."""
        return None

    def nu_reference(self) -> float | None:
        """The correlation-length exponent nu (dimensionless) of the model's transition, exact or
        a high-precision literature value, or None where there is none: no transition, a first-order
        one, or a Kosterlitz-Thouless one (the correlation length diverges exponentially).  Only
        for printing beside a measured nu: estimators never read it."""
        return None

    @property
    def nu_source(self) -> str:
        """Where :meth:`nu_reference` comes from, or why there is none."""
        return "none: no known exponent for this model"

    def reference_temperature(self) -> float | None:
        """The temperature (J/k_B) where the model's transition lies, for choosing a grid: the
        exact Tc where known, else a literature value (e.g. the XY model's T_KT), else None."""
        return self.critical_temperature()

    def default_temperatures(self, n: int = 16) -> str:
        """A temperature range ``start:stop:n`` (J/k_B) around the transition, 0.66..1.41 of
        :meth:`reference_temperature` (for the 2D Ising model 1.5:3.2, both phases well inside);
        1.5:3.2 when the model has no known transition temperature."""
        t = self.reference_temperature()
        if t is None or not t > 0:
            return f"1.5:3.2:{n}"
        return f"{0.66 * t:.2f}:{1.41 * t:.2f}:{n}"

    def label(self, temperature: float) -> int:
        """1 ordered (T < Tc), 0 disordered, -1 when Tc is unknown."""
        tc = self.critical_temperature()
        if tc is None:
            return -1
        return 1 if temperature < tc else 0

    def attrs(self) -> dict[str, Any]:
        """Group attributes: model name, couplings, lattice geometry, Tc and its source."""
        tc = self.critical_temperature()
        return {"model": self.name, "Tc": float("nan") if tc is None else tc}

    def near_tc(self, temperature: float, window: tuple[float, float]) -> bool:
        """True when window[0] Tc <= ``temperature`` <= window[1] Tc; False without a Tc."""
        tc = self.critical_temperature()
        low, high = window
        return tc is not None and low * tc <= temperature <= high * tc

    def known_algorithm(self, algorithm: str) -> str:
        """``algorithm`` when it is one of :attr:`algorithms`, else a FieldnetError naming them."""
        if algorithm not in self.algorithms:
            raise FieldnetError(f"model {self.name} has no algorithm {algorithm!r}; choose auto, {', '.join(self.algorithms)}")
        return algorithm

    def resolve_algorithm(self, algorithm: str, temperature: float) -> str:
        """The update ``algorithm`` means at ``temperature``: "auto" is the first of
        :attr:`algorithms` here (models with a measured rule override this)."""
        return self.algorithms[0] if algorithm == "auto" else self.known_algorithm(algorithm)

    def usable_temperatures(self, L: int, algorithm: str) -> TemperatureRange:
        """Where the resolved ``algorithm`` samples the L lattice.  Models narrow the default
        range [TEMPERATURE_FLOOR, inf) where a sampler degenerates (its moves are all accepted
        or all rejected, or its weights overflow)."""
        return TemperatureRange(TEMPERATURE_FLOOR, math.inf)

    def check_temperature(self, L: int, temperature: float, algorithm: str) -> None:
        """Raise a one-line FieldnetError naming the usable range when the resolved
        ``algorithm`` degenerates at ``temperature`` (J/k_B) on the L lattice."""
        usable = self.usable_temperatures(L, algorithm)
        if not usable.low <= temperature <= usable.high:
            why = usable.below if temperature < usable.low else usable.above
            raise FieldnetError(
                f"T = {temperature:.4g} J/k_B is outside the range where {algorithm} updates of {self.name} work "
                f"(L = {L}): {usable.describe()}; {why}"
            )

    def sweeper(self, algorithm: str, n_samples: int) -> tuple[Any, int]:
        """The sweeper (:mod:`fieldnet.simulations.sampling`) of a resolved ``algorithm`` and its number of
        replicas for a point of ``n_samples`` samples."""
        raise NotImplementedError

    def simulate_point(
        self,
        L: int,
        temperature: float,
        n_samples: int,
        *,
        algorithm: str,
        seed: int,
        key: tuple[int, ...],
        progress=None,
    ) -> PointResult:
        """Equilibrate, measure tau_int, and draw ``n_samples`` decorrelated configurations.

        Args:
            L: linear size; temperature: in J/k_B; n_samples: configurations to return.
            algorithm: one of ``algorithms`` or "auto".
            seed, key: seed the point's streams with ``seeded_states(seed, n, *key)``.
            progress: optional callable(n_done_samples) for progress bars.
        """
        resolved = self.resolve_algorithm(algorithm, temperature)
        self.check_temperature(L, temperature, resolved)
        sweeper, n_replicas = self.sweeper(resolved, n_samples)
        return sample_point(sweeper, L, temperature, n_samples, n_replicas=n_replicas, seed=seed, key=key,
                            algorithm=resolved, progress=progress)
