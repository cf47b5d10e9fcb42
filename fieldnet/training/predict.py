"""A trained network (or an ensemble) applied to every configuration of a data file.

The data file is streamed once in batches (memory is bounded by a batch) and each batch goes
through every network; the result is a Dataset in the predictions layout of
:mod:`fieldnet.io.predictions`, which :func:`fieldnet.io.predictions.write_predictions` stores.

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

import numpy as np

from fieldnet.errors import FieldnetError
from fieldnet.io.predictions import CLASSES

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


def predict_dataset(model, data: str | os.PathLike, *, sizes: list[int] | None = None, batch_size: int = 256,
                    progress: bool = False, force: bool = False, warn: Callable[[str], None] | None = None):
    """Class probabilities of one model for every sample of ``data`` (streamed; memory bounded by a
    batch).

    Returns:
        xarray.Dataset in the predictions layout (see the module docstring).
    Raises:
        FieldnetError when the model does not accept the file's configurations, or was trained
        on data of another kind (unless ``force``; see :func:`predict_ensemble`).
    """
    return predict_ensemble([model], data, sizes=sizes, batch_size=batch_size, progress=progress, force=force,
                            warn=warn)


def predict_ensemble(models: list, data: str | os.PathLike, *, sizes: list[int] | None = None, batch_size: int = 256,
                     progress: bool = False, force: bool = False, warn: Callable[[str], None] | None = None):
    """Class probabilities of K networks for every sample of ``data``, and their mean.

    The file is read once: each streamed batch goes through every network.

    Args:
        models: K >= 1 trained models that accept the same configurations (typically one
            architecture trained with K seeds).
        data: data file written by ``fieldnet simulate``.
        sizes: lattice sizes to predict (default: all).
        batch_size: samples per forward pass.
        progress: show a progress bar on stderr.
        force: predict even when the data are not of the kind the models were trained on
            (another lattice model, lattice or channel layout); ``warn`` is then called with
            a sentence saying so (default: a UserWarning).

    Returns:
        xarray.Dataset in the predictions layout with ``probability (sample, class)`` the mean
        over the networks and, for K >= 2, ``member_probability (network, sample, class)``
        (float32) and the attribute ``n_networks = K``.
    Raises:
        FieldnetError when a model does not accept the file's configurations, when the models
        differ in architecture or training data layout, when a batch does not fit the memory
        budget, or (without ``force``) when the data are of another kind than the training data.
    """
    import xarray as xr

    from fieldnet.training.batches import read_index, stream_batches

    if not models:
        raise FieldnetError("a prediction needs at least one model")
    check_ensemble(models)
    index = read_index(data, sizes)
    mismatch = layout_mismatch(models[0], index)
    if mismatch and not force:
        raise FieldnetError(f"{mismatch}; its probabilities would mean nothing: give data of the kind it was trained "
                            "on, or pass --force (force=True from Python) to predict anyway")
    if mismatch:
        (warn or (lambda text: warnings.warn(text, UserWarning, stacklevel=3)))(
            f"{mismatch}; predicting anyway (--force)")
    for model in models:
        _check_accepts(model, index, data)
        _check_batch_memory(model, index, batch_size)
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
