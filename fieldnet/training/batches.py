"""Mini-batches streamed from a data file, with bounded memory whatever the file's size.

A :class:`SampleIndex` holds, for every lattice size in the file, the per-sample metadata
(temperature, label) -- a few bytes a sample -- and never the configurations.  Batches are read
on demand by :func:`stream_batches` with *chunk-aware shuffling*: the order of the HDF5 chunks
is shuffled, a few chunks at a time are read into a buffer (one contiguous read each), and the
buffer's samples are shuffled before they are cut into batches.  Peak memory is the buffer,
``buffer_chunks`` chunks, however large the file.

Labels follow the data contract: 1 ordered, 0 disordered, -1 unknown (refused here: supervised
training needs labels; ``fieldnet analyze confusion`` handles data without them).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fieldnet.errors import DataFileError, FieldnetError


@dataclass
class LatticeSamples:
    """The samples of one lattice size.

    Attributes:
        L: linear size.  group: HDF5 group name.  shape: per-sample config shape (C, *spatial).
        temperature, label: (n,) per sample.  chunk: samples per HDF5 chunk along ``sample``.
        selected: indices of the samples in use (after excluding windows / splitting).
    """

    L: int
    group: str
    shape: tuple[int, ...]
    temperature: np.ndarray
    label: np.ndarray
    chunk: int
    selected: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))


@dataclass
class SampleIndex:
    """Per-sample metadata of a data file, for every lattice size (or the ones asked for)."""

    path: Path
    lattices: list[LatticeSamples]
    attrs: dict

    @property
    def n_samples(self) -> int:
        return int(sum(len(lat.selected) for lat in self.lattices))

    def subset(self, pick: dict[int, np.ndarray]) -> SampleIndex:
        """A copy selecting ``pick[L]`` (indices into the file's samples of size L)."""
        lats = [LatticeSamples(lat.L, lat.group, lat.shape, lat.temperature, lat.label, lat.chunk, np.sort(pick[lat.L]))
                for lat in self.lattices if lat.L in pick]
        return SampleIndex(self.path, lats, self.attrs)


def _attr(value):
    """An HDF5 attribute as a plain Python value (netCDF stores scalars as 1-element arrays)."""
    if isinstance(value, np.ndarray):
        if value.size == 1:
            return _attr(value.reshape(-1)[0])
        return [_attr(v) for v in value.tolist()]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.generic):
        return value.item()
    return value


def read_index(path: str | os.PathLike, sizes: list[int] | None = None) -> SampleIndex:
    """Read the per-sample metadata of a data file (validated with the data contract).

    Raises DataFileError for a damaged or foreign file, FieldnetError when ``sizes`` asks for a
    lattice size the file does not hold, and DataFileError for NaN/inf temperatures.
    """
    import h5py

    from fieldnet.io.dataset import check_dataset_file, group_name

    available = check_dataset_file(path)
    sizes = available if not sizes else list(sizes)
    missing = sorted(set(sizes) - set(available))
    if missing:
        raise FieldnetError(f"{path} has no lattice size(s) {missing}; it holds {available}")
    lattices = []
    try:
        with h5py.File(path, "r") as f:
            attrs = {k: _attr(v) for k, v in f.attrs.items() if not k.startswith("_")}
            for L in sizes:
                g = f[group_name(L)]
                config = g["config"]
                T = np.asarray(g["temperature"][()], dtype=np.float64)
                label = np.asarray(g["label"][()], dtype=np.int64)
                if not np.all(np.isfinite(T)):
                    raise DataFileError(f"{path} L={L}: temperatures contain NaN or inf; the file is damaged")
                chunk = int(config.chunks[0]) if config.chunks else max(1, min(len(T), 256))
                group_attrs = {k: _attr(v) for k, v in g.attrs.items() if not k.startswith("_")}
                attrs.setdefault("groups", {})[L] = group_attrs
                lattices.append(LatticeSamples(int(L), group_name(L), tuple(int(s) for s in config.shape[1:]), T, label,
                                               chunk, np.arange(len(T), dtype=np.int64)))
    except (OSError, KeyError) as exc:
        raise DataFileError(f"cannot read {path}: {exc}; the file is damaged or not a fieldnet data file") from None
    return SampleIndex(Path(path), lattices, attrs)


