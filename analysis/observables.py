"""Per-configuration measurements of each lattice size, as the Tc analysis needs them.

A network's output p(ordered | configuration) is treated as one more observable of the lattice
model, beside the energy and the magnetisation that the simulation stored.  Each
:class:`SizeSamples` holds, for one lattice size, every analysed configuration's temperature,
total energy (for histogram reweighting), magnetisation (for the Binder baseline), the output of
each network of an ensemble, and the output of the same networks on the configuration
coarse-grained by one renormalisation-group step (block size b), when the predictions hold it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

import numpy as np
import xarray as xr

from fieldnet.errors import DataFileError

ORDERED = "ordered"


@dataclass
class SizeSamples:
    """The measurements of one lattice size.

    Attributes:
        L: linear size.  n_sites: lattice sites N (L^d).
        temperature: (n,) temperature of each configuration (J/k_B).
        energy: (n,) total energy of each configuration (J): energy per site times N.
        output: (K, n) each network's p(ordered) for each configuration.
        blocked_output: (K, n) the networks' p(ordered) for each configuration coarse-grained by
            one block step (``block_size``), or None.
        block_size: the block size b of ``blocked_output`` (0 without it).
        magnetization: (n,) magnetisation per site, or None when the data file has none.
        twice_blocked_output: (K, n) the networks' p(ordered) for each configuration coarse-grained
            by two block steps, or None (only sizes L whose L/b was simulated too have it).
        chain: (n,) which independent Markov chain of its temperature point each configuration
            comes from (the bootstrap resamples whole chains: consecutive samples of one chain
            may be correlated, different chains never are); None treats every sample as its own.
    """

    L: int
    n_sites: int
    temperature: np.ndarray
    energy: np.ndarray
    output: np.ndarray
    blocked_output: np.ndarray | None = None
    block_size: int = 0
    magnetization: np.ndarray | None = None
    chain: np.ndarray | None = None
    twice_blocked_output: np.ndarray | None = None

    @property
    def n_networks(self) -> int:
        return int(self.output.shape[0])

    def rows_per_temperature(self) -> list[np.ndarray]:
        """Indices of the configurations of each distinct temperature, ascending in T."""
        _, inverse = np.unique(self.temperature, return_inverse=True)
        order = np.argsort(inverse, kind="stable")
        return np.split(order, np.cumsum(np.bincount(inverse))[:-1])

    def take(self, idx: np.ndarray) -> SizeSamples:
        """The configurations ``idx`` (with repetitions, for a bootstrap replica)."""
        def pick(a):
            return None if a is None else a[..., idx]

        return replace(self, temperature=self.temperature[idx], energy=self.energy[idx], output=self.output[:, idx],
                       blocked_output=pick(self.blocked_output), magnetization=pick(self.magnetization),
                       chain=pick(self.chain), twice_blocked_output=pick(self.twice_blocked_output))

    def resampled(self, rng: np.random.Generator) -> SizeSamples:
        """A bootstrap replica: at each temperature, the independent chains drawn with replacement
        (each with all its configurations), or the configurations themselves without chain ids."""
        return self.take(self.resample_indices(rng))

    def resample_indices(self, rng: np.random.Generator) -> np.ndarray:
        """The configurations of a bootstrap replica (see :meth:`resampled`), as indices: the same
        draw applies to every set of outputs of the same configurations."""
        picked = []
        for rows in self.rows_per_temperature():
            if self.chain is None:
                picked.append(rng.choice(rows, rows.size))
                continue
            ids, inverse = np.unique(self.chain[rows], return_inverse=True)
            members = [rows[inverse == i] for i in range(ids.size)]
            picked.extend(members[j] for j in rng.integers(0, ids.size, ids.size))
        return np.concatenate(picked)

    def same_configurations(self, other: SizeSamples) -> bool:
        """Whether ``other`` holds the same configurations in the same order (other outputs of
        the same data): then both share their reweighting and their bootstrap draws."""
        def equal(a, b):
            return (a is None and b is None) or (a is not None and b is not None and np.array_equal(a, b))

        return (self.L == other.L and equal(self.temperature, other.temperature) and equal(self.energy, other.energy)
                and equal(self.chain, other.chain))

    def network(self, k: int) -> SizeSamples:
        """The samples with network k's outputs only."""
        def member(a):
            return None if a is None else a[k : k + 1]

        return replace(self, output=self.output[k : k + 1], blocked_output=member(self.blocked_output),
                       twice_blocked_output=member(self.twice_blocked_output))


