"""The data contract: one HDF5 file, also valid netCDF-4, holding lattice configurations.

Layout, format version 2 (``xarray.open_dataset(path, engine="h5netcdf", group="L16")`` or
``xarray.open_datatree(path, engine="h5netcdf")`` reads it with no fieldnet code)::

    /                       attrs: Conventions="CF-1.10", history, source, title,
                                   fieldnet_format="dataset", format_version=2, fieldnet_version,
                                   model, seed, command, created, lattice_sizes
    /L16                    one group per lattice size L; attrs: L, model, lattice, couplings
                            (one attribute each), algorithm, Tc (NaN when unknown), Tc_source,
                            samples_per_temperature, channel_names, ...
        config              (sample, channel, y, x)  int8 spins or float32 fields
                            3D lattices: (sample, channel, z, y, x); chunked, gzip + shuffle
        temperature         (sample)  float64, k_B T / J (units "1": in units of J/k_B)
        label               (sample)  int8: 1 ordered (T < Tc), 0 disordered, -1 unknown
                            (flag_values / flag_meanings)
        energy, magnetization, ...  (sample) float32 observables per site
        temperature_grid    (temperature_point)  float64, the simulated temperatures
        tau_int_*, thinning, burn_in, completed, ...  (temperature_point) per-temperature records

Every variable has a CF long_name and, where it is a number, UDUNITS ``units`` (see
:mod:`fieldnet.io.cf`).  The per-sample variables name ``temperature`` and ``label`` as their
``coordinates`` and the per-temperature records name ``temperature_grid``, so xarray attaches
them: ``ds.energy.groupby("temperature").mean()`` works on the opened group.

Version 1 (before CF) had the same variables and values, temperature units "J/k_B", no
``coordinates`` attributes (xarray then shows temperature and label as data variables) and no
Conventions/history; it reads as before.

Samples are appended one temperature point at a time (or several finished points together, with
one flush), in grid order, to ``<path>.partial``; a point is marked ``completed`` only once its
data is flushed.  ``finalize`` renames it to ``path``.  ``--resume`` reopens the partial file, drops any samples
of an unfinished point, and continues; because each point's random stream depends only on
(seed, L, point index), the resumed file holds exactly what an uninterrupted run writes.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import functools
import os
import shutil
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from fieldnet.errors import DataFileError, FieldnetError
from fieldnet.io import cf
from fieldnet.io.atomic import describe_os_error, partial_path, require_regular_file
from fieldnet.io.formats import require_kind
from fieldnet.io.hdf5probe import probe_hdf5

FORMAT_NAME = "dataset"
FORMAT_VERSION = 2
#: the layout versions this module's readers accept (1: before the CF attributes)
READABLE_VERSIONS = (1, 2)
#: the per-sample variables other per-sample variables name as their CF coordinates
SAMPLE_COORDINATES = "temperature label"
SPATIAL_DIMS = {1: ("x",), 2: ("y", "x"), 3: ("z", "y", "x")}
# samples per HDF5 chunk along the sample axis: ~64 KiB for an int8 32x32 lattice
_TARGET_CHUNK_BYTES = 1 << 16
# room kept free beyond a point's raw size (compression overhead, chunk index, attributes)
_WRITE_MARGIN = 1 << 16


def scalar_attr(value: Any) -> Any:
    """An attribute as a Python scalar (netCDF stores numeric attributes as 1-element arrays)."""
    if isinstance(value, bytes):
        return value.decode()
    arr = np.asarray(value)
    return arr.reshape(-1)[0].item() if arr.size == 1 and arr.dtype.kind != "O" else value


def group_name(L: int) -> str:
    """The HDF5 group that holds lattice size ``L``: ``"L16"``."""
    return f"L{int(L)}"


@dataclass
class LatticeSpec:
    """What one group of a data file holds.

    Args:
        L: linear lattice size (sites per side).
        ndim: spatial dimensions (1, 2 or 3).
        channel_names: one name per channel, e.g. ``["spin"]`` or ``["cos_theta", "sin_theta"]``.
        dtype: ``"int8"`` for discrete values, ``"float32"`` for continuous fields.
        temperatures: the temperature grid, shape (n_points,), units of J/k_B.
        samples_per_temperature: configurations stored at each temperature.
        observables: names of per-sample float32 observables (per site), e.g. energy, magnetization.
        point_stats: names of per-temperature float64 records, e.g. tau_int_energy, thinning.
        attrs: group attributes: model, couplings, algorithm, Tc, ... (JSON-able scalars, strings
            or 1D lists).
        point_stat_attrs: record name -> its variable's attributes (units, long_name, comment).
    """

    L: int
    ndim: int
    channel_names: Sequence[str]
    dtype: str
    temperatures: np.ndarray
    samples_per_temperature: int
    observables: Sequence[str] = ("energy", "magnetization")
    point_stats: Sequence[str] = ()
    attrs: Mapping[str, Any] = field(default_factory=dict)
    point_stat_attrs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def config_shape(self) -> tuple[int, ...]:
        """Shape of one sample: (channel, *spatial)."""
        return (len(self.channel_names),) + (int(self.L),) * self.ndim


def _attr_value(value: Any) -> Any:
    """Coerce a Python value into something netCDF attributes hold."""
    if isinstance(value, bool):
        return np.int8(value)
    if isinstance(value, (list, tuple)):
        arr = np.asarray(value)
        return arr.astype(str).tolist() if arr.dtype.kind in "UO" else arr
    if value is None:
        return ""
    return value


class PointRecord(NamedTuple):
    """One finished temperature point, as :meth:`DatasetWriter.write_points` takes it (the
    arguments of :meth:`DatasetWriter.write_point`)."""

    L: int
    point: int
    configs: Any  # np.ndarray or EncodedConfigs
    observables: Mapping[str, np.ndarray]
    label: int | np.ndarray
    stats: Mapping[str, float] | None = None


class DatasetWriter:
    """Append configurations to a data file, one temperature point (or a group of them) at a time.

    Use as a context manager; call :meth:`finalize` when every point is written.  Writes go to
    ``<path>.partial`` and are flushed after every point or group of points, so a killed run can
    be resumed.

    Args:
        path: final output path.
        file_attrs: root attributes (model, seed, command, ...).
        resume: reopen an existing ``<path>.partial`` and continue it.
    """

    def __init__(self, path: str | os.PathLike, file_attrs: Mapping[str, Any], *, resume: bool = False):
        import h5netcdf

        self.path = Path(path)
        self.partial = partial_path(self.path)
        self._specs: dict[int, LatticeSpec] = {}
        # per lattice size, the next point to write: the leading completed points of the file
        # (kept here so that writing a point does not read the completed flags back)
        self._next_point: dict[int, int] = {}
        self._file = None
        if resume and self.partial.exists():
            try:
                self._file = h5netcdf.File(self.partial, "a")
                self._check_resume_attrs(file_attrs)
                started = self._has_completed_points()
            except (OSError, KeyError, ValueError, RuntimeError) as exc:
                self.close()
                raise DataFileError(
                    f"cannot resume from {self.partial}: it is not a readable HDF5 file ({exc}); "
                    "delete it and rerun without --resume"
                ) from exc
            if not started:
                # killed before its first point was flushed: nothing to keep, and the group
                # layout may be half-written, so start afresh
                self.close()
                self._file = None
        if self._file is None:
            # the partial file appears under its name only once it is readable: a process killed
            # while HDF5 lays out a new file leaves just a stray ``.new`` (overwritten next time)
            fresh = self.partial.with_name(self.partial.name + ".new")
            self._file = h5netcdf.File(fresh, "w")
            created = _dt.datetime.now(_dt.UTC)
            root = {**cf.file_attrs(FORMAT_NAME, FORMAT_VERSION, None), **file_attrs}
            root["history"] = cf.history_line(file_attrs.get("command"), created.strftime("%Y-%m-%dT%H:%M:%SZ"))
            root.setdefault("title", "lattice configurations")
            for key, value in root.items():
                self._file.attrs[key] = _attr_value(value)
            self._file.attrs["fieldnet_format"] = FORMAT_NAME
            self._file.attrs["format_version"] = FORMAT_VERSION
            self._file.attrs["created"] = created.isoformat(timespec="seconds")
            self._file.attrs["status"] = "partial"
            self._sync()
            os.replace(fresh, self.partial)  # the open file handle follows the rename

    def _has_completed_points(self) -> bool:
        return any(
            "completed" in g.variables and bool(np.any(np.asarray(g.variables["completed"][:]) == 1))
            for g in self._file.groups.values()
        )

    def _sync(self) -> None:
        """Push everything written so far to the file, so a killed process leaves a readable,
        resumable partial file.  (h5netcdf's own ``flush`` only writes its netCDF attributes;
        the HDF5 library's caches are flushed by the h5py file underneath.)"""
        with self._writing():
            self._file.flush()
            self._file._h5file.flush()

    def _check_room(self, n_bytes: int) -> None:
        """Refuse a write that cannot fit, before HDF5 attempts it.

        The HDF5 library does not recover from a failed write: the file can then neither be
        flushed nor closed, and the process may crash when it exits.  So a full disk or the
        file size limit (``ulimit -f``) is detected here, with the file still intact and
        resumable; the margin covers compression overhead and new metadata.
        """
        need = int(n_bytes * 1.1) + _WRITE_MARGIN
        if shutil.disk_usage(self.partial.parent).free < need:
            raise FieldnetError(describe_os_error(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), self.partial))
        try:
            import resource
        except ImportError:  # pragma: no cover - Windows has no file size limit
            return
        limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
        if limit != resource.RLIM_INFINITY and self.partial.stat().st_size + need > limit:
            raise FieldnetError(describe_os_error(OSError(errno.EFBIG, os.strerror(errno.EFBIG)), self.partial))

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """Turn a failed write (full disk, file size limit, lost permissions) into one
        FieldnetError line; h5py reports HDF5 write failures as OSError or RuntimeError."""
        try:
            yield
        except (OSError, RuntimeError) as exc:
            self._failed = True
            raise FieldnetError(describe_os_error(exc, self.partial)) from exc

    # -- set-up ---------------------------------------------------------------------------
    _RESUME_KEYS = ("model", "seed", "lattice_sizes")

    def _check_resume_attrs(self, file_attrs: Mapping[str, Any]) -> None:
        for key in self._RESUME_KEYS:
            if key in file_attrs and key in self._file.attrs:
                old = np.ravel(self._file.attrs[key]).tolist()
                new = np.ravel(_attr_value(file_attrs[key])).tolist()
                if old != new:
                    raise FieldnetError(
                        f"cannot resume {self.partial}: it was started with {key}={old}, not {new}; "
                        "rerun with the original arguments, or use --overwrite to start afresh"
                    )

    def add_lattice(self, spec: LatticeSpec) -> None:
        """Create the group for ``spec.L`` (or, when resuming, check that it matches)."""
        name = group_name(spec.L)
        self._specs[spec.L] = spec
        if name in self._file.groups:
            g = self._file.groups[name]
            old_T = np.asarray(g.variables["temperature_grid"][:])
            if (
                old_T.shape != spec.temperatures.shape
                or not np.allclose(old_T, spec.temperatures)
                or int(scalar_attr(g.attrs["samples_per_temperature"])) != spec.samples_per_temperature
            ):
                raise FieldnetError(
                    f"cannot resume {self.partial}: group {name} was started with other temperatures "
                    "or sample counts; rerun with the original arguments or use --overwrite"
                )
            self._truncate_to_completed(spec.L)
            self._next_point[spec.L] = self.completed_points(spec.L)
            return
        g = self._file.create_group(name)
        spatial = SPATIAL_DIMS[spec.ndim]
        n_points = len(spec.temperatures)
        g.dimensions = {
            "sample": None,
            "channel": len(spec.channel_names),
            **{d: int(spec.L) for d in spatial},
            "temperature_point": n_points,
        }
        chunk_n = config_chunk_samples(spec.samples_per_temperature, spec.config_shape, spec.dtype)
        cfg = g.create_variable(
            "config",
            ("sample", "channel", *spatial),
            dtype=spec.dtype,
            chunks=(chunk_n, *spec.config_shape),
            compression="gzip",
            compression_opts=4,
            shuffle=True,
        )
        _describe(cfg, "config", coordinates=SAMPLE_COORDINATES)
        cfg.attrs["channel_names"] = list(spec.channel_names)
        ch = g.create_variable("channel", ("channel",), dtype=h5py_string())
        ch[:] = np.array(list(spec.channel_names), dtype=object)
        _describe(ch, "channel")
        _describe(g.create_variable("temperature", ("sample",), dtype="f8"), "temperature")
        _describe(g.create_variable("label", ("sample",), dtype="i1"), "label")
        for name_obs in spec.observables:
            _describe(g.create_variable(name_obs, ("sample",), dtype="f4"), name_obs, coordinates=SAMPLE_COORDINATES)
        grid = g.create_variable("temperature_grid", ("temperature_point",), dtype="f8")
        grid[:] = np.asarray(spec.temperatures, dtype=np.float64)
        _describe(grid, "temperature_grid")
        done = g.create_variable("completed", ("temperature_point",), dtype="i1")
        done[:] = np.zeros(n_points, dtype="i1")
        _describe(done, "completed", coordinates="temperature_grid")
        for name_stat in spec.point_stats:
            v = g.create_variable(name_stat, ("temperature_point",), dtype="f8", fillvalue=np.nan)
            v[:] = np.full(n_points, np.nan)
            _describe(v, name_stat, coordinates="temperature_grid")
            for key, value in spec.point_stat_attrs.get(name_stat, {}).items():  # the model's own description
                v.attrs[key] = value
        g.attrs["L"] = int(spec.L)
        g.attrs["samples_per_temperature"] = int(spec.samples_per_temperature)
        g.attrs["channel_names"] = list(spec.channel_names)
        for key, value in spec.attrs.items():
            g.attrs[key] = _attr_value(value)
        self._sync()
        self._next_point[spec.L] = 0

    def _truncate_to_completed(self, L: int) -> None:
        g = self._file.groups[group_name(L)]
        done = np.asarray(g.variables["completed"][:]).astype(bool)
        n_done = int(np.argmin(done)) if not done.all() else len(done)
        keep = n_done * int(scalar_attr(g.attrs["samples_per_temperature"]))
        if g.dimensions["sample"].size != keep:
            g.resize_dimension("sample", keep)
        # points after the first gap are redone, so their records are cleared
        if n_done < len(done):
            marks = np.asarray(g.variables["completed"][:])
            marks[n_done:] = 0
            g.variables["completed"][:] = marks
        self._sync()

    # -- progress -------------------------------------------------------------------------
    def completed_points(self, L: int) -> int:
        """Number of leading temperature points of ``L`` already written (resume skips them)."""
        done = np.asarray(self._datasets(L).datasets["completed"][()]).astype(bool)
        return int(np.argmin(done)) if not done.all() else len(done)

    def write_point(
        self,
        L: int,
        point: int,
        configs: np.ndarray,
        observables: Mapping[str, np.ndarray],
        label: int | np.ndarray,
        stats: Mapping[str, float] | None = None,
    ) -> None:
        """Append the samples of temperature point ``point`` of lattice ``L`` and flush.

        Args:
            configs: (n, channel, *spatial), n == samples_per_temperature, in the group's dtype;
                or the same samples already compressed by :func:`encode_configs` (a distributed
                campaign's workers do that, so this writer only copies the chunks into the file).
            observables: name -> (n,) per-site values, for every name in the spec.
            label: the phase label of this temperature (1, 0 or -1), or one per sample (n,).
            stats: per-temperature records (tau_int, thinning, ...), names from the spec.
        """
        self.write_points([PointRecord(L, point, configs, observables, label, stats)])

    def write_points(self, points: Sequence[PointRecord]) -> None:
        """Append several finished points (each as :meth:`write_point` takes it), in order, and
        flush once: a group commit.

        The file holds exactly what writing the points one at a time gives.  Every point is
        checked before anything is written.  The samples and records of all the points are
        written and flushed first, and only then are the points marked completed (and flushed
        again), so a point marked completed has all its data in the file whatever interrupts
        the writer; an interrupted group leaves its points unmarked, and ``--resume`` redoes them.

        Raises:
            RuntimeError: a point out of order (each lattice size's points in grid order, from
                the first one not yet written) or a configs array of the wrong shape.
            KeyError, ValueError: an observable or record the group does not have, or of the
                wrong length.
            FieldnetError: the disk or the file size limit has no room, or a write failed.
        """
        runs = self._prepare(points)
        if not runs:
            return
        self._check_room(sum(run.n_bytes for run in runs))
        h5file = self._file._h5file
        with self._writing():
            for run in runs:
                self._write_run(run)
            # h5netcdf's own flush only rewrites the netCDF attributes written when the file was
            # created, which points do not change: the HDF5 file's flush is all a point needs
            h5file.flush()
            for run in runs:
                self._datasets(run.L).rows("completed").write(run.first, np.ones(len(run.points), np.int8))
            h5file.flush()
        for run in runs:
            self._next_point[run.L] = run.first + len(run.points)

    def _prepare(self, points: Sequence[PointRecord]) -> list[_Run]:
        """``points`` checked and cut into runs of consecutive points of one lattice size, the
        samples compressed as the file stores them (when the workers did not)."""
        runs: list[_Run] = []
        next_point = dict(self._next_point)
        for record in points:
            L, point, configs, observables, label, stats = record
            spec = self._specs[L]
            expected = next_point[L]
            if point != expected:
                raise RuntimeError(f"points must be written in order: expected point {expected}, got {point}")
            n = spec.samples_per_temperature
            if configs.shape != (n, *spec.config_shape):
                raise RuntimeError(f"configs shape {configs.shape} != {(n, *spec.config_shape)}")
            if not isinstance(configs, EncodedConfigs):
                configs = encode_configs(configs, spec.dtype)
            obs = {name: np.broadcast_to(np.asarray(observables[name], dtype=np.float32), (n,)) for name in spec.observables}
            labels = np.broadcast_to(np.asarray(label, dtype=np.int8), (n,))
            stats = dict(stats or {})
            handles = self._datasets(L)
            for key in stats:
                if key not in handles.datasets:
                    raise KeyError(f"group {group_name(L)} has no per-temperature record {key!r}")
            if not runs or runs[-1].L != L:
                runs.append(_Run(spec, point))
            run = runs[-1]
            run.points.append((configs, obs, labels, stats))
            run.n_bytes += configs.nbytes + sum(np.asarray(v).size * 4 for v in observables.values())
            next_point[L] = point + 1
        return runs

    def _write_run(self, run: _Run) -> None:
        """The HDF5 writes of a run of consecutive points of one lattice size, completed flags
        excepted: each per-sample variable and each record in one write for the whole run.

        The writes go to the HDF5 datasets directly, through h5py's low-level interface with
        handles, types and dataspaces made once per group (:class:`_GroupHandles`): looking each
        variable up through the netCDF layer, or h5py's slicing, costs more than writing a
        point's compressed chunks.
        """
        spec = run.spec
        n = spec.samples_per_temperature
        k = len(run.points)
        start = run.first * n
        h = self._datasets(spec.L)
        h.resize_samples(start + k * n)
        for i, (configs, _obs, _labels, _stats) in enumerate(run.points):
            h.write_configs(start + i * n, configs)
        h.rows("temperature").write(start, np.repeat(np.asarray(spec.temperatures[run.first : run.first + k], dtype=np.float64), n))
        h.rows("label").write(start, np.concatenate([labels for _c, _o, labels, _s in run.points]))
        for name in spec.observables:
            h.rows(name).write(start, np.concatenate([obs[name] for _c, obs, _l, _s in run.points]))
        # each record over the consecutive points that give it (every point, from a campaign)
        for key in dict.fromkeys(key for *_rest, stats in run.points for key in stats):
            i = 0
            while i < k:
                if key not in run.points[i][3]:
                    i += 1
                    continue
                j = i
                while j < k and key in run.points[j][3]:
                    j += 1
                h.rows(key).write(run.first + i, np.array([run.points[m][3][key] for m in range(i, j)], dtype=np.float64))
                i = j

    def _datasets(self, L: int) -> _GroupHandles:
        """The HDF5 handles of group ``L``'s variables (looked up once)."""
        cache = self.__dict__.setdefault("_dataset_handles", {})
        if L not in cache:
            cache[L] = _GroupHandles(self._file._h5file[group_name(L)], self._file.groups[group_name(L)].variables)
        return cache[L]

    def set_attrs(self, L: int | None, attrs: Mapping[str, Any]) -> None:
        """Set attributes on a lattice group (or the root when ``L`` is None)."""
        target = self._file if L is None else self._file.groups[group_name(L)]
        for key, value in attrs.items():
            target.attrs[key] = _attr_value(value)

    def finalize(self) -> Path:
        """Mark the file complete, close it and rename it to its final name."""
        with self._writing():
            self._file.attrs["status"] = "complete"
            self._file.close()
            os.replace(self.partial, self.path)
        return self.path

    def close(self) -> None:
        """Close without finalising (the partial file stays for ``--resume``)."""
        if getattr(self, "_file", None) is not None:
            try:
                self._file.close()
            except Exception:  # a file that failed mid-write may refuse to close cleanly
                pass

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _describe(variable: Any, name: str, coordinates: str | None = None) -> None:
    """Give a new variable its CF attributes (long_name, units, flags) and, for per-sample or
    per-temperature data, the variables xarray should attach as its coordinates."""
    for key, value in cf.variable_attrs(name).items():
        variable.attrs[key] = value
    if coordinates:
        variable.attrs["coordinates"] = coordinates


