"""Inputs shared by the model-inspection analyses: configurations per temperature, a model that fits them.

The equivariance, filters, occlusion, uncertainty and embedding analyses all take a trained model
and a data file, pick a few configurations at each temperature (seeded, so reruns agree), and
write into an output folder.  This module holds that common part.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import xarray as xr

from fieldnet.errors import FieldnetError

ORDERED_INDEX = 1
"""Column of p(ordered) in ``Sequential.predict_proba`` (classes ["disordered", "ordered"])."""


OPTIONAL_VARIABLES = ("energy", "magnetization", "label")
"""Per-sample variables :func:`load_configurations` keeps besides ``config`` and ``temperature``."""


def load_configurations(data: str | os.PathLike | xr.Dataset, L: int | None = None,
                        optional: tuple[str, ...] = OPTIONAL_VARIABLES) -> xr.Dataset:
    """``config (sample, channel, y, x)`` and ``temperature (sample)`` of one lattice size, in memory.

    Args:
        data: a ``fieldnet simulate`` file or an already opened data set.
        L: lattice size (needed when the file holds several).
        optional: further variables kept when the data set has them.
    """
    if isinstance(data, xr.Dataset):
        ds = data
    else:
        from fieldnet.io.dataset import open_dataset

        ds = open_dataset(data, L)
    missing = [n for n in ("config", "temperature") if n not in ds.variables]
    if missing:
        raise FieldnetError(f"the data set lacks {', '.join(missing)}; give a file written by 'fieldnet simulate'")
    keep = ["config", "temperature"] + [n for n in optional if n in ds.variables]
    return ds[keep].load()


def per_temperature_subset(ds: xr.Dataset, per_T: int, seed: int = 0) -> xr.Dataset:
    """At most ``per_T`` samples from each temperature, drawn without replacement (seeded), in T order."""
    if per_T < 1:
        raise FieldnetError(f"samples per temperature must be at least 1, got {per_T}")
    rng = np.random.default_rng(seed)
    T = np.asarray(ds["temperature"].values)
    chosen = []
    for t in np.unique(T):
        idx = np.flatnonzero(T == t)
        chosen.append(np.sort(rng.choice(idx, size=min(per_T, idx.size), replace=False)))
    return ds.isel(sample=np.concatenate(chosen))


def representative_temperatures(ds: xr.Dataset) -> dict[str, float]:
    """The lowest, the critical (closest to the file's Tc attribute, else the median) and the highest T."""
    temps = np.unique(np.asarray(ds["temperature"].values))
    tc = reference_tc(ds)
    mid = temps[np.argmin(np.abs(temps - tc))] if np.isfinite(tc) else temps[temps.size // 2]
    return {"low": float(temps[0]), "critical": float(mid), "high": float(temps[-1])}


def check_model_fits(model, ds: xr.Dataset) -> np.ndarray:
    """The configurations as float32 (N, C, *spatial), or a one-line error when the model cannot take them."""
    from fieldnet.errors import ShapeError

    x = np.asarray(ds["config"].values, dtype=np.float32)
    try:
        model.compute_output_shape(tuple(x.shape[1:]))
    except ShapeError as exc:
        raise FieldnetError(f"the model does not fit the data: {exc}; give the data the model was trained on") from None
    return x


def output_folder(path: str | os.PathLike) -> Path:
    """Create the output folder ``path`` (a one-line error when it is an existing file)."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise FieldnetError(f"output {out} exists and is not a folder; choose another -o")
    out.mkdir(parents=True, exist_ok=True)
    return out


#: the layout version of the analysis result files (their kind is their ``fieldnet_format``)
RESULT_FORMAT_VERSION = 1


def write_netcdf(obj: xr.Dataset | xr.DataArray, path: str | os.PathLike, *, command: str | None = None) -> Path:
    """Write ``obj`` as netCDF-4 (h5netcdf) atomically, CF-1.x clean: Conventions, a history
    line for ``command`` (default: this process's command line), ``format_version``, a
    long_name on every variable, UDUNITS units (``J/k_B`` becomes ``1``) and flags for
    booleans (see :func:`fieldnet.io.cf.cf_clean`).  The file's kind is ``obj``'s
    ``fieldnet_format`` attribute.  It is built in memory, so a full disk is one FieldnetError
    line (see :mod:`fieldnet.io.atomic`)."""
    from fieldnet.io.atomic import write_netcdf_atomically
    from fieldnet.io.cf import cf_clean

    kind = str(obj.attrs.get("fieldnet_format", "analysis"))
    clean = cf_clean(obj, kind=kind, format_version=RESULT_FORMAT_VERSION, command=command)
    return write_netcdf_atomically(clean, Path(path))


def write_json(result: dict, path: str | os.PathLike) -> Path:
    """Write ``result`` as indented JSON atomically (NaN becomes null)."""
    import json

    from fieldnet.io.atomic import write_text_atomically

    def clean(v):
        if isinstance(v, dict):
            return {str(k): clean(w) for k, w in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(w) for w in v]
        if isinstance(v, (np.floating, float)):
            return float(v) if np.isfinite(v) else None
        if isinstance(v, np.integer):
            return int(v)
        if isinstance(v, np.bool_):
            return bool(v)
        if isinstance(v, np.ndarray):
            return clean(v.tolist())
        return v

    return write_text_atomically(Path(path), json.dumps(clean(result), indent=2) + "\n")


def reference_tc(ds: xr.Dataset) -> float:
    """The data set's reference critical temperature (its ``Tc`` attribute), NaN when unknown."""
    try:
        return float(np.ravel(ds.attrs.get("Tc", np.nan))[0])
    except (TypeError, ValueError, IndexError):
        return float("nan")
