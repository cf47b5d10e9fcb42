"""A trained network (or an ensemble) applied to every configuration of a data set.

The data is a data file (streamed once in batches: memory is bounded by a batch) or an xarray
Dataset in memory (an opened data group, or data made by other code that meets the minimal data
contract of :mod:`fieldnet.io.importers`); each batch goes through every network.  The result is
a Dataset in the predictions layout of :mod:`fieldnet.io.predictions` -- CF attributes,
``temperature``, ``L``, ``label`` and ``sample_index`` coordinates that lead back to the data's
rows -- which :func:`fieldnet.io.predictions.write_predictions` stores.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from fieldnet.errors import FieldnetError
from fieldnet.io import cf
from fieldnet.io.predictions import CLASSES, FORMAT_NAME, FORMAT_VERSION

#: what the ``data`` attribute says for data that came from memory, not a file
IN_MEMORY_DATA = "<in-memory Dataset>"


def predict_dataset(model, data: str | os.PathLike | Any, *, sizes: list[int] | None = None, batch_size: int = 256,
                    progress: bool = False):
    """Class probabilities of one model for every sample of ``data``: a data file (streamed;
    memory bounded by a batch) or an xarray Dataset (see :func:`predict_ensemble`).

    Returns:
        xarray.Dataset in the predictions layout (see the module docstring).
    Raises:
        FieldnetError when the model does not accept the file's configurations.
    """
    return predict_ensemble([model], data, sizes=sizes, batch_size=batch_size, progress=progress)


def predict_ensemble(models: list, data: str | os.PathLike | Any, *, sizes: list[int] | None = None, batch_size: int = 256,
                     progress: bool = False, transform: Callable[[np.ndarray], np.ndarray] | None = None):
    """Class probabilities of K networks for every sample of ``data``, and their mean.

    The file is read once: each streamed batch goes through every network.

    Args:
        models: K >= 1 trained models that accept the same configurations (typically one
            architecture trained with K seeds).
        data: a data file written by ``fieldnet simulate`` (or
            :func:`fieldnet.io.importers.write_dataset`), or an xarray Dataset of one lattice size
            meeting the data contract (or a sequence of them), e.g. an opened data group or the
            output of :func:`fieldnet.io.importers.from_arrays`.
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

    from fieldnet.training.memory import batch_source

    if not models:
        raise FieldnetError("a prediction needs at least one model")
    index, source = _data_index(data, sizes)
    for model in models:
        _check_accepts(model, index, source, transform)
    bar = None
    if progress:
        import sys

        from tqdm import tqdm

        bar = tqdm(total=index.n_samples, desc="predict", unit="sample", file=sys.stderr, leave=False)
    probs, temps, labels, Ls, rows = [], [], [], [], []
    # unshuffled batches take each size's selected rows in order (sizes interleave batch by batch)
    pending = {lat.L: np.sort(lat.selected) for lat in index.lattices}
    for x, y, T, L in batch_source(index)(index, batch_size, shuffle=False):
        if transform is not None:
            x = np.asarray(transform(x), dtype=np.float32)
        probs.append(np.stack([m.predict_proba(x, batch_size=len(x)) for m in models]).astype(np.float32))
        temps.append(T)
        labels.append(y)
        Ls.append(np.full(len(y), L, np.int32))
        rows.append((L, pending[L][: len(y)]))
        pending[L] = pending[L][len(y):]
        if bar:
            bar.update(len(y))
    if bar:
        bar.close()
    members = np.concatenate(probs, axis=1)  # (network, sample, class)
    tc = models[0].attrs.get("Tc_reference", np.nan)
    if not np.isfinite(float(tc if tc is not None else np.nan)):
        tc = _data_tc(index)
    attrs = {"fieldnet_format": FORMAT_NAME, "format_version": FORMAT_VERSION, "Conventions": cf.CONVENTIONS,
             "Tc_reference": float(tc) if tc is not None else np.nan, "data": source,
             "model_file": ";".join(str(m.attrs.get("source_path", "")) for m in models),
             "data_model": str(index.attrs.get("model", ""))}
    if index.attrs.get("history"):
        attrs["history"] = str(index.attrs["history"])  # the data's; writing the file adds a line
    prob_attrs = cf.variable_attrs("probability")
    if len(models) > 1:
        prob_attrs["long_name"] += ", mean over the ensemble's networks"
    pred = xr.Dataset(
        {"probability": (("sample", "class"), members.mean(axis=0, dtype=np.float64).astype(np.float32), prob_attrs)},
        coords={
            "class": ("class", list(CLASSES), cf.variable_attrs("class")),
            "temperature": ("sample", np.concatenate(temps), cf.variable_attrs("temperature")),
            "L": ("sample", np.concatenate(Ls), cf.variable_attrs("L")),
            "label": ("sample", np.concatenate(labels).astype(np.int8), cf.variable_attrs("label")),
            "sample_index": ("sample", _sample_index(index, rows), cf.variable_attrs("sample_index")),
        },
        attrs=attrs,
    )
    train_config = models[0].attrs.get("train_config") or {}
    for band in ("ordered_below", "disordered_above"):
        if train_config.get(band) is not None:  # the networks' training bands (temperature labels)
            pred.attrs[band] = float(train_config[band])
    if len(models) > 1:
        pred["member_probability"] = (("network", "sample", "class"), members, cf.variable_attrs("member_probability"))
        pred = pred.assign_coords(network=("network", np.arange(len(models), dtype=np.int32),
                                           cf.variable_attrs("network")))
        pred.attrs["n_networks"] = len(models)
    return pred


def _data_index(data, sizes: list[int] | None):
    """(sample index, what the ``data`` attribute calls the source) of a file or of Datasets."""
    import xarray as xr

    if isinstance(data, xr.Dataset) or (isinstance(data, list | tuple) and data
                                        and all(isinstance(d, xr.Dataset) for d in data)):
        from fieldnet.training.memory import index_from_datasets

        index = index_from_datasets(data)
        if sizes:
            missing = sorted(set(sizes) - {lat.L for lat in index.lattices})
            if missing:
                raise FieldnetError(f"the data holds no lattice size(s) {missing}")
            index.lattices = [lat for lat in index.lattices if lat.L in sizes]
        return index, str(index.path) if str(index.path) != "<in-memory data>" else IN_MEMORY_DATA
    if not isinstance(data, str | os.PathLike):
        raise FieldnetError(f"predictions take a data file or an xarray Dataset, got {type(data).__name__}")
    from fieldnet.training.batches import read_index

    return read_index(data, sizes), str(Path(data).resolve())


def _sample_index(index, rows: list[tuple[int, np.ndarray]]) -> np.ndarray:
    """Each predicted sample's row in its lattice group of the data: the file's row, or the
    Dataset's own ``sample_index`` when it carries one (a subset of a file), else its position.

    ``rows``: (L, rows of that size) per batch, in prediction order.
    """
    datasets = getattr(index, "datasets", {})
    out = []
    for L, r in rows:
        ds = datasets.get(L)
        if ds is not None and "sample_index" in ds.coords:
            out.append(np.asarray(ds["sample_index"].values, dtype=np.int64)[r])
        else:
            out.append(r.astype(np.int64))
    return np.concatenate(out) if out else np.zeros(0, np.int64)


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
