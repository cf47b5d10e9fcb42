"""Named network architectures for phase classification, for 1D, 2D or 3D lattices.

* ``r1``: the reference CNN of Carrasquilla and Melko style -- two periodic 3x3 convs each
  followed by 2x2 max-pool coarse-graining, then two dense layers.  Tied to one L.
* ``gap``: periodic convs with max-pool coarse-graining and global average pooling; the
  output depends on the lattice only through averages, so one network takes every L (train
  on several sizes at once) and is exactly translation invariant.
* ``vgg``: stacks of two 3x3 periodic convs between poolings (Simonyan and Zisserman style).
* ``resnet``: a small residual net of periodic convs with skip connections and global pooling.
"""

from __future__ import annotations

from collections.abc import Callable

from fieldnet.engine.layers import (
    Conv2d,
    Conv3d,
    Dense,
    Dropout,
    Flatten,
    GlobalAvgPool,
    Residual,
)
from fieldnet.engine.layers.pooling import MaxPool2d, MaxPool3d
from fieldnet.engine.model import Sequential
from fieldnet.errors import FieldnetError

#: presets whose networks accept any lattice size
SIZE_AGNOSTIC = ("gap", "resnet")


def _ops(ndim: int):
    """(conv class, max-pool class) for a lattice dimension."""
    if ndim == 1:
        raise FieldnetError("the presets coarse-grain with 2D/3D max-pooling; for 1D chains give --architecture FILE")
    return {2: Conv2d, 3: Conv3d}[ndim], {2: MaxPool2d, 3: MaxPool3d}[ndim]


def r1(ndim: int, n_out: int) -> list:
    conv, pool = _ops(ndim)
    return [conv(16, 3, activation="relu"), pool(2), conv(32, 3, activation="relu"), pool(2),
            Flatten(), Dense(64, activation="relu"), Dense(n_out)]


def gap(ndim: int, n_out: int) -> list:
    conv, pool = _ops(ndim)
    return [conv(16, 3, activation="relu"), pool(2), conv(32, 3, activation="relu"),
            GlobalAvgPool(), Dense(32, activation="relu"), Dense(n_out)]


def vgg(ndim: int, n_out: int) -> list:
    conv, pool = _ops(ndim)
    return [conv(16, 3, activation="relu"), conv(16, 3, activation="relu"), pool(2),
            conv(32, 3, activation="relu"), conv(32, 3, activation="relu"), pool(2),
            Flatten(), Dense(64, activation="relu"), Dense(n_out)]


def resnet(ndim: int, n_out: int) -> list:
    conv, pool = _ops(ndim)

    def block(c):
        return Residual([conv(c, 3, activation="relu"), conv(c, 3)], activation="relu")

    return [conv(16, 3, activation="relu"), block(16), pool(2), conv(32, 3, activation="relu"), block(32),
            GlobalAvgPool(), Dense(n_out)]


PRESETS: dict[str, Callable[[int, int], list]] = {"r1": r1, "gap": gap, "vgg": vgg, "resnet": resnet}


def build_preset(name: str, input_shape: tuple[int, ...], n_out: int = 2, seed: int = 0,
                 dropout: float = 0.0) -> Sequential:
    """A built preset network for per-sample ``input_shape`` (C, *spatial) with ``n_out`` outputs.

    ``dropout`` > 0 puts a Dropout layer of that rate before the final Dense layer (needed for
    Monte Carlo dropout uncertainties, ``fieldnet analyze uncertainty``).
    """
    if name not in PRESETS:
        raise FieldnetError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)} or give --architecture FILE")
    ndim = len(input_shape) - 1
    if ndim not in (1, 2, 3):
        raise FieldnetError(f"presets need (channels, 1-3 lattice axes) inputs, got {input_shape}")
    from fieldnet.errors import ShapeError

    try:
        layers = PRESETS[name](ndim, n_out)
        if dropout:
            if not 0.0 < dropout < 1.0:
                raise FieldnetError(f"--dropout must be in [0, 1), got {dropout}")
            layers.insert(len(layers) - 1, Dropout(dropout))
        return Sequential(layers, input_shape=tuple(input_shape), seed=seed)
    except ShapeError as exc:
        raise FieldnetError(f"preset {name!r} does not fit input {tuple(input_shape)}: {exc}; use a larger L or "
                            "the 'gap' preset") from None
