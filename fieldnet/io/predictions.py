"""Per-sample class probabilities of a trained model on a data file, as a netCDF file.

Layout, format version 2 (``fieldnet_format = "predictions"``): dimensions ``sample`` and
``class``; ``probability (sample, class)`` float32 with ``class = ["disordered", "ordered"]``;
coordinates on ``sample``: ``temperature`` (k_B T / J, units "1"), ``L``, ``label`` (the data
file's: flag_values 1 ordered, 0 disordered, -1 unknown) and ``sample_index`` (the row of the
sample in group ``L<L>`` of the data file, so ``(L, sample_index)`` finds its configuration).
Samples of every lattice size are concatenated along ``sample``.  An *ensemble* of K networks
(the same architecture trained with K seeds) adds ``member_probability (network, sample,
class)``, each network's own output, and ``probability`` is then their mean; the analysis uses
the members' spread as the error that comes from training (:mod:`fieldnet.analysis.tc`); predictions
of configurations coarse-grained by one block step (for renormalisation-group matching) add
``blocked_probability`` (and ``member_blocked_probability``) with the attribute ``block_size``.
Root attributes: the CF ones (Conventions, history, source), ``format_version``, ``data`` (the
data file, or ``"<in-memory Dataset>"``), ``model_file``, ``data_model``, ``Tc_reference``.
Version 1 (no format_version attribute) lacked ``sample_index`` and the CF attributes.
In a notebook::

    pred = xr.open_dataset("pred.nc", engine="h5netcdf")
    pred.probability.sel({"class": "ordered"}).groupby("temperature").mean()
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from fieldnet.errors import DataFileError
from fieldnet.io.formats import file_kind, require_kind

CLASSES = ("disordered", "ordered")

FORMAT_NAME = "predictions"
#: the layout version written (files without format_version are version 1)
FORMAT_VERSION = 2



def write_predictions(pred, output: str | os.PathLike, *, command: str | None = None) -> Path:
    """Write a predictions Dataset to netCDF atomically, with the CF root attributes
    (Conventions, a history line for ``command`` -- default this process's command line --,
    source, format_version) and a long_name on every variable.  The file is built in memory,
    then written in one piece, so a full disk is one FieldnetError line and leaves no file."""
    from fieldnet.io.atomic import write_netcdf_atomically
    from fieldnet.io.cf import cf_clean

    return write_netcdf_atomically(cf_clean(pred, kind=FORMAT_NAME, format_version=FORMAT_VERSION, command=command),
                                   output)


def _check_declared_sizes(p: Path) -> None:
    """Every variable's declared size, against the bytes the file stores and the memory budget
    (the whole file is read into memory)."""
    import h5py

    from fieldnet.io.limits import require_backed, require_memory

    total = 0
    try:
        with h5py.File(p, "r") as f:
            def visit(name, obj):
                nonlocal total
                if isinstance(obj, h5py.Dataset) and obj.shape is not None:
                    declared = int(np.prod(obj.shape, dtype=object)) * obj.dtype.itemsize
                    is_placeholder = str(obj.attrs.get("NAME", b"")).find("netCDF dimension but not a netCDF variable") >= 0
                    if not is_placeholder:
                        require_backed(declared, int(obj.id.get_storage_size()), f"{p} variable '{name}'")
                        total += declared

            f.visititems(visit)
            version = np.ravel(np.asarray(f.attrs.get("format_version", FORMAT_VERSION)))
    except DataFileError:
        raise
    except (OSError, KeyError, ValueError, TypeError, RuntimeError) as exc:
        raise DataFileError(f"{p} is not a readable netCDF file ({type(exc).__name__}); give the output of 'fieldnet predict'") from None
    if version.size != 1 or version.dtype.kind not in "iu" or not 1 <= int(version[0]) <= FORMAT_VERSION:
        shown = version.tolist() if version.size != 1 else version.tolist()[0]
        raise DataFileError(f"{p} has format_version {shown!r}; this fieldnet reads predictions of version {FORMAT_VERSION} "
                            "(a newer fieldnet wrote it, or it is damaged): upgrade fieldnet or rerun 'fieldnet predict'")
    require_memory(total, f"{p}: the predictions", "the file is damaged or crafted, rerun 'fieldnet predict'", error=DataFileError)


def open_predictions(path: str | os.PathLike):
    """Open a predictions file and check its layout, types and values (DataFileError otherwise).

    Probabilities must be finite numbers in [0, 1], temperatures finite numbers, L and label
    integers; sizes are checked against the stored bytes and the memory budget before reading.
    """
    import xarray as xr

    from fieldnet.io.atomic import require_regular_file
    from fieldnet.io.hdf5probe import probe_hdf5

    p = require_regular_file(path, "predictions file", "make one with 'fieldnet predict MODEL DATA'")
    probe_hdf5(p)
    _check_declared_sizes(p)
    try:
        # predictions are small (a few numbers a sample): read them now, so a damaged chunk is
        # reported here and not later inside a user's computation
        pred = xr.open_dataset(p, engine="h5netcdf", phony_dims="sort").load()
    except Exception as exc:  # h5netcdf raises many types for foreign files
        raise DataFileError(f"{p} is not a readable netCDF file ({type(exc).__name__}); give the output of 'fieldnet predict'") from None
    if file_kind(pred.attrs) is not None:  # predictions built in Python and saved by xarray carry no kind
        require_kind(pred.attrs, FORMAT_NAME, p)
    missing = [n for n in ("probability", "temperature", "L") if n not in pred.variables]
    if missing or "class" not in pred.dims:
        raise DataFileError(f"{p} is not a predictions file (missing {', '.join(missing) or 'class'}); give the output of 'fieldnet predict'")
    layout = {"probability": ("sample", "class"), "temperature": ("sample",), "L": ("sample",)}
    wrong = [n for n, dims in layout.items() if pred[n].dims != dims]
    if wrong or pred.sizes["class"] != len(CLASSES):
        raise DataFileError(f"{p}: {', '.join(wrong) or 'class'} does not have the predictions layout; the file is damaged")
    kinds = {"probability": "f", "temperature": "f", "L": "iu", "label": "iu", "member_probability": "f"}
    for name, kind in kinds.items():
        if name in pred.variables and pred[name].dtype.kind not in kind:
            expected = "floating-point numbers" if kind == "f" else "integers"
            raise DataFileError(f"{p}: '{name}' holds {pred[name].dtype} values, not {expected}; the file is damaged "
                                "or was written by another tool, rerun 'fieldnet predict'")
    if not np.all(np.isfinite(pred["temperature"].values)):
        raise DataFileError(f"{p}: temperatures contain NaN or inf; the file is damaged")
    prob = pred["probability"].values
    if not np.all(np.isfinite(prob)):
        raise DataFileError(f"{p}: probabilities contain NaN or inf; the file is damaged")
    if prob.size and (prob.min() < 0 or prob.max() > 1):
        raise DataFileError(f"{p}: probabilities lie outside [0, 1] (from {prob.min():g} to {prob.max():g}); the file is damaged")
    if "member_probability" in pred.variables:
        members = pred["member_probability"]
        if members.dims != ("network", "sample", "class") or members.shape[1:] != prob.shape \
                or not np.all(np.isfinite(members.values)) \
                or (members.size and (members.values.min() < 0 or members.values.max() > 1)):
            raise DataFileError(f"{p}: member_probability does not have the ensemble layout (network, sample, class) "
                                "with finite values in [0, 1]; the file is damaged")
    return pred
