"""3D Ising model on the simple cubic L x L x L torus: H = -J sum_<ij> s_i s_j - h sum_i s_i.

Configurations are stored as (sample, channel, z, y, x) int8 +-1.  Every random stream belongs to
a replica or a replica-row, never to a thread, so files are identical at any thread count.

* Metropolis, multi-spin coded (:mod:`fieldnet.simulations.multispin3d`: 64 replicas a uint64 word, 128
  replicas a point), in checkerboard order (all sites with x + y + z even, then odd) for even L;
  typewriter order for odd L, where the two colours are not independent on the torus (any fixed
  order of single-site Metropolis steps keeps the Boltzmann distribution);
* Wolff single clusters (J > 0) of :mod:`fieldnet.simulations.graph_ising` (one byte a spin, one replica
  a thread) with the cubic neighbour table.

``auto`` picks Wolff for 0.93 Tc <= T <= 1.07 Tc (J > 0, h = 0), multi-spin Metropolis
elsewhere.  Measured (benchmarks/simulate_models.py, delivered samples/s of 512-sample points,
burn-in and pilot included, 2 threads): at Tc Wolff wins 3x (L = 12); at 0.9 and 1.2 Tc
Metropolis wins 2x; at L = 16 the two tie at 0.93 and 1.05 Tc and Metropolis wins 2x at 1.1 Tc.

Labels use the high-precision critical coupling K_c = J / T_c = 0.221654626 (Ferrenberg, Xu and
Landau, Phys. Rev. E 97, 043301 (2018)), i.e. Tc = 4.5115233 J (the often quoted 4.511528 is
1 / 0.2216544, Talapov and Bloete 1996; the two differ by 1e-6 relative).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from fieldnet.simulations.clusters import torus_neighbour_table
from fieldnet.simulations.graph_ising import GraphIsing, GraphIsingModel, replicas_for
from fieldnet.simulations.multispin import LANES
from fieldnet.simulations.multispin3d import GROUPS, MultispinCubicMetropolis

#: critical coupling J / (k_B Tc) of the simple cubic Ising model
KC_CUBIC = 0.221654626
TC_CUBIC = 1.0 / KC_CUBIC
#: correlation-length exponent of the 3D Ising universality class (conformal bootstrap)
NU_CUBIC = 0.62997

# neighbour offsets in (z, y, x) index order: forward half first
CUBIC_OFFSETS = [(0, 0, 1), (0, 1, 0), (1, 0, 0), (0, 0, -1), (0, -1, 0), (-1, 0, 0)]


def cubic_tables(L: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Neighbour table (L^3, 6), Metropolis order (L^3,) and parity (L^3,) of the cubic torus."""
    nbr = torus_neighbour_table((L, L, L), CUBIC_OFFSETS)
    z, y, x = np.indices((L, L, L)).reshape(3, -1)
    colour = (x + y + z) % 2
    parity = (1 - 2 * colour).astype(np.int8)
    if L % 2 == 0:
        order = np.concatenate([np.flatnonzero(colour == 0), np.flatnonzero(colour == 1)])
    else:
        order = np.arange(L**3)
    return nbr, order.astype(np.int32), parity


class Ising3D(GraphIsingModel):
    """3D Ising model on the simple cubic torus, H = -J sum_<ij> s_i s_j - h sum_i s_i."""

    name: ClassVar[str] = "ising3d"
    ndim: ClassVar[int] = 3
    coordination: ClassVar[int] = 6
    parameters: ClassVar[dict[str, tuple[Any, str]]] = {
        "J": (1.0, "nearest-neighbour coupling in units of k_B (J > 0 ferromagnet, J < 0 antiferromagnet)"),
        "h": (0.0, "uniform external field in units of k_B (h != 0: no phase transition, labels -1)"),
    }
    reference_tc: ClassVar[float] = TC_CUBIC
    auto_wolff_window: ClassVar[tuple[float, float]] = (0.93, 1.07)
    tc_source: ClassVar[str] = "K_c = 0.221654626 (Ferrenberg, Xu, Landau, PRE 97, 043301 (2018))"
    reference_nu: ClassVar[float] = NU_CUBIC
    reference_nu_source: ClassVar[str] = (
        "conformal bootstrap: nu = 0.629971(4), here 0.62997 (Kos, Poland, Simmons-Duffin, JHEP 08 (2016) 036)")
    lattice_name: ClassVar[str] = "simple cubic"

    def tables(self, L: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return cubic_tables(L)

    def sweeper(self, algorithm: str, n_samples: int) -> tuple[GraphIsing | MultispinCubicMetropolis, int]:
        """Multi-spin coded Metropolis (128 replicas in two 64-bit groups) or Wolff."""
        if algorithm == "metropolis":
            return MultispinCubicMetropolis(self.J, self.h), LANES * GROUPS
        return GraphIsing(self.tables, self.ndim, self.J, self.h, algorithm), replicas_for(algorithm, n_samples)


MODEL = Ising3D