@dataclass
class _Run:
    """Consecutive points of one lattice size, ready to write: per point (configs, observables,
    labels, records)."""

    spec: LatticeSpec
    first: int
    points: list[tuple[Any, dict[str, np.ndarray], np.ndarray, dict[str, float]]] = field(default_factory=list)
    n_bytes: int = 0

    @property
    def L(self) -> int:
        return self.spec.L


class _Rows:
    """Writes to a 1-D dataset through h5py's low-level interface, with its type (and, for a
    fixed-size dataset, its dataspace) made once: h5py's slicing costs several times the write
    itself for a few values."""

    __slots__ = ("dsid", "dtype", "mtype", "space")

    def __init__(self, dataset: Any):
        from h5py import h5t

        self.dsid = dataset.id
        self.dtype = dataset.dtype
        self.mtype = h5t.py_create(self.dtype)
        self.space = self.dsid.get_space() if dataset.maxshape == dataset.shape else None

    def write(self, start: int, values: np.ndarray) -> None:
        """``dataset[start : start + len(values)] = values``."""
        values = np.ascontiguousarray(values, dtype=self.dtype)
        space = self.space if self.space is not None else self.dsid.get_space()  # resizable: the current extent
        space.select_hyperslab((int(start),), (len(values),))
        self.dsid.write(_memory_space(len(values)), space, values, mtype=self.mtype)


