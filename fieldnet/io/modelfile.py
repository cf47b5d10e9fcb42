"""Model files: one HDF5 file holding the architecture as JSON and the weights as datasets.

Layout::

    /                attrs: fieldnet_format="model", format_version, architecture (JSON),
                            history (JSON), provenance (JSON), fieldnet_version
    /weights/<layer path>/<name>   float32 parameters and buffers (e.g. weights/0/kernel)
    /optimizer/<name>              optional optimiser state (training checkpoints)
    /                attrs: optimizer (JSON: name and hyper-parameters), extra (JSON), rng_state (JSON)

This module reads and writes the file as plain data (JSON-decoded attributes and numpy arrays,
a :class:`ModelFileContents`); nothing is unpickled or evaluated, so a crafted file cannot run
code.  Turning the contents into a network is the engine's job
(:func:`fieldnet.engine.saving.load_checkpoint`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fieldnet.errors import DataFileError, FieldnetError
from fieldnet.io.atomic import atomic_output, describe_os_error
from fieldnet.io.formats import FORMAT_ATTRIBUTE, require_kind

FORMAT = "model"
FORMAT_VERSION = 1


@dataclass
class ModelFileContents:
    """What a model file holds, as data.

    Attributes:
        architecture: the network's configuration (``Sequential.get_config()``).
        weights: ``{"<layer path>/<name>": array}``, parameters and buffers.
        history: per-epoch training records.  provenance: the model's ``attrs``.
        rng_state: random states of the layers that draw random numbers (Dropout).
        optimizer_state: the optimiser's arrays, or None (not a checkpoint).
        extra: checkpoint extras (epoch, best validation loss, ...).
    """

    architecture: dict[str, Any]
    weights: dict[str, np.ndarray]
    history: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    rng_state: list = field(default_factory=list)
    optimizer_state: dict[str, np.ndarray] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def write_model_file(path: str | os.PathLike, contents: ModelFileContents, *,
                     optimizer_config: dict[str, Any] | None = None) -> Path:
    """Write ``contents`` to ``path`` atomically (temporary file, then rename); returns the path.

    ``optimizer_config`` (``{"name", "hyper"}``) is stored with ``contents.optimizer_state``
    when the file is a training checkpoint.
    """
    import h5py

    from fieldnet import __version__

    final = Path(path)
    try:
        with atomic_output(final) as tmp, h5py.File(tmp, "w") as f:
            f.attrs[FORMAT_ATTRIBUTE] = FORMAT
            f.attrs["format_version"] = FORMAT_VERSION
            f.attrs["fieldnet_version"] = __version__
            f.attrs["architecture"] = json.dumps(contents.architecture)
            f.attrs["history"] = json.dumps(contents.history, default=_json_default)
            f.attrs["provenance"] = json.dumps(contents.provenance, default=_json_default)
            f.attrs["rng_state"] = json.dumps(contents.rng_state, default=_json_default)
            weights = f.create_group("weights")
            for name, value in contents.weights.items():
                weights.create_dataset(name, data=value)
            if contents.optimizer_state is not None:
                f.attrs["optimizer"] = json.dumps(optimizer_config or {}, default=_json_default)
                group = f.create_group("optimizer")
                for name, value in contents.optimizer_state.items():
                    group.create_dataset(name, data=value)
            if contents.extra:
                f.attrs["extra"] = json.dumps(contents.extra, default=_json_default)
    except OSError as exc:
        raise FieldnetError(describe_os_error(exc, final)) from exc
    return final


def _read_json(f, key: str, path, default: Any) -> Any:
    if key not in f.attrs:
        return default
    raw = f.attrs[key]
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    if not isinstance(raw, str):
        raise DataFileError(f"{path}: attribute {key!r} is not JSON text; the model file is damaged")
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise DataFileError(f"{path}: attribute {key!r} is not valid JSON ({exc}); the model file is damaged") from None


def _collect(group, prefix: str = "") -> dict[str, np.ndarray]:
    import h5py

    out: dict[str, np.ndarray] = {}
    for key, obj in group.items():
        name = f"{prefix}{key}"
        if isinstance(obj, h5py.Group):
            out.update(_collect(obj, name + "/"))
        else:
            if obj.dtype.kind not in "fiu":
                raise DataFileError(f"dataset {name} holds {obj.dtype} data; model weights are numbers")
            value = np.asarray(obj[()])
            if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
                raise DataFileError(f"dataset {name} holds NaN or infinite values; the model file is damaged (or saved from a diverged run)")
            out[name] = value
    return out


def _open(path: str | os.PathLike):
    import h5py

    from fieldnet.io.hdf5probe import probe_hdf5

    p = Path(path)
    if not p.is_file():
        raise DataFileError(f"model file {p} does not exist; train one with 'fieldnet train DATA -o {p.name}'")
    probe_hdf5(p)
    try:
        f = h5py.File(p, "r")
    except OSError as exc:
        raise DataFileError(f"{p} is not a readable HDF5 model file ({exc}); give a file written by 'fieldnet train'") from None
    try:
        require_kind(f.attrs, FORMAT, p)
    except DataFileError:
        f.close()
        raise
    return f


def read_model_file(path: str | os.PathLike) -> ModelFileContents:
    """The contents of a model file written by :func:`write_model_file`.

    Raises:
        DataFileError: the file is missing, not a model file, or damaged (one line).
    """
    p = Path(path)
    f = _open(p)
    try:
        config = _read_json(f, "architecture", p, None)
        if config is None:
            raise DataFileError(f"{p} has no architecture; the model file is damaged")
        if "weights" not in f:
            raise DataFileError(f"{p} has no weights group; the model file is damaged")
        history = _read_json(f, "history", p, {})
        provenance = _read_json(f, "provenance", p, {})
        extra = _read_json(f, "extra", p, {})
        return ModelFileContents(
            architecture=config,
            weights=_collect(f["weights"]),
            history=history if isinstance(history, dict) else {},
            provenance=provenance if isinstance(provenance, dict) else {},
            rng_state=_read_json(f, "rng_state", p, []) or [],
            optimizer_state=_collect(f["optimizer"]) if "optimizer" in f else None,
            extra=extra if isinstance(extra, dict) else {},
        )
    except DataFileError:
        raise
    except (OSError, KeyError, ValueError, TypeError, RecursionError) as exc:
        raise DataFileError(f"{p}: cannot read the model ({type(exc).__name__}: {exc}); the file is damaged") from None
    finally:
        f.close()
