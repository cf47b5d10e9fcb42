"""A Sequential to and from a model file (:mod:`fieldnet.io.modelfile` holds the format).

Loading builds only registered layer classes with the arguments they declare, from the file's
JSON architecture, then checks every stored weight against the architecture; any mismatch is a
one-line DataFileError.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fieldnet.engine.model import Sequential
from fieldnet.errors import DataFileError, ShapeError
from fieldnet.io.modelfile import read_model_file


def save_model(model: Sequential, path: str | os.PathLike, *, optimizer=None,
               extra: dict[str, Any] | None = None) -> Path:
    """Write ``model`` (a built Sequential) to ``path`` atomically; returns the path.

    ``optimizer`` and ``extra`` make the file a training checkpoint (optimiser state, epoch,
    best-so-far, random-number-generator states) that :func:`load_checkpoint` restores.
    """
    return model.save(path, optimizer=optimizer, extra=extra)


def load_checkpoint(path: str | os.PathLike) -> tuple[Sequential, dict | None, dict]:
    """Load a model file with its training state: (model, optimizer_state or None, extra dict).

    The model comes back built, with weights, buffers, history, provenance and dropout
    random-number states restored.
    """
    p = Path(path)
    contents = read_model_file(p)
    try:
        model = Sequential.from_config(contents.architecture, where=f"{p} architecture")
        if not model.built:
            raise DataFileError(f"{p}: the architecture has no input_shape; the model file is damaged")
        model.set_weights(contents.weights)
    except ShapeError as exc:
        raise DataFileError(f"{p}: {exc}") from None
    except (KeyError, ValueError, TypeError, RecursionError) as exc:
        raise DataFileError(f"{p}: cannot read the model ({type(exc).__name__}: {exc}); the file is damaged") from None
    model.history = contents.history
    model.attrs = contents.provenance
    if contents.rng_state:
        try:
            model.set_rng_state(contents.rng_state)
        except (ValueError, TypeError, KeyError) as exc:
            raise DataFileError(f"{p}: stored random-number state does not fit the architecture ({exc})") from None
    return model, contents.optimizer_state, contents.extra


def load_model(path: str | os.PathLike) -> Sequential:
    """Load a trained model written by ``fieldnet train`` or ``model.save`` (a built Sequential)."""
    return load_checkpoint(path)[0]
