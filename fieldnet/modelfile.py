"""Model files: one HDF5 file holding the architecture as JSON and the weights as datasets.

Layout::

    /                attrs: fieldnet_format="model", format_version, architecture (JSON),
                            history (JSON), provenance (JSON), fieldnet_version
    /weights/<layer path>/<name>   float32 parameters and buffers (e.g. weights/0/kernel)
    /optimizer/<name>              optional optimiser state (training checkpoints)
    /                attrs: optimizer (JSON: name and hyper-parameters), extra (JSON), rng_state (JSON)

Loading parses JSON and instantiates only registered layer classes with the arguments they
declare; nothing is unpickled or evaluated, so a crafted file cannot run code.  Any mismatch
between the architecture and the stored weights is a one-line DataFileError.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from fieldnet.atomic import atomic_output, describe_os_error
from fieldnet.errors import DataFileError, FieldnetError, ShapeError

FORMAT = "model"
FORMAT_VERSION = 1


def _json_default(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def save_model(model, path: str | os.PathLike, *, optimizer=None, extra: dict[str, Any] | None = None) -> Path:
    """Write ``model`` (a built Sequential) to ``path`` atomically; returns the path.

    ``optimizer`` and ``extra`` make the file a training checkpoint (optimiser state, epoch,
    best-so-far, random-number-generator states) that :func:`load_checkpoint` restores.
    """
    import h5py

    from fieldnet import __version__

    if not model.built:
        raise ShapeError("save: build the model (give input_shape) before saving it")
    final = Path(path)
    try:
        with atomic_output(final) as tmp, h5py.File(tmp, "w") as f:
            f.attrs["fieldnet_format"] = FORMAT
            f.attrs["format_version"] = FORMAT_VERSION
            f.attrs["fieldnet_version"] = __version__
            f.attrs["architecture"] = json.dumps(model.get_config())
            f.attrs["history"] = json.dumps(model.history, default=_json_default)
            f.attrs["provenance"] = json.dumps(model.attrs, default=_json_default)
            f.attrs["rng_state"] = json.dumps(model.rng_state(), default=_json_default)
            weights = f.create_group("weights")
            for name, value in model.get_weights().items():
                weights.create_dataset(name, data=value)
            if optimizer is not None:
                f.attrs["optimizer"] = json.dumps(
                    {"name": type(optimizer).__name__.lower(),
                     "hyper": {k: v for k, v in vars(optimizer).items() if isinstance(v, int | float)}},
                    default=_json_default,
                )
                group = f.create_group("optimizer")
                for name, value in optimizer.get_state().items():
                    group.create_dataset(name, data=value)
            if extra is not None:
                f.attrs["extra"] = json.dumps(extra, default=_json_default)
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

    from fieldnet.hdf5probe import probe_hdf5

    p = Path(path)
    if not p.is_file():
        raise DataFileError(f"model file {p} does not exist; train one with 'fieldnet train DATA -o {p.name}'")
    probe_hdf5(p)
    try:
        f = h5py.File(p, "r")
    except OSError as exc:
        raise DataFileError(f"{p} is not a readable HDF5 model file ({exc}); give a file written by 'fieldnet train'") from None
    fmt = f.attrs.get("fieldnet_format")
    if isinstance(fmt, bytes):
        fmt = fmt.decode("utf-8", "replace")
    if fmt != FORMAT:
        f.close()
        what = f"a fieldnet {fmt} file" if isinstance(fmt, str) and fmt else "not a fieldnet model file"
        raise DataFileError(f"{p} is {what}; give a model file written by 'fieldnet train'")
    return f


def load_checkpoint(path: str | os.PathLike):
    """Load a model file with its training state: (model, optimizer_state or None, extra dict).

    The model comes back built, with weights, buffers, history, provenance and dropout
    random-number states restored.
    """
    from fieldnet.model import Sequential

    p = Path(path)
    f = _open(p)
    try:
        try:
            config = _read_json(f, "architecture", p, None)
            if config is None:
                raise DataFileError(f"{p} has no architecture; the model file is damaged")
            model = Sequential.from_config(config, where=f"{p} architecture")
            if not model.built:
                raise DataFileError(f"{p}: the architecture has no input_shape; the model file is damaged")
            if "weights" not in f:
                raise DataFileError(f"{p} has no weights group; the model file is damaged")
            model.set_weights(_collect(f["weights"]))
            history = _read_json(f, "history", p, {})
            model.history = history if isinstance(history, dict) else {}
            attrs = _read_json(f, "provenance", p, {})
            model.attrs = attrs if isinstance(attrs, dict) else {}
            rng_state = _read_json(f, "rng_state", p, [])
            if rng_state:
                try:
                    model.set_rng_state(rng_state)
                except (ValueError, TypeError, KeyError) as exc:
                    raise DataFileError(f"{p}: stored random-number state does not fit the architecture ({exc})") from None
            optimizer_state = _collect(f["optimizer"]) if "optimizer" in f else None
            extra = _read_json(f, "extra", p, {})
        except ShapeError as exc:
            raise DataFileError(f"{p}: {exc}") from None
        except (OSError, KeyError, ValueError, TypeError, RecursionError) as exc:
            raise DataFileError(f"{p}: cannot read the model ({type(exc).__name__}: {exc}); the file is damaged") from None
    finally:
        f.close()
    return model, optimizer_state, extra if isinstance(extra, dict) else {}


def load_model(path: str | os.PathLike):
    """Load a trained model written by ``fieldnet train`` or ``model.save`` (a built Sequential)."""
    return load_checkpoint(path)[0]
