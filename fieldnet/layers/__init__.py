"""Layers of the CNN engine; see :mod:`fieldnet.layers.base` for the conventions."""

from fieldnet.layers.base import LAYER_REGISTRY, Layer, register_layer
from fieldnet.layers.conv import Conv1d, Conv2d, Conv3d
from fieldnet.layers.pooling import (
    AvgPool2d,
    AvgPool3d,
    GlobalAvgPool,
    GlobalMaxPool,
    MaxPool2d,
    MaxPool3d,
)

__all__ = [
    "LAYER_REGISTRY",
    "Layer",
    "register_layer",
    "Conv1d",
    "Conv2d",
    "Conv3d",
    "MaxPool2d",
    "AvgPool2d",
    "MaxPool3d",
    "AvgPool3d",
    "GlobalAvgPool",
    "GlobalMaxPool",
]
