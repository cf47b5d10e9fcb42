"""2D Ising model on the triangular lattice (``--model ising2d --lattice triangular``).

H = -J sum_<ij> s_i s_j - h sum_i s_i with six neighbours per site, stored on a sheared L x L
square array: site (y, x) neighbours (y, x +- 1), (y +- 1, x) and (y + 1, x + 1), (y - 1, x - 1).
The array is the lattice in oblique coordinates, so a square-lattice network sees the triangular
lattice's sites, with the extra diagonal bonds implicit (the transfer test of the literature).

Updates are those of :mod:`fieldnet.simulations.graph_ising` (per-replica streams; identical files at any
thread count):

* Metropolis sublattice by sublattice: colour c = (x + y) mod 3 is a proper 3-colouring (no two
  neighbours share it) on the torus only when 3 divides L, which this update requires;
* Wolff single clusters (J > 0), any L.

Labels use the exact Tc = 4 J / ln 3 = 3.640957 J (Houtappel 1950; Wannier 1950).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
from fieldnet.simulations.clusters import torus_neighbour_table
from fieldnet.simulations.graph_ising import GraphIsingModel
from fieldnet.simulations.sampling import PointResult

from fieldnet.errors import FieldnetError

TC_TRIANGULAR = 4.0 / math.log(3.0)

# neighbour offsets in (y, x) index order: forward half first
TRIANGULAR_OFFSETS = [(0, 1), (1, 0), (1, 1), (0, -1), (-1, 0), (-1, -1)]


def triangular_tables(L: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Neighbour table (L^2, 6), 3-sublattice Metropolis order (L^2,) and a +-1 pattern
    (sublattice 0 versus the others) of the sheared L x L triangular torus (L % 3 == 0 for the
    order to be a colouring)."""
    nbr = torus_neighbour_table((L, L), TRIANGULAR_OFFSETS)
    y, x = np.indices((L, L)).reshape(2, -1)
    colour = (x + y) % 3
    order = np.concatenate([np.flatnonzero(colour == c) for c in range(3)]).astype(np.int32)
    parity = np.where(colour == 0, 1, -1).astype(np.int8)
    return nbr, order, parity


class TriangularIsing(GraphIsingModel):
    """Ising model on the triangular lattice (six neighbours), H = -J sum_<ij> s_i s_j - h sum_i s_i."""

    name: ClassVar[str] = "ising2d"
    ndim: ClassVar[int] = 2
    coordination: ClassVar[int] = 6
    parameters: ClassVar[dict[str, tuple[Any, str]]] = {
        "J": (1.0, "nearest-neighbour coupling in units of k_B (J > 0 ferromagnet, J < 0 frustrated antiferromagnet)"),
        "h": (0.0, "uniform external field in units of k_B (h != 0: no phase transition, labels -1)"),
        "lattice": ("triangular", "lattice geometry: triangular (this module) or square (fieldnet.simulations.ising2d)"),
    }
    reference_tc: ClassVar[float] = TC_TRIANGULAR
    tc_source: ClassVar[str] = "exact: Tc = 4 J / ln 3 (Houtappel 1950, Wannier 1950)"
    reference_nu: ClassVar[float] = 1.0
    reference_nu_source: ClassVar[str] = "exact: nu = 1 (2D Ising universality class)"
    lattice_name: ClassVar[str] = "triangular"

    def __init__(self, J: float = 1.0, h: float = 0.0, lattice: str = "triangular"):
        super().__init__(J, h, lattice)

    def attrs(self) -> dict[str, Any]:
        return {**super().attrs(), "lattice_storage": "sheared square array: neighbours (y,x+-1), (y+-1,x), (y+1,x+1), (y-1,x-1)"}

    def tables(self, L: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return triangular_tables(L)

    def check_size(self, L: int, algorithm: str) -> None:
        """Raise FieldnetError when the resolved ``algorithm`` cannot run on the L-lattice
        (called by :func:`fieldnet.simulations.campaign.plan_campaign` before any file is written)."""
        if algorithm == "metropolis" and L % 3:
            raise FieldnetError(
                f"triangular-lattice Metropolis needs L divisible by 3 (3 sublattices), got L={L}; "
                f"use --L {3 * max(1, round(L / 3))} or --algorithm wolff"
            )

    def simulate_point(self, L: int, temperature: float, n_samples: int, *, algorithm: str, seed: int,
                       key: tuple[int, ...], progress=None) -> PointResult:
        self.check_size(L, self.resolve_algorithm(algorithm, temperature))
        return super().simulate_point(L, temperature, n_samples, algorithm=algorithm, seed=seed, key=key, progress=progress)


MODEL = TriangularIsing