@functools.lru_cache(maxsize=64)
def _memory_space(n: int) -> Any:
    from h5py import h5s

    return h5s.create_simple((n,))


class _GroupHandles:
    """The HDF5 handles of one lattice group, looked up once: the h5py datasets by variable name,
    low-level row writers, every (dataset, axis) along the sample dimension including its scale,
    and whether ``config`` stores chunks as :func:`encode_configs` makes them."""

    def __init__(self, group: Any, variables: Iterable[str]):
        self.datasets: dict[str, Any] = {name: group[name] for name in variables}
        scale = group["sample"]
        axes = [(scale, 0)] + [(group.file[ref], int(axis)) for ref, axis in scale.attrs.get("REFERENCE_LIST", [])]
        self._sample_axes = [(d.id, list(d.shape), axis) for d, axis in axes]
        self._rows: dict[str, _Rows] = {}
        cfg = self.datasets["config"]
        self._config_layout = (cfg.chunks, cfg.dtype, _has_config_filters(cfg))

    def rows(self, name: str) -> _Rows:
        if name not in self._rows:
            self._rows[name] = _Rows(self.datasets[name])
        return self._rows[name]

    def resize_samples(self, n: int) -> None:
        """What resize_dimension("sample") does: the dimension scale and every variable along it."""
        for dsid, shape, axis in self._sample_axes:
            shape[axis] = int(n)
            dsid.set_extent(tuple(shape))

    def write_configs(self, start: int, configs: EncodedConfigs | np.ndarray) -> None:
        _write_configs(self.datasets["config"], start, configs, self._config_layout)


