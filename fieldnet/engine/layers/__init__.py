"""Layers of the CNN engine; see :mod:`fieldnet.engine.layers.base` for the conventions."""

from fieldnet.engine.layers.activations import ELU, LeakyReLU, ReLU, Sigmoid, Tanh
from fieldnet.engine.layers.base import (
    LAYER_REGISTRY,
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
