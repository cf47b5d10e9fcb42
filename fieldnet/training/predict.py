"""A trained network (or an ensemble) applied to every configuration of a data set.

The data is a data file (streamed once in batches: memory is bounded by a batch) or an xarray
Dataset in memory (an opened data group, or data made by other code that meets the minimal data
contract of :mod:`fieldnet.io.importers`); each batch goes through every network.  The result is
a Dataset in the predictions layout of :mod:`fieldnet.io.predictions` -- CF attributes,
``temperature``, ``L``, ``label`` and ``sample_index`` coordinates that lead back to the data's
rows -- which :func:`fieldnet.io.predictions.write_predictions` stores.

Before anything is computed, the networks are checked against each other and against the data:
a model file records the layout of the data it was trained on (:func:`data_layout`: the
lattice model, the lattice and the channels), and probabilities of a network applied to other
data mean nothing, so such a prediction is refused unless forced (then it is done with a
warning).  The networks of an ensemble must share one architecture and one data layout: their
mean is only an error estimate when they differ by their seeds alone.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from fieldnet.errors import FieldnetError
from fieldnet.io import cf
from fieldnet.io.predictions import CLASSES, FORMAT_NAME, FORMAT_VERSION

#: what the ``data`` attribute says for data that came from memory, not a file
IN_MEMORY_DATA = "<in-memory Dataset>"


#: the entries of a data layout that must agree between a model and the data it is applied to
LAYOUT_KEYS = ("model", "lattice", "channels")


def data_layout(index) -> dict:
    """What a network trained on a data file depends on: ``{"model", "lattice", "channels"}``.

    Args:
        index: the data file's :class:`fieldnet.training.batches.SampleIndex`.

    Returns:
        The lattice model's name (e.g. "ising2d"), its lattice (e.g. "square", "triangular",
        "simple cubic"; "" when the file does not say) and the channel names of the
        configurations, e.g. ``["cos_theta", "sin_theta"]``.  Stored in a model file's
        provenance as ``data_layout`` by training.
    """
    groups = index.attrs.get("groups", {})
    first = groups.get(index.lattices[0].L, {}) if index.lattices else {}
    channels = first.get("channel_names", [])
    channels = [channels] if isinstance(channels, str) else [str(c) for c in np.ravel(channels).tolist()]
    return {"model": str(first.get("model", index.attrs.get("model", "")) or ""),
            "lattice": str(first.get("lattice", "") or ""), "channels": channels}


def _describe(layout: dict) -> str:
    parts = [layout.get("model") or "unknown-model"]
    if layout.get("lattice"):
        parts.append(f"{layout['lattice']} lattice")
    if layout.get("channels"):
        parts.append(f"channels {list(layout['channels'])}")
    return ", ".join(parts)


def model_layout(model) -> dict | None:
    """The data layout a model was trained on (its ``data_layout`` attribute; older model files
    record only the lattice model's name), None when unknown."""
    recorded = model.attrs.get("data_layout")
    if isinstance(recorded, dict):
        return {k: recorded.get(k) for k in LAYOUT_KEYS if recorded.get(k) not in (None, "", [])}
    name = model.attrs.get("model")
    return {"model": str(name)} if name else None


def layout_mismatch(model, index) -> str | None:
    """A sentence naming how the data differ from what ``model`` was trained on, None when they
    agree (or the model does not say)."""
    trained = model_layout(model)
    if not trained:
        return None
    here = data_layout(index)
    differ = [k for k in trained if here.get(k) not in (None, "", []) and here[k] != trained[k]]
    if not differ:
        return None
    source = model.attrs.get("source_path") or "the model"
    return (f"{source} was trained on {_describe(trained)} data but {index.path} holds {_describe(here)} "
            f"(different {', '.join(differ)})")


def check_ensemble(models: list) -> None:
    """FieldnetError unless every model has the first one's architecture and data layout."""
    if len(models) < 2:
        return
    first = models[0]
    arch = first.get_config()["layers"]
    for m in models[1:]:
        name = m.attrs.get("source_path") or "a model"
        if m.get_config()["layers"] != arch or tuple(m.input_shape) != tuple(first.input_shape):
            raise FieldnetError(
                f"{name} has another architecture than {first.attrs.get('source_path') or 'the first model'}; an "
                "ensemble's networks must share one architecture (trained with different --seed values)"
            )
        if model_layout(m) and model_layout(first) and model_layout(m) != model_layout(first):
            raise FieldnetError(
                f"{name} was trained on {_describe(model_layout(m))} data, {first.attrs.get('source_path') or 'the first model'} "
                f"on {_describe(model_layout(first))}; an ensemble's networks must be trained on the same kind of data"
            )


def predict_dataset(model, data: str | os.PathLike | Any, *, sizes: list[int] | None = None, batch_size: int = 256,
                    progress: bool = False, force: bool = False, warn: Callable[[str], None] | None = None):
    """Class probabilities of one model for every sample of ``data``: a data file (streamed;
    memory bounded by a batch) or an xarray Dataset (see :func:`predict_ensemble`).

    Returns:
        xarray.Dataset in the predictions layout (see the module docstring).
    Raises:
        FieldnetError when the model does not accept the file's configurations, or was trained
        on data of another kind (unless ``force``; see :func:`predict_ensemble`).
    """
    return predict_ensemble([model], data, sizes=sizes, batch_size=batch_size, progress=progress, force=force,
                            warn=warn)


def predict_ensemble(models: list, data: str | os.PathLike | Any, *, sizes: list[int] | None = None, batch_size: int = 256,
                     progress: bool = False, transform: Callable[[np.ndarray], np.ndarray] | None = None,
                     force: bool = False, warn: Callable[[str], None] | None = None):
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
        force: predict even when the data are not of the kind the models were trained on
            (another lattice model, lattice or channel layout); ``warn`` is then called with
            a sentence saying so (default: a UserWarning).

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
    check_ensemble(models)
    index, source = _data_index(data, sizes)
    mismatch = layout_mismatch(models[0], index)
    if mismatch and not force:
        raise FieldnetError(f"{mismatch}; its probabilities would mean nothing: give data of the kind it was trained "
                            "on, or pass --force (force=True from Python) to predict anyway")
    if mismatch:
        (warn or (lambda text: warnings.warn(text, UserWarning, stacklevel=3)))(
            f"{mismatch}; predicting anyway (--force)")
    for model in models:
        _check_accepts(model, index, source, transform)
        _check_batch_memory(model, index, batch_size)
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


def _check_batch_memory(model, index, batch_size: int) -> None:
    """FieldnetError when one batch of the largest lattice would not fit the memory budget."""
    from fieldnet.engine.saving import forward_bytes_per_sample
    from fieldnet.io.limits import require_memory

    for lat in index.lattices:
        per_sample = forward_bytes_per_sample(model, lat.shape)
        require_memory(per_sample * batch_size, f"a batch of {batch_size} L={lat.L} configurations through the model",
                       "pass a smaller --batch-size")


def _data_tc(index) -> float:
    for g in index.attrs.get("groups", {}).values():
        try:
            value = float(g.get("Tc", np.nan))
        except (TypeError, ValueError):
            continue
        if np.isfinite(value):
            return value
    return np.nan
