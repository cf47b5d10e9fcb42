"""What the Ising models H = -J sum_<ij> s_i s_j - h sum_i s_i share, whatever their lattice:
the couplings and their check, the stored channel and observables, the group attributes.

:class:`fieldnet.simulations.ising2d.Ising2D` (square lattice, multi-spin kernels) and
:class:`fieldnet.simulations.graph_ising.GraphIsingModel` (any neighbour table: ising3d, triangular)
derive from :class:`IsingModelBase`; each keeps its own Tc, ``auto`` rule and sweepers.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from fieldnet.simulations.base import LatticeModel, TemperatureRange
from fieldnet.simulations.sampling import DEFAULT_MAX_PILOT

from fieldnet.errors import FieldnetError


class IsingModelBase(LatticeModel):
    """Couplings J, h (units of k_B), one int8 +-1 spin channel, energy and magnetisation per site.

    Subclasses set ``name``, ``ndim``, ``parameters``, ``lattice_name``, ``tc_source`` (where
    the Tc comes from), ``no_tc_source`` (why there is none), ``reference_nu`` and
    ``reference_nu_source`` (the exponent of their universality class, which holds wherever
    there is a Tc), and implement :meth:`critical_temperature`, :meth:`resolve_algorithm` and
    :meth:`sweeper`.
    """

    dtype: ClassVar[str] = "int8"
    channel_names: ClassVar[tuple[str, ...]] = ("spin",)
    observables: ClassVar[tuple[str, ...]] = ("energy", "magnetization")
    algorithms: ClassVar[tuple[str, ...]] = ("metropolis", "wolff")
    hamiltonian: ClassVar[str] = "H = -J sum_<ij> s_i s_j - h sum_i s_i"
    lattice_name: ClassVar[str] = ""
    #: neighbours of a site
    coordination: ClassVar[int] = 4
    tc_source: ClassVar[str] = ""
    no_tc_source: ClassVar[str] = ""
    reference_nu: ClassVar[float] = float("nan")
    reference_nu_source: ClassVar[str] = ""

    def __init__(self, J: float = 1.0, h: float = 0.0, lattice: str | None = None):
        """``lattice``, where the model's parameters have one, must name this class's
        ``lattice_name`` (a variant on another lattice lives in its own module)."""
        if lattice is not None and lattice != self.lattice_name:
            raise FieldnetError(
                f"{type(self).__module__} handles the {self.lattice_name} lattice only, not {lattice!r}")
        if J == 0.0 and h == 0.0:
            # every Metropolis move would be accepted, so the chain would just alternate
            raise FieldnetError("J = 0 and h = 0 leave the spins independent and unbiased; give --param J=... or --param h=...")
        self.J = float(J)
        self.h = float(h)
        if lattice is not None:
            self.lattice = lattice

    def usable_temperatures(self, L: int, algorithm: str) -> TemperatureRange:
        """Metropolis needs rejections to move: its highest T is where even the costliest flip,
        dE = 2 |J| z + 2 |h|, is rejected less often than once per site in the longest pilot
        (then the chain is a deterministic alternation of its ordered start, and its pilot
        cannot see it); Wolff samples any T."""
        usable = super().usable_temperatures(L, algorithm)
        if algorithm != "metropolis":
            return usable
        dE = 2.0 * abs(self.J) * self.coordination + 2.0 * abs(self.h)
        return usable._replace(high=dE / -math.log1p(-1.0 / DEFAULT_MAX_PILOT), above=(
            f"above it even the costliest Metropolis flip (dE = {dE:g}) is rejected less than once per site in the "
            f"{DEFAULT_MAX_PILOT} sweeps of the longest pilot, so the chain barely leaves its ordered start; "
            "--algorithm wolff samples any T"))

    def nu_reference(self) -> float | None:
        """``reference_nu`` wherever the model has its transition (a Tc), else None."""
        return self.reference_nu if self.critical_temperature() is not None else None

    @property
    def nu_source(self) -> str:
        """Where :meth:`nu_reference` comes from, or why there is none."""
        return self.reference_nu_source if self.nu_reference() is not None else self.no_tc_source

    def attrs(self) -> dict[str, Any]:
        tc = self.critical_temperature()
        return {
            "model": self.name,
            "J": self.J,
            "h": self.h,
            "lattice": self.lattice_name,
            "hamiltonian": self.hamiltonian,
            "Tc": float("nan") if tc is None else tc,
            "Tc_source": self.tc_source if tc is not None else self.no_tc_source,
            "global_moves": "a random global spin flip every round of sweeps" if self.h == 0.0 else "none (h != 0)",
        }
