"""A trained network (or an ensemble) applied to every configuration of a data file.

The data file is streamed once in batches (memory is bounded by a batch) and each batch goes
through every network; the result is a Dataset in the predictions layout of
:mod:`fieldnet.io.predictions`, which :func:`fieldnet.io.predictions.write_predictions` stores.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from fieldnet.errors import FieldnetError
from fieldnet.io.predictions import CLASSES


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
                     progress: bool = False, transform: Callable[[np.ndarray], np.ndarray] | None = None):
    """Class probabilities of K networks for every sample of ``data``, and their mean.

    The file is read once: each streamed batch goes through every network.

    Args:
        models: K >= 1 trained models that accept the same configurations (typically one
            architecture trained with K seeds).
        data: data file written by ``fieldnet simulate``.
        sizes: lattice sizes to predict (default: all).
        batch_size: samples per forward pass.
        progress: show a progress bar on stderr.
        transform: applied to each batch of configurations (N, C, *spatial) before the networks,
            e.g. one renormalisation-group block step; the networks must accept what it returns.

    Returns:
        xarray.Dataset in the predictions layout with ``probability (sample, class)`` the mean
        over the networks and, for K >= 2, ``member_probability (network, sample, class)``
        (float32) and the attribute ``n_networks = K``.
    Raises:
        FieldnetError when a model does not accept the file's configurations.
    """
    import xarray as xr

    from fieldnet.training.batches import read_index, stream_batches

    if not models:
        raise FieldnetError("a prediction needs at least one model")
    index = read_index(data, sizes)
    for model in models:
        _check_accepts(model, index, data, transform)
    bar = None
    if progress:
        import sys

        from tqdm import tqdm

        bar = tqdm(total=index.n_samples, desc="predict", unit="sample", file=sys.stderr, leave=False)
    probs, temps, labels, Ls = [], [], [], []
    for x, y, T, L in stream_batches(index, batch_size, shuffle=False):
        if transform is not None:
            x = np.asarray(transform(x), dtype=np.float32)
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
               "data": str(Path(data).resolve()), "model_file": ";".join(str(m.attrs.get("source_path", "")) for m in models),
               "data_model": str(index.attrs.get("model", ""))},
    )
    train_config = models[0].attrs.get("train_config") or {}
    for band in ("ordered_below", "disordered_above"):
        if train_config.get(band) is not None:  # the networks' training bands (temperature labels)
            pred.attrs[band] = float(train_config[band])
    if len(models) > 1:
        pred["member_probability"] = (("network", "sample", "class"), members,
                                      {"long_name": "class probability predicted by each network of the ensemble",
                                       "units": "1"})
        pred = pred.assign_coords(network=np.arange(len(models), dtype=np.int32))
        pred.attrs["n_networks"] = len(models)
    return pred


def _check_accepts(model, index, data, transform=None) -> None:
    """FieldnetError unless ``model`` is a two-class classifier of every lattice in ``index``
    (after ``transform``)."""
    if model.output_shape != (len(CLASSES),):
        raise FieldnetError(f"the model has {model.output_shape} outputs; predictions need a two-class phase classifier")
    for lat in index.lattices:
        shape = lat.shape if transform is None else np.shape(transform(np.zeros((1, *lat.shape), np.float32)))[1:]
        try:
            model.compute_output_shape(tuple(shape))
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
