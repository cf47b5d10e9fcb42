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

Reading happens in two steps, so that no size a file declares is allocated before it is
checked: :class:`ModelFileReader` first gives the header (the JSON attributes and each stored
array's name, shape and dtype, from HDF5 metadata alone), which the engine compares with the
shapes the architecture needs; only then are arrays read, each after its shape is checked again.
Every array must also be backed by bytes the file really stores (model weights are stored
uncompressed: at most :data:`MAX_EXPANSION`-fold expansion is accepted).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fieldnet.errors import DataFileError
from fieldnet.io.atomic import RESUME_HINT, hdf5_image, require_regular_file, write_file_atomically
from fieldnet.io.formats import FORMAT_ATTRIBUTE, require_kind

FLOAT32_MAX = float(np.finfo(np.float32).max)

FORMAT = "model"
FORMAT_VERSION = 1

#: largest ratio of an array's size in memory to the bytes the file stores for it (weights of a
#: trained network barely compress; the allowance of fieldnet.io.limits covers zero biases)
MAX_EXPANSION = 16

#: the groups of a model file that hold arrays
ARRAY_GROUPS = ("weights", "optimizer")


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


@dataclass(frozen=True)
class StoredArray:
    """One array of a model file as its metadata describes it (nothing read).

    Attributes:
        shape: the declared shape.  dtype: numpy dtype.  stored_bytes: bytes the file holds for it.
    """

    shape: tuple[int, ...]
    dtype: np.dtype
    stored_bytes: int

    @property
    def nbytes(self) -> int:
        """Bytes the array takes once read."""
        return math.prod(self.shape) * self.dtype.itemsize


@dataclass
class ModelFileHeader:
    """Everything of a model file but the array values.

    Attributes:
        architecture, history, provenance, rng_state, extra: the JSON attributes.
        weights, optimizer: ``{name: StoredArray}`` of each array group (optimizer None when the
            file is not a training checkpoint).
    """

    path: Path
    architecture: dict[str, Any]
    weights: dict[str, StoredArray]
    optimizer: dict[str, StoredArray] | None
    history: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    rng_state: list = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def declared_bytes(self) -> int:
        """Bytes of every array the file declares, once read."""
        groups = [self.weights, self.optimizer or {}]
        return sum(a.nbytes for group in groups for a in group.values())


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
    when the file is a training checkpoint.  The file is built in memory and written in one
    piece, so a full disk is one FieldnetError line (see :mod:`fieldnet.io.atomic`).
    """
    from fieldnet import __version__

    def fill(f) -> None:
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

    return write_file_atomically(path, hdf5_image(fill), hint=RESUME_HINT)


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


def _stored_arrays(group, path: Path, prefix: str = "") -> dict[str, StoredArray]:
    """Name -> StoredArray of every dataset under ``group`` (metadata only)."""
    import h5py

    out: dict[str, StoredArray] = {}
    for key in group:
        obj = group.get(key)
        name = f"{prefix}{key}"
        if isinstance(obj, h5py.Group):
            out.update(_stored_arrays(obj, path, name + "/"))
        elif isinstance(obj, h5py.Dataset):
            if obj.dtype.kind not in "fiu" or obj.dtype.itemsize > 8:
                raise DataFileError(f"{path}: dataset {name} holds {obj.dtype} data; model weights are numbers")
            if obj.shape is None:
                raise DataFileError(f"{path}: dataset {name} has no shape (an empty dataspace); the model file is damaged")
            out[name] = StoredArray(tuple(int(s) for s in obj.shape), np.dtype(obj.dtype), int(obj.id.get_storage_size()))
        else:
            raise DataFileError(f"{path}: {name} is neither an array nor a group; the model file is damaged")
    return out


def _check_version(f, path: Path) -> None:
    version = f.attrs.get("format_version", FORMAT_VERSION)
    value = np.ravel(np.asarray(version))
    if value.size != 1 or value.dtype.kind not in "iu" or not 1 <= int(value[0]) <= FORMAT_VERSION:
        shown = value.tolist() if value.size != 1 else value.tolist()[0]
        raise DataFileError(
            f"{path} has format_version {shown!r}; this fieldnet reads model files of version {FORMAT_VERSION} "
            "(a newer fieldnet wrote it, or it is damaged): upgrade fieldnet or re-create the model"
        )


class ModelFileReader:
    """An open model file: its :attr:`header` at once, its arrays on request.

    Use as a context manager.  Raises DataFileError (one line) for a missing, non-regular,
    corrupt, foreign or newer file, and for arrays that are not numbers or that declare more
    bytes than the file stores.
    """

    def __init__(self, path: str | os.PathLike):
        import h5py

        from fieldnet.io.hdf5probe import probe_hdf5
        from fieldnet.io.limits import require_backed

        p = require_regular_file(path, "model file", f"train one with 'fieldnet train DATA -o {Path(path).name}'")
        probe_hdf5(p)
        try:
            self._file = h5py.File(p, "r")
        except OSError as exc:
            raise DataFileError(f"{p} is not a readable HDF5 model file ({exc}); give a file written by 'fieldnet train'") from None
        try:
            f = self._file
            require_kind(f.attrs, FORMAT, p)
            _check_version(f, p)
            config = _read_json(f, "architecture", p, None)
            if not isinstance(config, dict):
                raise DataFileError(f"{p} has no architecture object; the model file is damaged")
            if "weights" not in f or not isinstance(f.get("weights"), h5py.Group):
                raise DataFileError(f"{p} has no weights group; the model file is damaged")
            history = _read_json(f, "history", p, {})
            provenance = _read_json(f, "provenance", p, {})
            extra = _read_json(f, "extra", p, {})
            rng_state = _read_json(f, "rng_state", p, [])
            if not isinstance(rng_state, list):
                raise DataFileError(f"{p}: attribute 'rng_state' is not a list of random-number states; the model file is damaged")
            optimizer = None
            if "optimizer" in f:
                if not isinstance(f.get("optimizer"), h5py.Group):
                    raise DataFileError(f"{p}: 'optimizer' is not a group; the model file is damaged")
                optimizer = _stored_arrays(f["optimizer"], p)
            self.header = ModelFileHeader(
                path=p, architecture=config, weights=_stored_arrays(f["weights"], p), optimizer=optimizer,
                history=history if isinstance(history, dict) else {},
                provenance=provenance if isinstance(provenance, dict) else {},
                rng_state=rng_state,
                extra=extra if isinstance(extra, dict) else {},
            )
            stored = sum(a.stored_bytes for g in (self.header.weights, optimizer or {}) for a in g.values())
            require_backed(self.header.declared_bytes(), stored, f"{p}: the weights", ratio=MAX_EXPANSION)
        except DataFileError:
            self.close()
            raise
        except (OSError, KeyError, ValueError, TypeError, RuntimeError, RecursionError) as exc:
            self.close()
            raise DataFileError(f"{p}: cannot read the model ({type(exc).__name__}: {exc}); the file is damaged") from None

    def read(self, group: str, expected: Mapping[str, tuple[int, ...]] | None = None) -> dict[str, np.ndarray]:
        """The arrays of ``group`` ("weights" or "optimizer") by name.

        With ``expected``, the stored names must be exactly its keys and each shape must equal
        its value, checked from metadata before the array is read.  NaN or infinite values are
        refused.
        """
        import h5py

        p = self.header.path
        try:
            root = self._file[group]
            names = self.header.weights if group == "weights" else (self.header.optimizer or {})
            if expected is not None and set(expected) != set(names):
                missing, extra = sorted(set(expected) - set(names)), sorted(set(names) - set(expected))
                raise DataFileError(f"{p}: the stored {group} do not match the architecture: missing {missing[:5]}, "
                                    f"unexpected {extra[:5]}; the model file is damaged")
            out = {}
            for name in names:
                obj = root.get(name)
                if not isinstance(obj, h5py.Dataset):
                    raise DataFileError(f"{p}: {group}/{name} changed while it was read; the model file is damaged")
                shape = tuple(int(s) for s in obj.shape)
                want = names[name].shape if expected is None else tuple(expected[name])
                if shape != want:
                    raise DataFileError(f"{p}: {group}/{name} has shape {shape}, the architecture needs {want}; "
                                        "the model file is damaged")
                value = np.asarray(obj[()])
                if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
                    raise DataFileError(f"{p}: dataset {name} holds NaN or infinite values; the model file is damaged "
                                        "(or saved from a diverged run)")
                if value.dtype.kind in "fiu" and value.size and np.max(np.abs(value.astype(np.float64))) > FLOAT32_MAX:
                    raise DataFileError(f"{p}: dataset {name} holds values beyond float32's range (the engine computes "
                                        "in float32); the model file is damaged")
                out[name] = value
            return out
        except DataFileError:
            raise
        except (OSError, KeyError, ValueError, TypeError, RuntimeError) as exc:
            raise DataFileError(f"{p}: cannot read the {group} ({type(exc).__name__}: {exc}); the file is damaged") from None

    def close(self) -> None:
        f = getattr(self, "_file", None)
        if f is not None:
            try:
                f.close()
            except Exception:  # noqa: BLE001 -- closing a damaged file must not hide the first error
                pass
            self._file = None

    def __enter__(self) -> ModelFileReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_model_file(path: str | os.PathLike) -> ModelFileContents:
    """The contents of a model file written by :func:`write_model_file`, arrays as stored.

    The stored arrays are checked against the memory budget before they are read; the engine's
    :func:`fieldnet.engine.saving.load_checkpoint` also checks them against the architecture.

    Raises:
        DataFileError: the file is missing, not a model file, or damaged (one line).
    """
    from fieldnet.io.limits import require_memory

    with ModelFileReader(path) as reader:
        h = reader.header
        require_memory(h.declared_bytes(), f"{h.path}: the stored weights", "the file is damaged or crafted", error=DataFileError)
        return ModelFileContents(
            architecture=h.architecture, weights=reader.read("weights"), history=h.history,
            provenance=h.provenance, rng_state=h.rng_state,
            optimizer_state=reader.read("optimizer") if h.optimizer is not None else None, extra=h.extra,
        )
