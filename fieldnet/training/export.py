"""A trained network as an ONNX model, to run outside fieldnet (onnxruntime, other runtimes, C++).

Needs the optional extra ``pip install "fieldnet[onnx]"`` (the ``onnx`` package).  The graph
computes the same logits as :meth:`fieldnet.engine.model.Sequential.predict`, in float32, for
a batch ``input (N, C, *spatial)`` of any N:

=====================  =====================================================================
fieldnet layer         ONNX operators
=====================  =====================================================================
Conv1d/2d/3d           periodic padding: explicit wrap-around, a ``Slice`` of each border
                       ``Concat``-ed to the other side along every spatial axis, then ``Conv``
                       without padding; zero padding: ``Conv`` with ``pads``; valid: ``Conv``.
                       A fused ReLU becomes ``Relu``.
MaxPool / AvgPool      ``MaxPool`` / ``AveragePool`` (valid windows)
GlobalAvg/MaxPool      ``GlobalAveragePool`` / ``GlobalMaxPool``, then ``Flatten``
Flatten                ``Flatten`` (axis 1: C-order, as fieldnet)
Dense                  ``Gemm`` (x W + b), fused ReLU as ``Relu``
BatchNorm              ``BatchNormalization`` with the running statistics
ReLU, LeakyReLU, ELU,  ``Relu``, ``LeakyRelu``, ``Elu``, ``Tanh``, ``Sigmoid``
Tanh, Sigmoid
Dropout                nothing (inference)
Residual               its layers, ``Add`` of the skip, optional ``Relu``
=====================  =====================================================================

The spatial size is fixed at export (the model's input shape, or ``input_shape``): periodic
padding of strided convolutions depends on it.  The model's provenance (classes, Tc_reference,
the data's model) travels as ONNX metadata.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from fieldnet.errors import FieldnetError

#: the ONNX operator set the graphs use (onnxruntime >= 1.13 and most runtimes run it)
OPSET = 17
INPUT_NAME = "input"
OUTPUT_NAME = "logits"


def _require_onnx():
    try:
        import onnx
    except ImportError:
        raise FieldnetError('exporting to ONNX needs the onnx package: pip install "fieldnet[onnx]"') from None
    return onnx


class _Graph:
    """Nodes and weights of an ONNX graph under construction, with unique names."""

    def __init__(self, onnx) -> None:
        self.onnx = onnx
        self.nodes: list = []
        self.initializers: list = []
        self._count = 0

    def name(self, stem: str) -> str:
        self._count += 1
        return f"{stem}_{self._count}"

    def constant(self, stem: str, value: np.ndarray) -> str:
        name = self.name(stem)
        self.initializers.append(self.onnx.numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], **attrs: Any) -> str:
        out = self.name(op.lower())
        self.nodes.append(self.onnx.helper.make_node(op, inputs, [out], name=out, **attrs))
        return out


def _periodic_pad(g: _Graph, x: str, spatial: tuple[int, ...], pads: list[tuple[int, int]]) -> str:
    """Wrap-around padding of ``x`` (N, C, *spatial): per axis, [last lo sites, x, first hi sites]."""
    for axis, (size, (lo, hi)) in enumerate(zip(spatial, pads, strict=True), start=2):
        if lo == 0 and hi == 0:
            continue
        if lo > size or hi > size:
            raise FieldnetError(f"periodic padding of {max(lo, hi)} sites on a lattice axis of {size} sites cannot be "
                                "exported; export at a larger lattice size")
        axes = g.constant("axes", np.array([axis], np.int64))
        parts = []
        if lo:
            parts.append(g.node("Slice", [x, g.constant("start", np.array([size - lo], np.int64)),
                                          g.constant("end", np.array([size], np.int64)), axes]))
        parts.append(x)
        if hi:
            parts.append(g.node("Slice", [x, g.constant("start", np.array([0], np.int64)),
                                          g.constant("end", np.array([hi], np.int64)), axes]))
        x = g.node("Concat", parts, axis=axis)
    return x


def _conv(g: _Graph, layer, x: str, shape: tuple[int, ...]) -> str:
    spatial = tuple(shape[1:])
    geometry = layer.axis_geometry(spatial)  # (output size, low padding, padded length) per axis
    pads = [(lo, padded - size - lo) for size, (_, lo, padded) in zip(spatial, geometry, strict=True)]
    attrs: dict[str, Any] = {"kernel_shape": list(layer.kernel_size), "strides": list(layer.stride)}
    if layer.padding == "periodic":
        x = _periodic_pad(g, x, spatial, pads)
    elif layer.padding == "zero":
        attrs["pads"] = [lo for lo, _ in pads] + [hi for _, hi in pads]
    inputs = [x, g.constant("W", np.asarray(layer.params["kernel"], np.float32))]
    if "bias" in layer.params:
        inputs.append(g.constant("B", np.asarray(layer.params["bias"], np.float32)))
    y = g.node("Conv", inputs, **attrs)
    return g.node("Relu", [y]) if layer.activation == "relu" else y


def _dense(g: _Graph, layer, x: str) -> str:
    kernel = np.asarray(layer.params["kernel"], np.float32)
    inputs = [x, g.constant("W", kernel)]
    if "bias" in layer.params:
        inputs.append(g.constant("B", np.asarray(layer.params["bias"], np.float32)))
    y = g.node("Gemm", inputs)
    return g.node("Relu", [y]) if getattr(layer, "activation", None) == "relu" else y


def _layer(g: _Graph, layer, x: str, shape: tuple[int, ...]) -> str:
    """The ONNX nodes of one fieldnet layer applied to ``x`` of per-sample ``shape``."""
    from fieldnet.engine import layers as L
    from fieldnet.engine.layers import activations, pooling

    if isinstance(layer, L.Conv1d | L.Conv2d | L.Conv3d):
        return _conv(g, layer, x, shape)
    if isinstance(layer, L.Dense):
        return _dense(g, layer, x)
    if isinstance(layer, pooling._PoolNd):
        op = "MaxPool" if layer.mode == "max" else "AveragePool"
        return g.node(op, [x], kernel_shape=list(layer.kernel_size), strides=list(layer.stride))
    if isinstance(layer, pooling._GlobalPool):
        op = "GlobalMaxPool" if layer.mode == "max" else "GlobalAveragePool"
        return g.node("Flatten", [g.node(op, [x])], axis=1)
    if isinstance(layer, L.Flatten):
        return g.node("Flatten", [x], axis=1)
    if isinstance(layer, L.Dropout):
        return x
    if isinstance(layer, L.BatchNorm):
        p, b = layer.params, layer.buffers
        return g.node("BatchNormalization", [x, g.constant("scale", np.asarray(p["gamma"], np.float32)),
                                             g.constant("bias", np.asarray(p["beta"], np.float32)),
                                             g.constant("mean", np.asarray(b["running_mean"], np.float32)),
                                             g.constant("var", np.asarray(b["running_var"], np.float32))],
                      epsilon=float(layer.eps))
    if isinstance(layer, L.Residual):
        h, inner = x, tuple(shape)
        for sub in layer.layers:
            h = _layer(g, sub, h, inner)
            inner = sub.compute_output_shape(inner)
        y = g.node("Add", [h, x])
        return g.node("Relu", [y]) if layer.activation == "relu" else y
    simple = {activations.ReLU: ("Relu", {}), activations.Tanh: ("Tanh", {}), activations.Sigmoid: ("Sigmoid", {})}
    if type(layer) in simple:
        op, attrs = simple[type(layer)]
        return g.node(op, [x], **attrs)
    if isinstance(layer, activations.LeakyReLU):
        return g.node("LeakyRelu", [x], alpha=float(layer.negative_slope))
    if isinstance(layer, activations.ELU):
        return g.node("Elu", [x], alpha=float(layer.alpha))
    raise FieldnetError(f"layer {layer.label} ({type(layer).__name__}) has no ONNX export")


def to_onnx(model, input_shape: tuple[int, ...] | None = None, *, opset: int = OPSET):
    """The ONNX ModelProto of a trained :class:`fieldnet.engine.model.Sequential`.

    Args:
        model: a built model.
        input_shape: per-sample (C, *spatial) to export for (a size-agnostic network at
            another L); default the model's own input shape.
        opset: the ONNX operator set version.

    Returns:
        ``onnx.ModelProto`` with input ``input`` float32 (N, C, *spatial) and output ``logits``
        float32 (N, n_outputs), checked with ``onnx.checker``.
    """
    onnx = _require_onnx()
    if not model.built:
        raise FieldnetError("export: the model is not built; give it an input_shape or train it first")
    shape = tuple(int(s) for s in (input_shape or model.input_shape))
    try:
        out_shape = model.compute_output_shape(shape)
    except Exception as exc:
        raise FieldnetError(f"export: the model does not accept input {shape}: {exc}") from None
    g = _Graph(onnx)
    x, current = INPUT_NAME, shape
    for layer in model.layers:
        x = _layer(g, layer, x, current)
        current = layer.compute_output_shape(current)
    g.nodes.append(onnx.helper.make_node("Identity", [x], [OUTPUT_NAME], name="output"))
    tensor = onnx.TensorProto.FLOAT
    graph = onnx.helper.make_graph(
        g.nodes, "fieldnet",
        [onnx.helper.make_tensor_value_info(INPUT_NAME, tensor, ["N", *shape])],
        [onnx.helper.make_tensor_value_info(OUTPUT_NAME, tensor, ["N", *out_shape])],
        initializer=g.initializers,
    )
    proto = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", opset)],
                                   producer_name="fieldnet", doc_string=_describe(model, shape))
    proto.ir_version = min(proto.ir_version, 8)  # what opset 17 needs; older runtimes refuse newer IR
    for key, value in _metadata(model).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(proto)
    return proto


def _describe(model, shape: tuple[int, ...]) -> str:
    return (f"fieldnet phase classifier: input (N, {', '.join(map(str, shape))}) float32 configurations, "
            f"output logits (N, {model.output_shape[0]}); softmax gives the class probabilities")


def _metadata(model) -> dict[str, str]:
    from fieldnet import __version__

    attrs = model.attrs or {}
    meta = {"fieldnet_version": __version__, "architecture": json.dumps(model.get_config())}
    for key in ("classes", "Tc_reference", "model", "lattice_sizes"):
        if key in attrs:
            meta[key] = json.dumps(attrs[key], default=float)
    return meta


def export_onnx(model, path: str | os.PathLike, *, input_shape: tuple[int, ...] | None = None,
                opset: int = OPSET, overwrite: bool = True) -> Path:
    """Write ``model`` (a Sequential or a model file's path) as an ONNX file, atomically.

    Returns:
        The path written.
    """
    from fieldnet.io.atomic import atomic_output, check_output_path, describe_os_error

    if isinstance(model, str | os.PathLike):
        from fieldnet.engine.saving import load_model

        model = load_model(model)
    proto = to_onnx(model, input_shape, opset=opset)
    out = check_output_path(path, overwrite=overwrite)
    try:
        with atomic_output(out) as tmp:
            tmp.write_bytes(proto.SerializeToString())
    except OSError as exc:
        raise FieldnetError(describe_os_error(exc, out)) from exc
    return out