def parse_window(text: str) -> tuple[float, float]:
    """'2.0:2.5' -> (2.0, 2.5), a closed temperature window in J/k_B."""
    try:
        lo, hi = (float(v) for v in text.split(":"))
    except ValueError:
        raise FieldnetError(f"temperature window {text!r} must look like LOW:HIGH, e.g. 2.0:2.5") from None
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo > hi:
        raise FieldnetError(f"temperature window {text!r}: need finite LOW <= HIGH")
    return lo, hi


def labelled_by_bands(index: SampleIndex, ordered_below: float, disordered_above: float) -> SampleIndex:
    """The index with labels set by temperature alone: 1 (ordered) at T <= ``ordered_below``,
    0 (disordered) at T >= ``disordered_above``, and -1 (not used) between; the file's own labels
    (which come from a known Tc, where there is one) are not read."""
    if not ordered_below < disordered_above:
        raise FieldnetError(f"the ordered band must lie below the disordered one: ordered_below {ordered_below} "
                            f">= disordered_above {disordered_above}")
    lats = []
    for lat in index.lattices:
        T = lat.temperature
        label = np.where(T <= ordered_below, 1, np.where(T >= disordered_above, 0, -1)).astype(np.int64)
        lats.append(LatticeSamples(lat.L, lat.group, lat.shape, T, label, lat.chunk, lat.selected))
    return dataclasses.replace(index, lattices=lats)  # keeps the kind of index (a file, or data in memory)


