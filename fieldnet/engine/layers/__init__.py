"""Layers of the CNN engine; see :mod:`fieldnet.engine.layers.base` for the life of a layer.

Names follow PyTorch: the classes (Conv2d, MaxPool2d, BatchNorm, Dropout, ...) and their
arguments, which mean what they mean in ``torch.nn``:

    Conv1d/Conv2d/Conv3d(out_channels, kernel_size=3, stride=1, padding="periodic", bias=True,
                         activation=None, in_channels=None)
    Dense(out_features, *, bias=True, activation=None, init="he")      # torch.nn.Linear
    MaxPool2d/AvgPool2d/MaxPool3d/AvgPool3d(kernel_size=2, stride=None)  # stride None: the window
    GlobalAvgPool(), GlobalMaxPool(), Flatten()
    ReLU(), Tanh(), Sigmoid(), LeakyReLU(negative_slope=0.01), ELU(alpha=1.0)
    Dropout(p=0.5), BatchNorm(momentum=0.1, eps=1e-5)
    Residual(layers, activation=None)

Differences from PyTorch: the input size is inferred at build time, so convolutions start with
``out_channels`` (``in_channels`` is an optional check) and Dense and BatchNorm take no input size;
``padding`` is a mode ("periodic", "zero" or "valid") rather than a number; convolutions and Dense
can fuse a ReLU (``activation="relu"``).  Every layer also takes ``name``.  Model and architecture
files that use the older Keras-style names (``units``, ``use_bias``, ``pool_size``, ``rate``,
LeakyReLU's ``alpha``) still load: see :data:`~fieldnet.engine.layers.base.RENAMED_ARGUMENTS`.
"""

from fieldnet.engine.layers.activations import ELU, LeakyReLU, ReLU, Sigmoid, Tanh
from fieldnet.engine.layers.base import (
    LAYER_REGISTRY,
    RENAMED_ARGUMENTS,
    Layer,
    layer_from_spec,
    layer_to_spec,
    register_layer,
)
from fieldnet.engine.layers.conv import Conv1d, Conv2d, Conv3d
from fieldnet.engine.layers.dense import Dense
from fieldnet.engine.layers.pooling import (
    AvgPool2d,
    AvgPool3d,
    GlobalAvgPool,
    GlobalMaxPool,
    MaxPool2d,
    MaxPool3d,
)
from fieldnet.engine.layers.regularization import BatchNorm, Dropout
from fieldnet.engine.layers.reshape import Flatten
from fieldnet.engine.layers.residual import Residual

__all__ = [
    "LAYER_REGISTRY",
    "RENAMED_ARGUMENTS",
    "Layer",
    "register_layer",
    "layer_from_spec",
    "layer_to_spec",
    "Conv1d",
    "Conv2d",
    "Conv3d",
    "MaxPool2d",
    "AvgPool2d",
    "MaxPool3d",
    "AvgPool3d",
    "GlobalAvgPool",
    "GlobalMaxPool",
    "Dense",
    "Flatten",
    "ReLU",
    "LeakyReLU",
    "Tanh",
    "Sigmoid",
    "ELU",
    "Dropout",
    "BatchNorm",
    "Residual",
]
