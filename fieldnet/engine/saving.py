"""A Sequential to and from a model file (:mod:`fieldnet.io.modelfile` holds the format).

Loading never allocates a size it has not checked.  It creates the registered layer classes
from the file's JSON architecture without building them, works out from the declared input
shape the shape of every parameter and buffer (:meth:`Layer.array_shapes`), and compares those
with the arrays the file stores (names and shapes, from HDF5 metadata) and with the memory
budget (:mod:`fieldnet.io.limits`).  Only then are the weights read and the network built.
Any mismatch is a one-line DataFileError naming the size and the budget or the array.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from fieldnet.engine.model import Sequential
from fieldnet.errors import DataFileError, ShapeError
from fieldnet.io.modelfile import ModelFileReader

#: bytes per parameter the engine holds while a model is loaded: the float32 value, its
#: gradient, and the array read from the file
BYTES_PER_PARAMETER = 3 * 4

#: checkpoint extras that count something (``fieldnet train --resume`` reads them)
COUNT_EXTRAS = ("epoch", "stale")


def save_model(model: Sequential, path: str | os.PathLike, *, optimizer=None,
               extra: dict[str, Any] | None = None) -> Path:
    """Write ``model`` (a built Sequential) to ``path`` atomically; returns the path.

    ``optimizer`` and ``extra`` make the file a training checkpoint (optimiser state, epoch,
    best-so-far, random-number-generator states) that :func:`load_checkpoint` restores.
    """
    return model.save(path, optimizer=optimizer, extra=extra)


def planned_arrays(model: Sequential, input_shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
    """``{"<layer path>/<name>": shape}`` of every parameter and buffer that building ``model``
    for per-sample ``input_shape`` creates, computed without creating them (ShapeError when
    the shape does not fit a layer)."""
    shapes: dict[str, tuple[int, ...]] = {}
    shape = tuple(int(s) for s in input_shape)
    for i, layer in enumerate(model.layers):
        try:
            shapes.update({f"{i}/{k}": tuple(int(n) for n in s) for k, s in layer.array_shapes(shape).items()})
            shape = layer.compute_output_shape(shape)
        except ShapeError as exc:
            raise ShapeError(f"layer {i} ({type(layer).__name__}) with input {shape}: {exc}") from None
    return shapes


def forward_bytes_per_sample(model: Sequential, input_shape: tuple[int, ...]) -> int:
    """An upper estimate of the float32 working memory one sample needs in a forward pass:
    the largest sum, over the layers, of input, output and padded input (convolutions)."""

    def walk(layers, shape) -> tuple[int, tuple[int, ...]]:
        peak = 0
        for layer in layers:
            inner = layer.sublayers()
            out = layer.compute_output_shape(shape)
            need = math.prod(shape) + math.prod(out)
            kernel = layer.array_shapes(shape).get("kernel") if not inner else None
            if kernel is not None and len(kernel) >= 3:
                need += shape[0] * math.prod(n + k for n, k in zip(shape[1:], kernel[2:], strict=False))
            if inner:
                need = max(need, walk(inner, shape)[0] + math.prod(shape))
            peak = max(peak, need)
            shape = out
        return peak, shape

    return 4 * walk(model.layers, tuple(int(s) for s in input_shape))[0]


def _input_shape(config: dict[str, Any], where: str) -> tuple[int, ...]:
    shape = config.get("input_shape")
    if not isinstance(shape, list) or not shape or \
            not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape):
        raise DataFileError(f"{where}: the architecture's input_shape must be a list of positive integers, got "
                            f"{shape!r:.80}; the model file is damaged")
    return tuple(shape)


def _check_extra(extra: dict[str, Any], where: Path, checkpoint: bool) -> None:
    """The run state a training checkpoint stores (``fieldnet train --resume`` reads it) must be
    counts and a number; a checkpoint (a file with optimiser state) must have all of it."""
    if checkpoint:
        missing = [key for key in (*COUNT_EXTRAS, "best_val") if key not in extra]
        if missing:
            raise DataFileError(f"{where}: the checkpoint lacks {', '.join(missing)}; the file is damaged, rerun without "
                                "--resume (and with --overwrite) to start afresh")
    for key in COUNT_EXTRAS:
        value = extra.get(key, 0)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise DataFileError(f"{where}: the checkpoint's {key} is {value!r}, not a count >= 0; the file is damaged, "
                                "rerun without --resume (and with --overwrite) to start afresh")
    best = extra.get("best_val", 0.0)
    if not isinstance(best, int | float) or isinstance(best, bool):
        raise DataFileError(f"{where}: the checkpoint's best_val is {best!r}, not a number; the file is damaged, "
                            "rerun without --resume (and with --overwrite) to start afresh")


def load_checkpoint(path: str | os.PathLike) -> tuple[Sequential, dict | None, dict]:
    """Load a model file with its training state: (model, optimizer_state or None, extra dict).

    The model comes back built, with weights, buffers, history, provenance and dropout
    random-number states restored.

    Raises:
        DataFileError: the file is missing, damaged, crafted (a size that its stored arrays do
            not hold or that exceeds the memory budget), or of a newer format (one line).
    """
    from fieldnet.io.limits import require_memory

    p = Path(path)
    with ModelFileReader(p) as reader:
        header = reader.header
        where = f"{p} architecture"
        try:
            config = dict(header.architecture)
            input_shape = _input_shape(config, str(p))
            model = Sequential.from_config({**config, "input_shape": None}, where=where)
            planned = planned_arrays(model, input_shape)
        except ShapeError as exc:
            raise DataFileError(f"{p}: {exc}") from None
        except (KeyError, ValueError, TypeError, RecursionError, OverflowError) as exc:
            raise DataFileError(f"{p}: cannot read the model ({type(exc).__name__}: {exc}); the file is damaged") from None
        missing, unexpected = sorted(set(planned) - set(header.weights)), sorted(set(header.weights) - set(planned))
        if missing or unexpected:
            raise DataFileError(f"{p}: the stored weights do not match the architecture: missing {missing[:5]}, "
                                f"unexpected {unexpected[:5]}; the model file is damaged")
        for name, shape in planned.items():
            stored = header.weights[name]
            if stored.shape != shape:
                raise DataFileError(f"{p}: weight {name} has shape {stored.shape}, the architecture needs {shape}; "
                                    "the model file is damaged")
        n_params = sum(math.prod(s) for s in planned.values())
        require_memory(n_params * BYTES_PER_PARAMETER, f"{p}: the {n_params:,} parameters of the architecture",
                       "the model file is damaged or crafted, or set FIELDNET_MEMORY_BUDGET higher", error=DataFileError)
        require_memory(forward_bytes_per_sample(model, input_shape),
                       f"{p}: one sample of the declared input shape {input_shape}",
                       "the model file is damaged or crafted", error=DataFileError)
        weights = reader.read("weights", planned)
        optimizer_state = reader.read("optimizer") if header.optimizer is not None else None
    _check_extra(header.extra, p, checkpoint=header.optimizer is not None)
    try:
        model.build(input_shape)
        model.set_weights(weights)
    except ShapeError as exc:
        raise DataFileError(f"{p}: {exc}") from None
    except (KeyError, ValueError, TypeError, RecursionError) as exc:
        raise DataFileError(f"{p}: cannot read the model ({type(exc).__name__}: {exc}); the file is damaged") from None
    model.history = header.history
    model.attrs = header.provenance
    if header.rng_state:
        n_random = len(model.rng_state())
        if len(header.rng_state) != n_random:
            raise DataFileError(f"{p}: the file stores {len(header.rng_state)} random-number states but the architecture "
                                f"has {n_random} layers that draw random numbers (Dropout); the model file is damaged")
        try:
            model.set_rng_state(header.rng_state)
        except (ValueError, TypeError, KeyError, OverflowError) as exc:
            raise DataFileError(f"{p}: a stored random-number state is not valid ({type(exc).__name__}: {exc}); "
                                "the model file is damaged") from None
    return model, optimizer_state, header.extra


def load_model(path: str | os.PathLike) -> Sequential:
    """Load a trained model written by ``fieldnet train`` or ``model.save`` (a built Sequential)."""
    return load_checkpoint(path)[0]
