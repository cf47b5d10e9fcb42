"""Layers of the CNN engine; see :mod:`fieldnet.layers.base` for the conventions."""

from fieldnet.layers.activations import ELU, LeakyReLU, ReLU, Sigmoid, Tanh
from fieldnet.layers.base import (
    LAYER_REGISTRY,
    Layer,
    layer_from_spec,
    layer_to_spec,
    register_layer,
)
from fieldnet.layers.conv import Conv1d, Conv2d, Conv3d
from fieldnet.layers.dense import Dense
from fieldnet.layers.pooling import (
    AvgPool2d,
    AvgPool3d,
    GlobalAvgPool,
    GlobalMaxPool,
    MaxPool2d,
    MaxPool3d,
)
from fieldnet.layers.regularization import BatchNorm, Dropout
from fieldnet.layers.reshape import Flatten
from fieldnet.layers.residual import Residual

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
