"""Data made by other code -- numpy arrays, a plain xarray Dataset -- under fieldnet's data contract.

The minimal data contract
-------------------------
What fieldnet needs of a data set of one lattice size; nothing else is required:

==================  ==========================  ================================================
variable            dimensions                  values
==================  ==========================  ================================================
``config``          (sample, channel, x)        the configurations: numbers, finite.  Discrete
                    (sample, channel, y, x)     values (Ising spins +-1, Potts states 0..q-1)
                    (sample, channel, z, y, x)  are stored as int8, anything else as float32.
``temperature``     (sample)                    k_B T / J of each sample, finite (J/k_B units)
==================  ==========================  ================================================

Optional, used when present:

* ``label (sample)``: 1 ordered, 0 disordered, -1 unknown.  Supervised training needs 0 and 1;
  without labels a known ``Tc`` gives them (T < Tc ordered), else they are -1 (learning by
  confusion still works).
* any other per-sample variable (``energy``, ``magnetization``, ...): kept as an observable.
* attributes: ``Tc`` (J/k_B), ``model`` (e.g. ``"ising2d"``: it picks the symmetries used for
  augmentation; unknown models get translations, the point group and the global spin flip),
  ``lattice``, couplings such as ``J`` and ``h``, ``title``, anything else.  None of fieldnet's
  provenance attributes (seed, algorithm, burn-in, command, ...) is needed: an imported data set
  says it was imported (``source``) and keeps the attributes it came with.

Spins coded 0/1 should be given as -1/+1 (``2 * s - 1``) so that the spin flip s -> -s is the
Ising symmetry the augmentation assumes.  Flattened rows (one sample a row of L*L sites, as in
the data of Carrasquilla and Melko) are reshaped with ``lattice_shape=(L, L)``.

:func:`from_arrays` and :func:`from_xarray` return a Dataset in the layout of an opened fieldnet
data group (CF attributes, ``temperature`` and ``label`` as coordinates), which every Python entry
point takes as it is (``PhaseClassifier.fit``, ``predict_dataset``, ``confusion_curve``);
:func:`write_dataset` stores it as a data file for the command line.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fieldnet.errors import FieldnetError
from fieldnet.io import cf

SPATIAL_DIMS = {1: ("x",), 2: ("y", "x"), 3: ("z", "y", "x")}

#: variables of the contract that are not observables
_STRUCTURE = ("config", "temperature", "label", "channel", "sample_index")


def _storage_dtype(config: np.ndarray) -> np.dtype:
    """int8 when every value is an integer in int8's range (spins, states), else float32."""
    if config.dtype.kind in "iub":
        lo, hi = (int(config.min()), int(config.max())) if config.size else (0, 0)
        return np.dtype(np.int8) if -128 <= lo and hi <= 127 else np.dtype(np.float32)
    if config.dtype.kind != "f":
        raise FieldnetError(f"configurations must be numbers, got dtype {config.dtype}")
    if config.size and np.all(np.isfinite(config)) and np.all(config == np.round(config)) \
            and config.min() >= -128 and config.max() <= 127:
        return np.dtype(np.int8)
    return np.dtype(np.float32)


def _labels(label: Any, temperature: np.ndarray, Tc: float | None) -> np.ndarray:
    n = temperature.shape[0]
    if label is None:
        if Tc is not None and np.isfinite(Tc):
            return (temperature < Tc).astype(np.int8)
        return np.full(n, -1, np.int8)
    lab = np.asarray(label)
    if lab.shape != (n,):
        raise FieldnetError(f"label must have one value per sample ({n},), got shape {lab.shape}")
    if lab.dtype.kind == "b":
        return lab.astype(np.int8)
    if lab.dtype.kind not in "iuf" or not np.all(np.isin(lab, (-1, 0, 1))):
        raise FieldnetError("label values must be 1 (ordered), 0 (disordered) or -1 (unknown)")
    return lab.astype(np.int8)