def supervised_split(index: SampleIndex, *, exclude: list[tuple[float, float]] = (), val_fraction: float = 0.1,
                     seed: int = 0, bands: tuple[float, float] | None = None) -> tuple[SampleIndex, SampleIndex]:
    """Training and validation selections, stratified per (L, temperature).

    Args:
        index: the data file's samples.
        exclude: temperature windows (J/k_B) whose samples are in neither selection.
        val_fraction: share of each (L, T) point held out for validation.
        seed: seeds the split.
        bands: (ordered_below, disordered_above): label by temperature bands deep in each phase
            (:func:`labelled_by_bands`) and leave the samples between them out; None uses the
            file's labels.

    Raises FieldnetError when labels are unknown (-1) or a class ends up empty.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise FieldnetError(f"--val-fraction must be in [0, 1), got {val_fraction}")
    if bands is not None:
        index = labelled_by_bands(index, *bands)
    rng = np.random.default_rng([seed, 7])
    train, val = {}, {}
    for lat in index.lattices:
        keep = np.ones(len(lat.temperature), bool)
        for lo, hi in exclude:
            keep &= ~((lat.temperature >= lo) & (lat.temperature <= hi))
        if bands is not None:
            keep &= lat.label >= 0
        if np.any(lat.label[keep] < 0):
            raise FieldnetError(
                f"{index.path} L={lat.L} has samples without a phase label (-1: no known Tc); label them by "
                "temperature bands deep in each phase (--ordered-below T1 --disordered-above T2) or use "
                "'fieldnet analyze confusion DATA'"
            )
        tr, va = [], []
        for T in np.unique(lat.temperature[keep]):
            idx = np.flatnonzero(keep & (lat.temperature == T))
            idx = rng.permutation(idx)
            n_val = int(round(val_fraction * len(idx)))
            va.append(idx[:n_val])
            tr.append(idx[n_val:])
        train[lat.L] = np.concatenate(tr) if tr else np.zeros(0, np.int64)
        val[lat.L] = np.concatenate(va) if va else np.zeros(0, np.int64)
    tr_index, va_index = index.subset(train), index.subset(val)
    labels = np.concatenate([lat.label[lat.selected] for lat in tr_index.lattices])
    names = (("disordered", f"T >= {bands[1]}"), ("ordered", f"T <= {bands[0]}")) if bands else \
        (("disordered", "T > Tc"), ("ordered", "T < Tc"))
    for cls, (name, where) in enumerate(names):
        if not np.any(labels == cls):
            window = ", ".join(f"{lo}:{hi}" for lo, hi in exclude) or "none"
            fix = ("move the bands (--ordered-below, --disordered-above) or simulate temperatures deep in both phases"
                   if bands else "narrow --exclude-T or simulate temperatures on both sides of Tc")
            raise FieldnetError(f"no {name} ({where}) training samples are left (excluded windows: {window}); {fix}")
    return tr_index, va_index


def stream_batches(index: SampleIndex, batch_size: int, *, shuffle: bool = True, seed: int = 0,
                   buffer_chunks: int = 8) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, int]]:
    """Yield (x float32 (B, C, *spatial), label (B,), temperature (B,), L) batches.

    Every selected sample appears exactly once per pass.  A batch holds one lattice size;
    with several sizes, batches of the different sizes are interleaved.  With ``shuffle`` the
    chunk order and the samples within a buffer of ``buffer_chunks`` chunks are permuted
    (seeded); without it samples come in file order.  Memory: at most ``buffer_chunks`` chunks
    plus one batch.
    """
    import h5py

    if batch_size < 1:
        raise FieldnetError(f"--batch-size must be positive, got {batch_size}")
    from fieldnet.io.dataset import config_value_range

    rng = np.random.default_rng(seed)
    with h5py.File(index.path, "r") as f:
        streams = []
        for lat in index.lattices:
            if len(lat.selected):
                config = f[lat.group]["config"]
                value_range = config_value_range(index.attrs, index.attrs.get("groups", {}).get(lat.L, {}), config.attrs)
                streams.append(_lattice_stream(config, lat, batch_size, shuffle, rng, buffer_chunks, value_range,
                                               f"L={lat.L} in {index.path}"))
        yield from interleave(streams, rng if shuffle else None)


def interleave(streams: list[Iterator], rng: np.random.Generator | None) -> Iterator:
    """Round-robin over per-size batch streams until all are exhausted; each round visits the
    streams in a random order (``rng``) or in their order (None)."""
    while streams:
        order = rng.permutation(len(streams)) if rng is not None else range(len(streams))
        finished = []
        for s in order:
            try:
                yield next(streams[s])
            except StopIteration:
                finished.append(s)
        streams = [st for i, st in enumerate(streams) if i not in finished]


def _lattice_stream(config, lat: LatticeSamples, batch_size: int, shuffle: bool, rng: np.random.Generator,
                    buffer_chunks: int, value_range=None, where: str = "") -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, int]]:
    from fieldnet.io.dataset import check_config_values

    selected = np.sort(lat.selected)
    chunk_of = selected // lat.chunk
    chunk_ids = np.unique(chunk_of)
    # the selected rows of chunk c are selected[first[c]:last[c]] (a per-chunk boolean mask
    # would cost n_chunks x n_samples: hours for a file of a million samples)
    first = dict(zip(chunk_ids.tolist(), np.searchsorted(chunk_of, chunk_ids, side="left").tolist(), strict=True))
    last = dict(zip(chunk_ids.tolist(), np.searchsorted(chunk_of, chunk_ids, side="right").tolist(), strict=True))
    if shuffle:
        chunk_ids = rng.permutation(chunk_ids)
    pending_x: list[np.ndarray] = []
    pending_i: list[np.ndarray] = []
    n_pending = 0
    for start in range(0, len(chunk_ids), buffer_chunks):
        for c in chunk_ids[start : start + buffer_chunks]:
            lo = int(c) * lat.chunk
            rows = selected[first[int(c)] : last[int(c)]]
            try:
                block = config[lo : min(lo + lat.chunk, config.shape[0])]
            except (OSError, RuntimeError) as exc:
                raise DataFileError(f"cannot read configurations of L={lat.L} (chunk {int(c)}): {exc}; the file is damaged") from None
            x = block[rows - lo].astype(np.float32)
            check_config_values(x, value_range, where or f"L={lat.L}")
            pending_x.append(x)
            pending_i.append(rows)
            n_pending += len(rows)
        x = np.concatenate(pending_x)
        idx = np.concatenate(pending_i)
        if shuffle:
            perm = rng.permutation(len(idx))
            x, idx = x[perm], idx[perm]
        last_group = start + buffer_chunks >= len(chunk_ids)
        n_full = len(idx) if last_group else (len(idx) // batch_size) * batch_size
        for b in range(0, n_full, batch_size):
            sel = idx[b : b + batch_size]
            yield x[b : b + batch_size], lat.label[sel], lat.temperature[sel], lat.L
        pending_x, pending_i = [x[n_full:]], [idx[n_full:]]
