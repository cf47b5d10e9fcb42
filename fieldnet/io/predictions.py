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

from fieldnet.errors import DataFileError, FieldnetError

CLASSES = ("disordered", "ordered")

FORMAT_NAME = "predictions"
#: the layout version written (files without format_version are version 1)
FORMAT_VERSION = 2


def write_predictions(pred, output: str | os.PathLike, *, command: str | None = None) -> Path:
    """Write a predictions Dataset to netCDF atomically, with the CF root attributes
    (Conventions, a history line for ``command`` -- default this process's command line --,
    source, format_version) and a long_name on every variable."""
    from fieldnet.io.atomic import atomic_output, describe_os_error
    from fieldnet.io.cf import cf_clean

    out = Path(output)
    pred = cf_clean(pred, kind=FORMAT_NAME, format_version=FORMAT_VERSION, command=command)
    try:
        with atomic_output(out) as tmp:
            pred.to_netcdf(tmp, engine="h5netcdf")
    except OSError as exc:
        raise FieldnetError(describe_os_error(exc, out)) from exc
    return out


def open_predictions(path: str | os.PathLike):
    """Open a predictions file and check its layout (DataFileError otherwise)."""
    import xarray as xr

    p = Path(path)
    if not p.is_file():
        raise DataFileError(f"{p}: no such file; give a predictions file written by 'fieldnet predict'")
    from fieldnet.io.hdf5probe import probe_hdf5

    probe_hdf5(p)
    try:
        # predictions are small (a few numbers a sample): read them now, so a damaged chunk is
        # reported here and not later inside a user's computation
        pred = xr.open_dataset(p, engine="h5netcdf", phony_dims="sort").load()
    except Exception as exc:  # h5netcdf raises many types for foreign files
        raise DataFileError(f"{p} is not a readable netCDF file ({type(exc).__name__}); give the output of 'fieldnet predict'") from None
    fmt = pred.attrs.get("fieldnet_format")
    if fmt is not None and str(np.ravel(fmt)[0]) != "predictions":
        raise DataFileError(f"{p} is a fieldnet '{np.ravel(fmt)[0]}' file, not predictions; run 'fieldnet predict MODEL DATA' first")
    missing = [n for n in ("probability", "temperature", "L") if n not in pred.variables]
    if missing or "class" not in pred.dims:
        raise DataFileError(f"{p} is not a predictions file (missing {', '.join(missing) or 'class'}); give the output of 'fieldnet predict'")
    layout = {"probability": ("sample", "class"), "temperature": ("sample",), "L": ("sample",)}
    wrong = [n for n, dims in layout.items() if pred[n].dims != dims]
    if wrong or pred.sizes["class"] != len(CLASSES) or pred["temperature"].dtype.kind != "f":
        raise DataFileError(f"{p}: {', '.join(wrong) or 'class'} does not have the predictions layout; the file is damaged")
    prob = pred["probability"].values
    if not np.all(np.isfinite(prob)):
        raise DataFileError(f"{p}: probabilities contain NaN or inf; the file is damaged")
    if "member_probability" in pred.variables:
        members = pred["member_probability"]
        if members.dims != ("network", "sample", "class") or members.shape[1:] != prob.shape \
                or not np.all(np.isfinite(members.values)):
            raise DataFileError(f"{p}: member_probability does not have the ensemble layout (network, sample, class) "
                                "with finite values; the file is damaged")
    return pred
