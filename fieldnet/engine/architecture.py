"""Architecture files: a network described as JSON data.

Either a list of layers or an object with a ``layers`` list; each layer is
``{"type": "Conv2d", "out_channels": 16, "kernel_size": 3}`` (arguments inline) or
``{"type": "Conv2d", "config": {...}}``.  Example::

    [{"type": "Conv2d", "out_channels": 16, "kernel_size": 3, "activation": "relu"},
     {"type": "MaxPool2d", "kernel_size": 2},
     {"type": "GlobalAvgPool"},
     {"type": "Dense", "out_features": 2}]

The arguments are those of the layer classes (PyTorch's names, :mod:`fieldnet.engine.layers`).
Only registered layer classes can be named, with the arguments they declare; the file is data
and is never executed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from fieldnet.engine.model import Sequential
from fieldnet.errors import FieldnetError, ShapeError
from fieldnet.io.user_text import read_user_text


def load_architecture(path: str | os.PathLike, input_shape: tuple[int, ...], seed: int = 0) -> Sequential:
    """Build the network described in a JSON architecture file for per-sample ``input_shape``.

    Raises FieldnetError (one line) for an unreadable file, invalid JSON, unknown layer types or
    arguments, and shapes that do not fit.
    """
    p = Path(path)
    text = read_user_text(p, "architecture file")
    try:
        spec = json.loads(text)
    except ValueError as exc:
        raise FieldnetError(f"architecture file {p} is not valid JSON ({exc})") from None
    layers = spec.get("layers") if isinstance(spec, dict) else spec
    if not isinstance(layers, list) or not layers:
        raise FieldnetError(f"architecture file {p} must hold a non-empty list of layers (or {{\"layers\": [...]}})")
    try:
        model = Sequential.from_config({"layers": layers, "seed": seed}, where=f"architecture file {p}")
        model.build(tuple(input_shape))
    except ShapeError as exc:
        raise FieldnetError(str(exc)) from None
    return model
