"""Layers of the CNN engine; see :mod:`fieldnet.layers.base` for the conventions."""

from fieldnet.layers.base import LAYER_REGISTRY, Layer, register_layer

__all__ = ["LAYER_REGISTRY", "Layer", "register_layer"]