def _aligned_chunk(samples_per_point: int, target: int) -> int:
    """Samples per HDF5 chunk: the largest divisor of ``samples_per_point`` up to ``target``.

    Chunks that never straddle two temperature points mean that writing a point only fills new
    chunks and never rewrites (and so never moves or frees) a chunk of a point already flushed:
    a process killed mid-write cannot damage the points that ``--resume`` keeps.  When the
    sample count has no divisor near the target (e.g. a large prime), compression matters
    more and the chunk is the target size.
    """
    if samples_per_point <= target:
        return samples_per_point
    best = max(d for d in range(1, target + 1) if samples_per_point % d == 0)
    return best if best * 4 >= target else target


def config_chunk_samples(samples_per_point: int, config_shape: Sequence[int], dtype: str) -> int:
    """Samples per HDF5 chunk of ``config`` in a group with this many samples per point, per-sample
    shape (channel, *spatial) and dtype: about 64 KiB, never straddling two points when avoidable."""
    sample_bytes = int(np.prod(config_shape)) * np.dtype(dtype).itemsize
    return _aligned_chunk(int(samples_per_point), max(1, _TARGET_CHUNK_BYTES // sample_bytes))


#: the filters of ``config``, in pipeline order, as (HDF5 filter id, parameters): byte shuffle
#: (by element size), then deflate at level 4
CONFIG_FILTERS = ((2, None), (1, (4,)))
_DEFLATE_LEVEL = 4


@dataclass(frozen=True)
class EncodedConfigs:
    """A point's configurations compressed chunk by chunk, byte for byte as the data file stores them.

    Compressing is most of the cost of writing a point.  In a distributed campaign each worker
    encodes its own samples (:func:`encode_configs`), and the single writer only copies the
    chunks into the file, so the writer is not what limits the number of workers.

    Attributes:
        shape: (n, channel, *spatial) of the samples.
        dtype: their dtype ("int8" or "float32").
        chunk_samples: samples per chunk (:func:`config_chunk_samples`); it divides n.
        chunks: the compressed chunks, in sample order.
    """

    shape: tuple[int, ...]
    dtype: str
    chunk_samples: int
    chunks: tuple[bytes, ...]

    @property
    def nbytes(self) -> int:
        """Bytes of the uncompressed samples."""
        return int(np.prod(self.shape)) * np.dtype(self.dtype).itemsize

    @property
    def compressed_nbytes(self) -> int:
        return sum(len(c) for c in self.chunks)


def encode_configs(configs: np.ndarray, dtype: str) -> EncodedConfigs | np.ndarray:
    """The samples of one point as the data file stores them: cast to ``dtype``, cut into the
    group's chunks (:func:`config_chunk_samples`), byte-shuffled and deflated exactly as HDF5's
    filters do (the file reads back the same with any HDF5 reader).

    Returns the cast array itself when its chunks would straddle two points (a sample count with
    no divisor near the chunk size): such chunks are only complete once the next point is
    written, so the writer compresses them.
    """
    configs = np.ascontiguousarray(configs, dtype=dtype)
    n = configs.shape[0]
    per_chunk = config_chunk_samples(n, configs.shape[1:], dtype) if n else 1
    if n == 0 or n % per_chunk:
        return configs
    itemsize = configs.dtype.itemsize
    chunks = []
    for start in range(0, n, per_chunk):
        raw = configs[start : start + per_chunk].view(np.uint8).reshape(-1, itemsize)
        if itemsize > 1:  # HDF5's shuffle: every element's first byte, then every second byte, ...
            raw = raw.T
        chunks.append(zlib.compress(np.ascontiguousarray(raw).tobytes(), _DEFLATE_LEVEL))
    return EncodedConfigs(tuple(int(s) for s in configs.shape), str(np.dtype(dtype)), per_chunk, tuple(chunks))


def decode_configs(encoded: EncodedConfigs) -> np.ndarray:
    """The samples of :func:`encode_configs` as an array again."""
    dtype = np.dtype(encoded.dtype)
    per_chunk_shape = (encoded.chunk_samples, *encoded.shape[1:])
    parts = []
    for chunk in encoded.chunks:
        raw = np.frombuffer(zlib.decompress(chunk), dtype=np.uint8)
        if dtype.itemsize > 1:
            raw = raw.reshape(dtype.itemsize, -1).T
        parts.append(np.ascontiguousarray(raw).view(dtype).reshape(per_chunk_shape))
    return np.concatenate(parts) if parts else np.zeros(encoded.shape, dtype)


def _has_config_filters(dataset: Any) -> bool:
    """Whether ``dataset``'s filter pipeline is :data:`CONFIG_FILTERS`."""
    plist = dataset.id.get_create_plist()
    filters = [plist.get_filter(i) for i in range(plist.get_nfilters())]
    if len(filters) != len(CONFIG_FILTERS):
        return False
    return all(f[0] == fid and (params is None or tuple(f[2]) == params) for f, (fid, params) in zip(filters, CONFIG_FILTERS, strict=True))


def _stores_chunks_like(dataset: Any, encoded: EncodedConfigs, start: int, layout: tuple | None = None) -> bool:
    """Whether ``encoded``'s chunks are byte for byte what ``dataset`` would store at ``start``:
    the same chunk shape, dtype and filter pipeline, and ``start`` on a chunk boundary.
    ``layout`` is the dataset's (chunks, dtype, has the config filters), when already known."""
    chunks, dtype, filters_ok = layout if layout is not None else (dataset.chunks, dataset.dtype, None)
    if chunks != (encoded.chunk_samples, *encoded.shape[1:]) or dtype != np.dtype(encoded.dtype):
        return False
    if start % encoded.chunk_samples:
        return False
    return _has_config_filters(dataset) if filters_ok is None else filters_ok


def _write_configs(dataset: Any, start: int, configs: EncodedConfigs | np.ndarray, layout: tuple | None = None) -> None:
    """Store a point's samples from sample ``start`` on: encoded chunks are copied as they are
    (HDF5 only writes them), anything else goes through HDF5's own filters.  ``layout``: see
    :func:`_stores_chunks_like`."""
    if isinstance(configs, EncodedConfigs):
        if _stores_chunks_like(dataset, configs, start, layout):
            offset = [0] * dataset.ndim
            write_chunk = dataset.id.write_direct_chunk
            for i, chunk in enumerate(configs.chunks):
                offset[0] = start + i * configs.chunk_samples
                write_chunk(tuple(offset), chunk)
            return
        configs = decode_configs(configs)  # a file laid out otherwise (e.g. resumed from an older version)
    dataset[start : start + configs.shape[0]] = configs.astype(dataset.dtype, copy=False)


def h5py_string():
    """The variable-length UTF-8 string type netCDF-4 uses."""
    import h5py

    return h5py.string_dtype()


# ---------------------------------------------------------------------------------------------
# reading


def check_dataset_file(path: str | os.PathLike) -> list[int]:
    """Validate that ``path`` is a complete fieldnet data file; return its lattice sizes.

    Raises DataFileError naming the problem (missing, not a regular file, not HDF5, truncated,
    another tool's file, a newer format, unfinished, links to other files, sizes its stored
    bytes do not hold or beyond the memory budget, labels other than -1, 0, 1) and the fix.
    Reads metadata, and of the data only the labels (one byte a sample).
    """
    import h5py

    p = require_regular_file(path, "data file", "make one with 'fieldnet simulate'")
    probe_hdf5(p)  # a corrupt file can hang the HDF5 library: walk its metadata in a child first
    try:
        with h5py.File(p, "r") as f:
            require_kind(f.attrs, FORMAT_NAME, p)
            _check_version_and_status(p, f.attrs)
            sizes = sorted(int(scalar_attr(f[name].attrs["L"])) for name in f if name.startswith("L") and "config" in f[name])
            if not sizes:
                raise DataFileError(f"{p} holds no lattice groups; it is empty or damaged, so re-create it with 'fieldnet simulate'")
            for L in sizes:
                g = f[group_name(L)]
                for var in ("config", "temperature", "label"):
                    if var not in g:
                        raise DataFileError(f"{p} group {group_name(L)} lacks '{var}'; the file is damaged, re-create it")
                _check_group_layout(p, g, L)
                if g["config"].shape[0] != g["temperature"].shape[0] or g["label"].shape[0] != g["temperature"].shape[0]:
                    raise DataFileError(f"{p} group {group_name(L)} has inconsistent sample counts; the file is damaged")
                check_group_sizes(p, g, L)
                _check_labels(p, g, L)
    except DataFileError:
        raise
    except (OSError, KeyError, ValueError, TypeError, RuntimeError, IndexError, OverflowError) as exc:
        raise DataFileError(f"{p} is not a readable HDF5 data file ({type(exc).__name__}: {exc}); it may be truncated or corrupt") from exc
    return sizes


def _check_version_and_status(p: Path, attrs: Any) -> None:
    """A data file of a format this fieldnet reads (``format_version``), and not unfinished."""
    version = np.ravel(np.asarray(attrs.get("format_version", FORMAT_VERSION)))
    if version.size != 1 or version.dtype.kind not in "iu" or not 1 <= int(version[0]) <= FORMAT_VERSION:
        shown = version.tolist() if version.size != 1 else version.tolist()[0]
        raise DataFileError(
            f"{p} has format_version {shown!r}; this fieldnet reads data files of version {FORMAT_VERSION} "
            "(a newer fieldnet wrote it, or it is damaged): upgrade fieldnet or re-create the file"
        )
    status = attrs.get("status")
    if status is not None:
        status = scalar_attr(status)
        if status != "complete":
            raise DataFileError(
                f"{p} is an unfinished data file (status={status!r}); finish it with the 'fieldnet simulate' command "
                "that made it plus --resume, or re-create it"
            )


def _check_group_layout(p: Path, g: Any, L: int) -> None:
    """Shapes and dtypes (metadata only, no data read) that every reader relies on."""
    import h5py

    name = group_name(L)
    cfg = g["config"]
    if not isinstance(cfg, h5py.Dataset):
        raise DataFileError(f"{p} group {name}: 'config' is not an array; the file is damaged, re-create it")
    n_spatial = cfg.ndim - 2
    if (
        n_spatial not in SPATIAL_DIMS
        or cfg.shape[1] < 1
        or any(int(n) != L for n in cfg.shape[2:])
        or cfg.dtype not in (np.dtype("int8"), np.dtype("float32"))
    ):
        raise DataFileError(
            f"{p} group {name}: config is {cfg.dtype} with shape {cfg.shape}, not int8 or float32 "
            f"(sample, channel, {L}, {L}[, {L}]); the file is damaged or not written by 'fieldnet simulate'"
        )
    for var, kinds in (("temperature", "f"), ("label", "iu")):
        v = g[var]
        if not isinstance(v, h5py.Dataset) or v.ndim != 1 or v.dtype.kind not in kinds:
            raise DataFileError(f"{p} group {name}: '{var}' is not a 1-D {'float' if kinds == 'f' else 'integer'} array; the file is damaged")


def check_group_sizes(p: Path, g: Any, L: int) -> None:
    """Every size the h5py group ``g`` of lattice size ``L`` in file ``p`` declares, against the
    bytes it stores and the memory budget (DataFileError otherwise).

    Readers hold the per-sample arrays (temperature, label, observables) whole, one sample's
    configuration (as float32) per batch row, and one HDF5 chunk of ``config`` at a time.
    """
    import h5py

    from fieldnet.io.limits import require_backed, require_memory

    name = group_name(L)
    fix = "the file is damaged or crafted, re-create it with 'fieldnet simulate'"
    per_sample = 0
    for var in g:
        v = g.get(var)
        if isinstance(v, h5py.Dataset) and v.shape is not None and not _dimension_only(v):
            declared = int(np.prod(v.shape, dtype=object)) * v.dtype.itemsize
            require_backed(declared, int(v.id.get_storage_size()), f"{p} group {name} variable '{var}'")
            if var != "config" and v.ndim == 1 and v.shape[0] == g["config"].shape[0]:
                per_sample += v.dtype.itemsize
    cfg = g["config"]
    n_samples = int(cfg.shape[0])
    require_memory(n_samples * per_sample, f"{p} group {name}: the per-sample records of {n_samples:,} samples", fix, error=DataFileError)
    sample_floats = int(np.prod(cfg.shape[1:], dtype=object))
    require_memory(sample_floats * 4, f"{p} group {name}: one configuration {tuple(cfg.shape[1:])}", fix, error=DataFileError)
    if cfg.chunks is not None:
        chunk_bytes = int(np.prod(cfg.chunks, dtype=object)) * cfg.dtype.itemsize
        require_memory(chunk_bytes, f"{p} group {name}: one HDF5 chunk {cfg.chunks} of config", fix, error=DataFileError)


def _dimension_only(v: Any) -> bool:
    """Whether ``v`` is netCDF's placeholder for a dimension without a variable (never read)."""
    name = v.attrs.get("NAME", b"") if "NAME" in v.attrs else b""
    name = name.decode("ascii", "replace") if isinstance(name, bytes) else str(name)
    return name.startswith("This is a netCDF dimension but not a netCDF variable")


def _check_labels(p: Path, g: Any, L: int) -> None:
    """Labels follow the contract: 1 ordered, 0 disordered, -1 unknown."""
    label = np.asarray(g["label"][()])
    bad = label[(label < -1) | (label > 1)]
    if bad.size:
        raise DataFileError(
            f"{p} group {group_name(L)}: label {int(bad[0])} is not a phase label (1 ordered, 0 disordered, "
            "-1 unknown); the file is damaged or was written by another tool, fix its 'label' variable"
        )


#: the values each model's configurations take, for data files that do not declare them
#: (model -> function of the group attributes -> (low, high, integers only) or None)
_MODEL_VALUES = {
    "ising2d": lambda attrs: (-1, 1, True),
    "ising3d": lambda attrs: (-1, 1, True),
    "potts": lambda attrs: (0, 1, True) if bool(scalar_attr(attrs.get("onehot", 0))) else (0, int(scalar_attr(attrs["q"])) - 1, True),
    "xy": lambda attrs: (-1.0, 1.0, False),
}


def config_value_range(root_attrs: Mapping[str, Any], group_attrs: Mapping[str, Any],
                       config_attrs: Mapping[str, Any] | None = None) -> tuple[float, float] | None:
    """The closed range configuration values must lie in, or None when nothing is known.

    The config variable's CF ``valid_range`` (or ``valid_min``/``valid_max``) wins; else the
    range of the model the file names (Ising spins -1..1, Potts states 0..q-1, XY components
    -1..1).
    """
    attrs = dict(config_attrs or {})
    try:
        if "valid_range" in attrs:
            low, high = (float(v) for v in np.ravel(attrs["valid_range"])[:2])
            return low, high
        if "valid_min" in attrs or "valid_max" in attrs:
            return float(scalar_attr(attrs.get("valid_min", -np.inf))), float(scalar_attr(attrs.get("valid_max", np.inf)))
        model = scalar_attr(group_attrs.get("model", root_attrs.get("model", "")))
        rule = _MODEL_VALUES.get(str(model))
        if rule is None:
            return None
        low, high, _ = rule(group_attrs)
        return float(low), float(high)
    except (KeyError, TypeError, ValueError, IndexError):
        return None


def check_config_values(values: np.ndarray, value_range: tuple[float, float] | None, where: str) -> None:
    """DataFileError unless every value is finite and (when known) inside ``value_range``.

    Args:
        values: configurations as read (any shape).
        value_range: from :func:`config_value_range`.
        where: names the file and lattice size in the message.
    """
    if values.size == 0:
        return
    if values.dtype.kind == "f" and not np.all(np.isfinite(values)):
        raise DataFileError(f"configurations of {where} contain NaN or inf; the data file is damaged")
    if value_range is None:
        return
    low, high = value_range
    slack = 1e-6 * max(1.0, abs(low), abs(high)) if values.dtype.kind == "f" else 0
    vmin, vmax = values.min(), values.max()
    if vmin < low - slack or vmax > high + slack:
        bad = vmin if vmin < low - slack else vmax
        raise DataFileError(
            f"configurations of {where} hold the value {bad.item():g}, outside the model's range [{low:g}, {high:g}]; "
            "the data file is damaged or mislabelled, re-create it with 'fieldnet simulate'"
        )


def open_dataset(path: str | os.PathLike, L: int | None = None, *, chunks: Any = "auto"):
    """Open one lattice size of a data file as a lazily loaded ``xarray.Dataset``.

    Args:
        path: a data file written by ``fieldnet simulate``.
        L: the lattice size to open; may be omitted when the file holds one size.
        chunks: passed to xarray.  The default ``"auto"`` gives dask-backed arrays when dask
            is installed, each chunk a whole multiple of the file's HDF5 chunks up to dask's
            ``array.chunk-size`` (128 MiB by default), so files larger than memory are processed
            chunk by chunk; without dask, or with ``chunks=None``, arrays are xarray's lazily
            indexed (non-dask) arrays.

    Returns:
        Dataset with ``config (sample, channel, y, x)``, ``temperature``, ``label`` and the
        observables, and the provenance attributes of the file and the group.
    """
    import xarray as xr

    sizes = check_dataset_file(path)
    if L is None:
        if len(sizes) > 1:
            raise FieldnetError(f"{path} holds several lattice sizes {sizes}; choose one (L= in Python, --L on the command line)")
        L = sizes[0]
    if L not in sizes:
        raise FieldnetError(f"{path} has no lattice size L={L}; it holds {sizes}")
    guarded = isinstance(chunks, str) and chunks == "auto"
    if chunks is not None:
        try:
            import dask  # noqa: F401
        except ImportError:
            chunks = None
            guarded = False
    try:
        ds = xr.open_dataset(path, engine="h5netcdf", group=group_name(L), phony_dims="sort", chunks=None if guarded else chunks)
    except Exception as exc:  # noqa: BLE001 -- h5netcdf/xarray raise many types (even AttributeError) for damaged netCDF layouts
        raise DataFileError(f"cannot read {path} group {group_name(L)} ({type(exc).__name__}: {exc}); the file is damaged, re-create it") from exc
    n_spatial = ds["config"].ndim - 2 if "config" in ds else 0
    if "config" not in ds or ds["config"].dims != ("sample", "channel", *SPATIAL_DIMS.get(n_spatial, ())) or ds["temperature"].dims != ("sample",):
        raise DataFileError(
            f"{path} group {group_name(L)} does not name its dimensions (sample, channel, y, x) as netCDF; "
            "the file was altered by another tool, re-create it with 'fieldnet simulate'"
        )
    if guarded:
        ds = _dask_backed(ds, path, L)
    import h5py

    with h5py.File(path, "r") as f:
        for key, value in f.attrs.items():
            ds.attrs.setdefault(f"file_{key}" if key in ds.attrs else key, value.decode() if isinstance(value, bytes) else value)
    return ds


class _GuardedReads:
    """A lazily indexed file variable whose failed reads raise DataFileError.

    Dask reads chunks long after ``open_dataset`` returned; a damaged chunk (a flipped bit in
    compressed data, a truncated file) then fails inside h5py with an OSError.  This wrapper
    turns that into the package's own error naming the file and variable.
    """

    def __init__(self, variable: Any, path: str | os.PathLike, name: str, check=None):
        self.variable = variable
        self.path = str(path)
        self.name = name
        self.check = check
        self.shape = variable.shape
        self.dtype = variable.dtype
        self.ndim = variable.ndim

    def __getitem__(self, key: Any) -> np.ndarray:
        try:
            values = np.asarray(self.variable[key].values)
        except (OSError, RuntimeError, ValueError, KeyError) as exc:
            raise DataFileError(
                f"cannot read '{self.name}' from {self.path} ({type(exc).__name__}: {exc}); "
                "the file is damaged, re-create it with 'fieldnet simulate'"
            ) from exc
        if self.check is not None:
            self.check(values)
        return values


def _dask_backed(ds: Any, path: str | os.PathLike, L: int) -> Any:
    """``ds`` (lazily indexed, not yet read) with every data variable as a guarded dask array."""
    import dask.array as da
    from dask.base import tokenize

    sample_chunk = _sample_chunk(path, L)
    stamp = tokenize(os.path.abspath(path), os.path.getmtime(path), L)
    data = {}
    value_range = config_value_range({}, ds.attrs, ds["config"].attrs) if "config" in ds else None

    def check_config(values: np.ndarray) -> None:
        check_config_values(values, value_range, f"L={L} in {path}")

    for name, var in ds.data_vars.items():
        chunks = tuple(sample_chunk if dim == "sample" else -1 for dim in var.dims)
        data[name] = da.from_array(
            _GuardedReads(var.variable, path, str(name), check_config if name == "config" else None),
            chunks=chunks,
            name=f"fieldnet-{name}-{stamp}",
            asarray=False,
            lock=False,  # xarray's backend array already holds the HDF5 lock while reading
            meta=np.empty((0,) * var.ndim, dtype=var.dtype),
        )
    return ds.copy(data=data)


def _sample_chunk(path: str | os.PathLike, L: int) -> int:
    """Samples per dask chunk: whole HDF5 chunks of ``config`` (so none is decompressed twice),
    about dask's ``array.chunk-size`` in total, and never split along channel or space."""
    import dask
    import h5py
    from dask.utils import parse_bytes

    try:
        with h5py.File(path, "r") as f:
            cfg = f[group_name(L)]["config"]
            disk_chunk = int(cfg.chunks[0]) if cfg.chunks else 1
            sample_bytes = max(1, int(np.prod(cfg.shape[1:])) * cfg.dtype.itemsize)
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise DataFileError(f"cannot read {path} group {group_name(L)}: {exc}") from exc
    target = parse_bytes(dask.config.get("array.chunk-size"))
    return max(1, target // (disk_chunk * sample_bytes)) * disk_chunk


def lattice_sizes(path: str | os.PathLike) -> list[int]:
    """The lattice sizes a data file holds, ascending."""
    return check_dataset_file(path)
