"""Mini-batches cut from data in memory: numpy arrays or xarray Datasets.

An :class:`ArrayIndex` is a :class:`fieldnet.training.batches.SampleIndex` whose configurations
are arrays instead of a file, so the training split (:func:`~fieldnet.training.batches.supervised_split`),
the training loop (:mod:`fieldnet.training.trainer`) and prediction treat data in memory and data
in files alike; :func:`memory_batches` is the in-memory counterpart of
:func:`~fieldnet.training.batches.stream_batches`, with the same contract: every selected sample
once per pass, one lattice size a batch, the order a function of ``seed`` alone.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from fieldnet.errors import FieldnetError
from fieldnet.training.batches import LatticeSamples, SampleIndex, interleave

#: what an in-memory index calls its source in messages (where a file index names its path)
IN_MEMORY = "<in-memory data>"


@dataclass
class ArrayIndex(SampleIndex):
    """A sample index over configurations held in memory.

    Attributes:
        arrays: lattice size L -> configurations (n, C, *spatial), in their stored dtype.
        datasets: L -> the xarray Dataset the arrays came from (None for plain arrays), whose
            coordinates predictions carry over.
    """

    arrays: dict[int, np.ndarray] = field(default_factory=dict)
    datasets: dict[int, object] = field(default_factory=dict)

    def subset(self, pick: dict[int, np.ndarray]) -> ArrayIndex:
        base = super().subset(pick)
        return ArrayIndex(base.path, base.lattices, base.attrs, self.arrays, self.datasets)


def index_from_arrays(x: np.ndarray, y: np.ndarray | None = None, temperature: np.ndarray | None = None,
                      attrs: dict | None = None) -> ArrayIndex:
    """An index over one array of configurations (n, C, *spatial) of one shape.

    Args:
        x: configurations (or features: any (n, ...) array a model takes).
        y: (n,) class labels; None: -1 (unknown).
        temperature: (n,) k_B T / J of each sample; None: all 0 (no per-temperature
            stratification, no temperature windows).
        attrs: attributes of the data (model, Tc, ... as in a data file).
    """
    x = np.asarray(x)
    if x.ndim < 2 or x.shape[0] < 1:
        raise FieldnetError(f"the inputs must be (samples, ...) with at least one sample, got shape {x.shape}")
    n = x.shape[0]
    if x.dtype.kind not in "iubf":
        raise FieldnetError(f"the inputs must be numbers, got dtype {x.dtype}")
    if x.dtype.kind == "f" and not np.all(np.isfinite(x)):
        raise FieldnetError("the inputs contain NaN or inf")
    label = np.full(n, -1, np.int64) if y is None else np.asarray(y).astype(np.int64, copy=False)
    if label.shape != (n,):
        raise FieldnetError(f"y must have one label per sample ({n},), got shape {label.shape}")
    T = np.zeros(n) if temperature is None else np.asarray(temperature, dtype=np.float64)
    if T.shape != (n,) or not np.all(np.isfinite(T)):
        raise FieldnetError(f"temperature must be {n} finite values, one per sample")
    L = int(x.shape[-1]) if x.ndim >= 3 else 0
    lat = LatticeSamples(L, "", tuple(int(s) for s in x.shape[1:]), T, label, n, np.arange(n, dtype=np.int64))
    return ArrayIndex(IN_MEMORY, [lat], dict(attrs or {}), {L: x}, {})


def index_from_datasets(data, y: np.ndarray | None = None) -> ArrayIndex:
    """An index over one Dataset, or several of distinct lattice sizes, that meet the minimal
    data contract (:mod:`fieldnet.io.importers`).

    Args:
        data: an xarray Dataset (e.g. an opened fieldnet data group, or one made by other
            code) or a sequence of them.
        y: labels overriding the Dataset's ``label`` (one Dataset only).
    """
    import xarray as xr

    from fieldnet.io.importers import as_contract

    parts: Sequence = [data] if isinstance(data, xr.Dataset) else list(data)
    if y is not None and len(parts) != 1:
        raise FieldnetError("give labels y with a single Dataset (or put them in each Dataset's 'label')")
    lattices, arrays, datasets, groups = [], {}, {}, {}
    attrs: dict = {}
    for i, part in enumerate(parts):
        ds = as_contract(part, where=f"data set {i}" if len(parts) > 1 else "the data set")
        x = ds["config"].values
        L = int(x.shape[-1])
        if L in arrays:
            raise FieldnetError(f"two data sets hold L={L}; give one Dataset per lattice size")
        label = np.asarray(ds["label"].values if y is None else y).astype(np.int64)
        if label.shape != (x.shape[0],):
            raise FieldnetError(f"y must have one label per sample ({x.shape[0]},), got shape {label.shape}")
        T = np.asarray(ds["temperature"].values, dtype=np.float64)
        lattices.append(LatticeSamples(L, f"L{L}", tuple(int(s) for s in x.shape[1:]), T, label, x.shape[0],
                                       np.arange(x.shape[0], dtype=np.int64)))
        arrays[L], datasets[L] = x, ds
        groups[L] = {k: _plain(v) for k, v in ds.attrs.items()}
        for key in ("model", "history"):
            if key in ds.attrs and key not in attrs:
                attrs[key] = _plain(ds.attrs[key])
    attrs["groups"] = groups
    source = parts[0].encoding.get("source") if len(parts) == 1 else None
    return ArrayIndex(source or IN_MEMORY, lattices, attrs, arrays, datasets)


def _plain(value):
    if isinstance(value, np.ndarray) and value.size == 1:
        return value.reshape(-1)[0].item()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def memory_batches(index: ArrayIndex, batch_size: int, *, shuffle: bool = True,
                   seed: int = 0) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, int]]:
    """Yield (x float32 (B, *shape), label (B,), temperature (B,), L) batches from memory.

    Every selected sample appears exactly once per pass; a batch holds one lattice size, and the
    sizes' batches are interleaved.  With ``shuffle`` the samples of each size are permuted
    (seeded by ``seed``); without it they come in their stored order.  Each batch is a copy
    (the caller may augment it in place).
    """
    if batch_size < 1:
        raise FieldnetError(f"batch_size must be positive, got {batch_size}")
    rng = np.random.default_rng(seed)
    streams = [_lattice_batches(index.arrays[lat.L], lat, batch_size, rng if shuffle else None)
               for lat in index.lattices if len(lat.selected)]
    yield from interleave(streams, rng if shuffle else None)


def _lattice_batches(x: np.ndarray, lat: LatticeSamples, batch_size: int,
                     rng: np.random.Generator | None) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, int]]:
    rows = np.sort(lat.selected)
    if rng is not None:
        rows = rng.permutation(rows)
    for b in range(0, len(rows), batch_size):
        sel = rows[b : b + batch_size]
        yield np.asarray(x[sel], dtype=np.float32), lat.label[sel], lat.temperature[sel], lat.L


def batch_source(index: SampleIndex):
    """The batch generator of an index: cut from memory, or streamed from its file."""
    if isinstance(index, ArrayIndex):
        return memory_batches
    from fieldnet.training.batches import stream_batches

    return stream_batches