def from_arrays(config: Any, temperature: Any, label: Any = None, *, lattice_shape: Sequence[int] | None = None,
                channel_names: Sequence[str] | None = None, observables: Mapping[str, Any] | None = None,
                Tc: float | None = None, model: str | None = None, attrs: Mapping[str, Any] | None = None):
    """A fieldnet data set of one lattice size from numpy arrays.

    Args:
        config: configurations, (sample, channel, *spatial) with 1 to 3 spatial axes; with
            ``lattice_shape``, any array of ``sample`` rows that reshape to (channel, *lattice_shape)
            (e.g. flattened (sample, L*L) rows).
        temperature: (sample,) k_B T / J of each sample (or one number for all).
        label: (sample,) 1 ordered, 0 disordered, -1 unknown (booleans: True ordered); default
            from ``Tc`` (T < Tc ordered), else -1.
        lattice_shape: the spatial shape of one channel, e.g. (L, L).
        channel_names: one name per channel (default "spin", or "channel0", ... for several).
        observables: name -> (sample,) per-sample values (energy, magnetization, ...).
        Tc: the model's critical temperature (J/k_B), when known.
        model: the lattice model (``"ising2d"``, ``"potts"``, ...), when known.
        attrs: further attributes (couplings, title, ...).

    Returns:
        xarray.Dataset with ``config (sample, channel, *spatial)`` (int8 or float32),
        coordinates ``temperature``, ``label`` (sample) and ``channel``, the observables, and
        the attributes L, Tc, model, channel_names, source.
    Raises:
        FieldnetError naming the first problem (shape, NaN, label values).
    """
    import xarray as xr

    x = np.asarray(config)
    if x.ndim < 1 or x.shape[0] < 1:
        raise FieldnetError(f"config must hold at least one sample, got shape {x.shape}")
    n = x.shape[0]
    if lattice_shape is not None:
        spatial = tuple(int(s) for s in lattice_shape)
        per_channel = int(np.prod(spatial))
        if per_channel < 1 or x[0].size % per_channel:
            raise FieldnetError(f"a sample of {x[0].size} values does not reshape to channels of lattice_shape {spatial}")
        x = x.reshape((n, x[0].size // per_channel, *spatial))
    if x.ndim - 2 not in SPATIAL_DIMS:
        raise FieldnetError(
            f"config must be (sample, channel, *spatial) with 1 to 3 spatial axes, got shape {x.shape}; "
            "give lattice_shape=(L, L) for flattened rows or single-channel (sample, L, L) arrays")
    if x.dtype.kind not in "iubf":
        raise FieldnetError(f"configurations must be numbers, got dtype {x.dtype}")
    if x.dtype.kind == "f" and not np.all(np.isfinite(x)):
        raise FieldnetError("configurations contain NaN or inf")
    T = np.asarray(temperature, dtype=np.float64)
    T = np.full(n, float(T)) if T.ndim == 0 else T
    if T.shape != (n,):
        raise FieldnetError(f"temperature must have one value per sample ({n},), got shape {T.shape}")
    if not np.all(np.isfinite(T)):
        raise FieldnetError("temperatures contain NaN or inf")
    Tc_value = float("nan") if Tc is None else float(Tc)
    lab = _labels(label, T, Tc_value if np.isfinite(Tc_value) else None)
    names = list(channel_names) if channel_names is not None else (
        ["spin"] if x.shape[1] == 1 else [f"channel{c}" for c in range(x.shape[1])])
    if len(names) != x.shape[1]:
        raise FieldnetError(f"{len(names)} channel names for {x.shape[1]} channels")
    spatial_dims = SPATIAL_DIMS[x.ndim - 2]
    data = {"config": (("sample", "channel", *spatial_dims), x.astype(_storage_dtype(x), copy=False),
                       cf.variable_attrs("config"))}
    for name, values in (observables or {}).items():
        v = np.asarray(values, dtype=np.float32)
        if v.shape != (n,):
            raise FieldnetError(f"observable {name!r} must have one value per sample ({n},), got shape {v.shape}")
        data[str(name)] = ("sample", v, cf.variable_attrs(str(name)))
    L = int(x.shape[-1])
    ds = xr.Dataset(
        data,
        coords={"temperature": ("sample", T, cf.variable_attrs("temperature")),
                "label": ("sample", lab, cf.variable_attrs("label")),
                "channel": ("channel", names, cf.variable_attrs("channel"))},
        attrs={**dict(attrs or {}), "L": L, "Tc": Tc_value, "model": model or (attrs or {}).get("model", "unknown"),
               "channel_names": names, "source": "imported into the fieldnet data contract"},
    )
    return ds


def from_xarray(ds, *, config: str = "config", temperature: str = "temperature", label: str | None = "label",
                lattice_shape: Sequence[int] | None = None, Tc: float | None = None, model: str | None = None):
    """A fieldnet data set of one lattice size from a Dataset written by any code.

    Args:
        ds: an xarray Dataset with a configuration variable and a per-sample temperature, named
            by ``config`` and ``temperature`` (its sample dimension is the temperature's).  The
            configuration's dimensions are (sample, channel, *spatial), or (sample, *spatial) with
            ``lattice_shape`` (a channel axis is then added).
        label: the name of the per-sample phase labels, when there are any.
        Tc, model: override (or supply) the ``Tc`` and ``model`` attributes.

    Every other variable along the sample dimension is kept as an observable, and the
    Dataset's attributes are kept.

    Returns:
        The Dataset in the layout :func:`from_arrays` describes.
    """
    missing = [name for name in (config, temperature) if name not in ds.variables]
    if missing:
        raise FieldnetError(
            f"the data set lacks {', '.join(repr(m) for m in missing)}; the data contract needs configurations "
            f"(sample, channel, *spatial) and a per-sample temperature (see fieldnet.io.importers)")
    t = ds[temperature]
    if t.ndim != 1:
        raise FieldnetError(f"{temperature!r} must be one value per sample, got dimensions {t.dims}")
    sample_dim = t.dims[0]
    c = ds[config]
    if c.dims[0] != sample_dim:
        raise FieldnetError(f"{config!r} must have the sample dimension {sample_dim!r} first, got {c.dims}")
    attrs = dict(ds.attrs)
    tc = Tc if Tc is not None else _number(attrs.get("Tc"))
    observables = {str(name): ds[name].values for name in ds.variables
                   if name not in (config, temperature, label, *_STRUCTURE) and ds[name].dims == (sample_dim,)
                   and ds[name].dtype.kind in "iuf"}
    has_label = label is not None and label in ds.variables
    channel_names = None
    if "channel" in ds.coords and c.ndim > 1 and c.dims[1] == "channel" and lattice_shape is None:
        channel_names = [str(v) for v in np.ravel(ds["channel"].values)]
    out = from_arrays(c.values, t.values, ds[label].values if has_label else None, lattice_shape=lattice_shape,
                      channel_names=channel_names, observables=observables, Tc=tc,
                      model=model or _text(attrs.get("model")), attrs=attrs)
    if "sample_index" in ds.coords and ds["sample_index"].dims == (sample_dim,):
        out = out.assign_coords(sample_index=("sample", np.asarray(ds["sample_index"].values),
                                              cf.variable_attrs("sample_index")))
    return out


def _number(value: Any) -> float | None:
    try:
        v = float(np.ravel(value)[0])
    except (TypeError, ValueError, IndexError):
        return None
    return v if np.isfinite(v) else None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    v = np.ravel(value)[0] if isinstance(value, np.ndarray) else value
    return v.decode() if isinstance(v, bytes) else str(v)


def as_contract(data, *, where: str = "the data set"):
    """``data`` checked against the minimal contract and in its layout: a Dataset that is
    already laid out (e.g. an opened fieldnet data group, or :func:`from_arrays` output) is
    returned with its values untouched; another Dataset goes through :func:`from_xarray`.

    Raises FieldnetError naming what is missing or wrong.
    """
    import xarray as xr

    if not isinstance(data, xr.Dataset):
        raise FieldnetError(f"{where}: expected an xarray Dataset, got {type(data).__name__}")
    if "config" in data.variables and "temperature" in data.variables:
        c, t = data["config"], data["temperature"]
        canonical = (c.ndim - 2 in SPATIAL_DIMS and c.dims == ("sample", "channel", *SPATIAL_DIMS[c.ndim - 2])
                     and t.dims == ("sample",))
        if canonical and c.dtype.kind in "iuf":
            if c.dtype.kind == "f" and not bool(np.isfinite(c).all()):
                raise FieldnetError(f"{where}: configurations contain NaN or inf")
            if not bool(np.isfinite(t).all()):
                raise FieldnetError(f"{where}: temperatures contain NaN or inf")
            ds = data
            if "label" in ds.variables:
                _labels(ds["label"].values, np.asarray(t.values), None)
            else:
                tc = _number(ds.attrs.get("Tc"))
                ds = ds.assign_coords(label=("sample", _labels(None, np.asarray(t.values, np.float64), tc),
                                             cf.variable_attrs("label")))
            coords = [n for n in ("temperature", "label") if n in ds.data_vars]
            return ds.set_coords(coords) if coords else ds
    return from_xarray(data)


def write_dataset(data, path: str | os.PathLike, *, overwrite: bool = True, command: str | None = None) -> Path:
    """Store one or several data sets (one lattice size each) as a fieldnet data file.

    Samples are written grouped by temperature, in ascending order (a sample's row in the file
    can therefore differ from its position in ``data``); a data file holds the same number of
    samples at every temperature.  The file is written atomically (``<path>.partial``, then
    renamed) and opens with ``fieldnet.open_dataset`` and every command.

    Args:
        data: a Dataset (see :func:`as_contract`) or a sequence of them with distinct L.
        path: the file to write.
        overwrite: replace an existing file (False: a FieldnetError if it exists).
        command: what made the data, for the ``history`` attribute (default: this process).

    Returns:
        The path written.
    """
    import xarray as xr

    from fieldnet.io.atomic import check_output_path
    from fieldnet.io.dataset import DatasetWriter, LatticeSpec

    parts = [data] if isinstance(data, xr.Dataset) else list(data)
    parts = [as_contract(p, where=f"data set {i}") for i, p in enumerate(parts)]
    sizes = [int(p["config"].shape[-1]) for p in parts]
    if len(set(sizes)) != len(sizes):
        raise FieldnetError(f"the data sets have repeated lattice sizes {sizes}; give one data set per L")
    out = check_output_path(path, overwrite=overwrite)
    first = parts[0].attrs
    root = {"model": _text(first.get("model")) or "unknown", "lattice_sizes": sorted(sizes),
            "command": command or cf.process_command(),
            "title": _text(first.get("title")) or "lattice configurations imported into fieldnet"}
    with DatasetWriter(out, root) as writer:
        for ds, L in zip(parts, sizes, strict=True):
            _write_lattice(writer, ds, L, LatticeSpec)
        return writer.finalize()


def _write_lattice(writer, ds, L: int, LatticeSpec) -> None:
    T = np.asarray(ds["temperature"].values, dtype=np.float64)
    order = np.argsort(T, kind="stable")
    temps, counts = np.unique(T, return_counts=True)
    if np.any(counts != counts[0]):
        raise FieldnetError(
            f"L={L}: a data file holds the same number of samples at every temperature, got {counts.min()} to "
            f"{counts.max()}; use the Dataset in memory (PhaseClassifier.fit, predict_dataset) or subsample it")
    config = np.asarray(ds["config"].values)
    dtype = _storage_dtype(config)
    observables = [str(n) for n in ds.data_vars if n != "config" and ds[n].dims == ("sample",)]
    skip = {"L", "channel_names", "source", "Conventions", "history", "fieldnet_format", "format_version",
            "samples_per_temperature", "status", "created", "_NCProperties"}
    group_attrs = {k: v for k, v in ds.attrs.items() if k not in skip and _attribute_value_ok(v)}
    names = [str(v) for v in np.ravel(ds["channel"].values)] if "channel" in ds.coords else \
        [f"channel{c}" for c in range(config.shape[1])]
    spec = LatticeSpec(L=L, ndim=config.ndim - 2, channel_names=names, dtype=dtype.name, temperatures=temps,
                       samples_per_temperature=int(counts[0]), observables=observables, attrs=group_attrs)
    writer.add_lattice(spec)
    label = np.asarray(ds["label"].values, dtype=np.int8)
    n = int(counts[0])
    for point in range(len(temps)):
        rows = order[point * n : (point + 1) * n]
        obs = {name: np.asarray(ds[name].values)[rows] for name in observables}
        writer.write_point(L, point, config[rows].astype(dtype, copy=False), obs, label[rows])


def _attribute_value_ok(value: Any) -> bool:
    """Attributes netCDF can hold: numbers, strings and 1-D lists of them."""
    if isinstance(value, (str, bytes, int, float, np.generic)):
        return True
    arr = np.asarray(value) if isinstance(value, (list, tuple, np.ndarray)) else None
    return arr is not None and arr.ndim == 1 and arr.dtype.kind in "iufUSb"