def _p_ordered(pred: xr.Dataset, member: str, mean: str) -> np.ndarray | None:
    """(K, n) p(ordered) per network, from the ensemble variable or the single-network one."""
    if member in pred.variables:
        return pred[member].sel({"class": ORDERED}).transpose("network", "sample").values.astype(np.float64)
    if mean in pred.variables:
        return pred[mean].sel({"class": ORDERED}).values.astype(np.float64)[None, :]
    return None


def size_samples(pred: xr.Dataset, data: str | os.PathLike | None = None) -> list[SizeSamples]:
    """The per-size samples of a predictions data set joined with its data file's observables.

    Args:
        pred: predictions (``probability (sample, class)``, optional ``member_probability
            (network, sample, class)`` and ``blocked_probability`` / ``member_blocked_probability``
            with attribute ``block_size``, and ``twice_blocked_probability`` /
            ``member_twice_blocked_probability`` (NaN for sizes without it); coordinates ``temperature`` and ``L`` on ``sample``).
        data: the data file the predictions were made from (default: the predictions'
            ``data`` attribute); its energies and magnetisations are read in file order and
            checked to belong to the predicted configurations.

    Returns:
        One :class:`SizeSamples` per lattice size, ascending in L.
    """
    p = _p_ordered(pred, "member_probability", "probability")
    blocked = _p_ordered(pred, "member_blocked_probability", "blocked_probability")
    twice = _p_ordered(pred, "member_twice_blocked_probability", "twice_blocked_probability")
    block_size = int(np.ravel(pred.attrs.get("block_size", [0]))[0]) if blocked is not None else 0
    T_all = np.asarray(pred["temperature"].values, dtype=np.float64)
    L_all = np.broadcast_to(np.asarray(pred["L"].values).astype(int), T_all.shape)
    source = data if data is not None else pred.attrs.get("data")
    out = []
    for L in np.unique(L_all):
        sel = np.flatnonzero(L_all == L)
        e, m, n_sites, chain = observables_from_data(source, int(L), T_all[sel])
        twice_L = None if twice is None or np.isnan(twice[:, sel]).any() else twice[:, sel]
        out.append(SizeSamples(int(L), n_sites, T_all[sel], e * n_sites, p[:, sel],
                               None if blocked is None else blocked[:, sel], block_size, m, chain, twice_L))
    return out


def observables_from_data(data, L: int, temperatures: np.ndarray
                          ) -> tuple[np.ndarray, np.ndarray | None, int, np.ndarray | None]:
    """Energy and magnetisation per site of size L from a data file, its number of sites, and each
    sample's chain within its temperature point (None when the file does not record the chains).

    A point's samples are stored chain after chain in turn: sample j of a point with R chains
    comes from chain j mod R.

    The configurations are those of the file in file order; ``temperatures`` (the predicted
    configurations' temperatures) must match them, which catches predictions made from another
    file or a subset.
    """
    import h5py

    from fieldnet.io.dataset import check_dataset_file, group_name

    if data is None:
        raise DataFileError("the predictions name no data file; give the data file they were made from (--data)")
    check_dataset_file(data)
    with h5py.File(data, "r") as f:
        if group_name(L) not in f:
            raise DataFileError(f"{data} holds no L={L}; give the data file the predictions were made from")
        g = f[group_name(L)]
        T = np.asarray(g["temperature"][()], dtype=np.float64)
        if "energy" not in g:
            raise DataFileError(f"{data} L={L} has no per-sample energy; histogram reweighting needs it")
        e = np.asarray(g["energy"][()], dtype=np.float64)
        m = np.asarray(g["magnetization"][()], dtype=np.float64) if "magnetization" in g else None
        n_sites = int(np.prod(g["config"].shape[2:]))
        chain = _chains(g, T)
    if T.shape != temperatures.shape or not np.array_equal(T, temperatures):
        raise DataFileError(f"the predictions of L={L} are not the configurations of {data} in file order; "
                            "give the data file they were made from (--data)")
    return e, m, n_sites, chain


def _chains(group, T: np.ndarray) -> np.ndarray | None:
    """Each sample's chain id, unique across the points of the group, from the per-point
    ``replicas`` and ``temperature_grid`` records."""
    if "replicas" not in group or "temperature_grid" not in group:
        return None
    grid = np.asarray(group["temperature_grid"][()], dtype=np.float64)
    replicas = np.asarray(group["replicas"][()], dtype=np.float64)
    chain = np.empty(T.size, dtype=np.int64)
    for i, (t, r) in enumerate(zip(grid, replicas, strict=True)):
        rows = np.flatnonzero(T == t)
        r = int(r) if np.isfinite(r) and r >= 1 else rows.size
        chain[rows] = i * (1 << 20) + np.arange(rows.size) % r
    return chain
