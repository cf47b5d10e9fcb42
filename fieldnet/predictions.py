"""Per-sample class probabilities of a trained model on a data file, as a netCDF file.

Layout (``fieldnet_format = "predictions"``): dimensions ``sample`` and ``class``;
``probability (sample, class)`` float32 with ``class = ["disordered", "ordered"]``; coordinates on
``sample``: ``temperature`` (J/k_B), ``L``, ``label`` (the data file's, -1 unknown).  Samples of
every lattice size are concatenated along ``sample``.  An *ensemble* of K networks (the same
architecture trained with K seeds) adds ``member_probability (network, sample, class)``, each
network's own output, and ``probability`` is then their mean; the analysis uses the members'
spread as the error that comes from training (:func:`analysis.tc.tc_crossing`).  In a notebook::

    pred = xr.open_dataset("pred.nc", engine="h5netcdf")
    pred.probability.sel({"class": "ordered"}).groupby("temperature").mean()
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from fieldnet.errors import DataFileError, FieldnetError

CLASSES = ("disordered", "ordered")


def predict_dataset(model, data: str | os.PathLike, *, sizes: list[int] | None = None, batch_size: int = 256,
                    progress: bool = False):
    """Class probabilities of one model for every sample of ``data`` (streamed; memory bounded by a
    batch).

    Returns:
        xarray.Dataset in the predictions layout (see the module docstring).
    Raises:
        FieldnetError when the model does not accept the file's configurations.
    """
    return predict_ensemble([model], data, sizes=sizes, batch_size=batch_size, progress=progress)


def predict_ensemble(models: list, data: str | os.PathLike, *, sizes: list[int] | None = None, batch_size: int = 256,
                     progress: bool = False):
    """Class probabilities of K networks for every sample of ``data``, and their mean.

    The file is read once: each streamed batch goes through every network.

    Args:
        models: K >= 1 trained models that accept the same configurations (typically one
            architecture trained with K seeds).
        data: data file written by ``fieldnet simulate``.
        sizes: lattice sizes to predict (default: all).
        batch_size: samples per forward pass.
        progress: show a progress bar on stderr.

    Returns:
        xarray.Dataset in the predictions layout with ``probability (sample, class)`` the mean
        over the networks and, for K >= 2, ``member_probability (network, sample, class)``
        (float32) and the attribute ``n_networks = K``.
    Raises:
        FieldnetError when a model does not accept the file's configurations.
    """
    import xarray as xr

    from fieldnet.batches import read_index, stream_batches

    if not models:
        raise FieldnetError("a prediction needs at least one model")
    index = read_index(data, sizes)
    for model in models:
        _check_accepts(model, index, data)
    bar = None
    if progress:
        import sys

        from tqdm import tqdm

        bar = tqdm(total=index.n_samples, desc="predict", unit="sample", file=sys.stderr, leave=False)
    probs, temps, labels, Ls = [], [], [], []
    for x, y, T, L in stream_batches(index, batch_size, shuffle=False):
        probs.append(np.stack([m.predict_proba(x, batch_size=len(x)) for m in models]).astype(np.float32))
        temps.append(T)
        labels.append(y)
        Ls.append(np.full(len(y), L, np.int32))
        if bar:
            bar.update(len(y))
    if bar:
        bar.close()
    members = np.concatenate(probs, axis=1)  # (network, sample, class)
    tc = models[0].attrs.get("Tc_reference", np.nan)
    if not np.isfinite(float(tc if tc is not None else np.nan)):
        tc = _data_tc(index)
    pred = xr.Dataset(
        {"probability": (("sample", "class"), members.mean(axis=0, dtype=np.float64).astype(np.float32),
                         {"long_name": "predicted class probability" + (", mean over the ensemble's networks"
                                                                         if len(models) > 1 else ""), "units": "1"})},
        coords={
            "class": list(CLASSES),
            "temperature": ("sample", np.concatenate(temps), {"units": "J/k_B", "long_name": "temperature"}),
            "L": ("sample", np.concatenate(Ls), {"long_name": "linear lattice size"}),
            "label": ("sample", np.concatenate(labels).astype(np.int8),
                      {"long_name": "phase label of the data", "flag_values": "1 ordered, 0 disordered, -1 unknown"}),
        },
        attrs={"fieldnet_format": "predictions", "Tc_reference": float(tc) if tc is not None else np.nan,
               "data": str(data), "model_file": ";".join(str(m.attrs.get("source_path", "")) for m in models),
               "data_model": str(index.attrs.get("model", ""))},
    )
    if len(models) > 1:
        pred["member_probability"] = (("network", "sample", "class"), members,
                                      {"long_name": "class probability predicted by each network of the ensemble",
                                       "units": "1"})
        pred = pred.assign_coords(network=np.arange(len(models), dtype=np.int32))
        pred.attrs["n_networks"] = len(models)
    return pred


def _check_accepts(model, index, data) -> None:
    """FieldnetError unless ``model`` is a two-class classifier of every lattice in ``index``."""
    if model.output_shape != (len(CLASSES),):
        raise FieldnetError(f"the model has {model.output_shape} outputs; predictions need a two-class phase classifier")
    for lat in index.lattices:
        try:
            model.shape_after(lat.shape)
        except Exception as exc:
            raise FieldnetError(
                f"the model (input {tuple(model.input_shape)}) does not accept L={lat.L} configurations {lat.shape} "
                f"of {data}: {exc}; train a model on this data or use a size-agnostic preset (gap)"
            ) from None


def _data_tc(index) -> float:
    for g in index.attrs.get("groups", {}).values():
        try:
            value = float(g.get("Tc", np.nan))
        except (TypeError, ValueError):
            continue
        if np.isfinite(value):
            return value
    return np.nan


def write_predictions(pred, output: str | os.PathLike) -> Path:
    """Write a predictions Dataset to netCDF atomically."""
    from fieldnet.atomic import atomic_output, describe_os_error

    out = Path(output)
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
    from fieldnet.hdf5probe import probe_hdf5

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
