"""The life of a layer, shared by every layer of the engine.

A layer is configured in ``__init__`` (which only stores arguments), builds its weights from the
per-sample input shape in :meth:`Layer.build`, computes ``forward`` on a batch and keeps what
``backward`` needs, and returns the input gradient from ``backward`` while filling ``grads``.

Conventions:
    * arrays are float32 and batch-first: (N, C, W) in 1D, (N, C, H, W) in 2D, (N, C, D, H, W) in 3D;
    * shapes passed to ``build``/``output_shape``/``flops`` are per sample, without N;
    * ``params`` and ``grads`` are dicts of arrays with the same keys; ``buffers`` hold state that is
      saved but not trained (BatchNorm's running statistics);
    * FLOPs count one multiply-add as 2, per sample, forward only;
    * ``get_config`` returns JSON-able arguments such that ``type(l)(**l.get_config())`` rebuilds it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np

from fieldnet.errors import ShapeError

LAYER_REGISTRY: dict[str, type[Layer]] = {}


def register_layer(cls: type[Layer]) -> type[Layer]:
    """Class decorator: make a layer loadable from a model file by its class name."""
    LAYER_REGISTRY[cls.__name__] = cls
    return cls


def conv_output_size(size: int, kernel: int, stride: int, pad_total: int, *, layer: str) -> int:
    """Output length along one axis, (W - F + 2P)/S + 1, or a ShapeError naming the layer.

    ``pad_total`` is the total padding 2P (it may be odd for even kernels with 'same' padding).
    """
    span = size - kernel + pad_total
    if span < 0 or kernel < 1 or stride < 1:
        raise ShapeError(
            f"{layer}: input size {size} does not fit kernel {kernel} with padding {pad_total}/2 and "
            f"stride {stride}; the output size (W - F + 2P)/S + 1 = ({size} - {kernel} + {pad_total})/{stride} + 1 "
            "would be below 1"
        )
    return span // stride + 1


class Layer:
    """Base class of every layer.

    Attributes:
        name: optional label shown in summaries.
        trainable: False freezes the parameters (fine-tuning with --freeze).
        params, grads: parameter arrays and their gradients, filled by build/backward.
        buffers: saved, non-trained state.
        input_shape_: per-sample input shape seen at build time.
    """

    #: spatial down-sampling factor of this layer (pooling and strided convolutions set it)
    def spatial_stride(self) -> int:
        return 1

    has_randomness: ClassVar[bool] = False

    def __init__(self, name: str | None = None) -> None:
        self.name = name
        self.trainable = True
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.buffers: dict[str, np.ndarray] = {}
        self.input_shape_: tuple[int, ...] | None = None
        self.built = False

    # -- configuration -------------------------------------------------------------------
    @property
    def label(self) -> str:
        return self.name or type(self).__name__

    def get_config(self) -> dict[str, Any]:
        """JSON-able constructor arguments."""
        return {"name": self.name}

    def build(self, input_shape: tuple[int, ...], rng: np.random.Generator) -> None:
        """Create weights for per-sample ``input_shape``; the default has none."""
        self.output_shape(input_shape)  # validates
        self.input_shape_ = tuple(int(s) for s in input_shape)
        self.built = True

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Per-sample output shape; raises ShapeError when the input does not fit."""
        return tuple(input_shape)

    def array_shapes(self, input_shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        """Shapes of the parameters and buffers ``build(input_shape)`` creates, by name, without
        creating them: a model file is checked against them before anything is allocated.
        Layers with weights override it (the default: none)."""
        return {}

    # -- computation ---------------------------------------------------------------------
    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dy: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    # -- accounting ----------------------------------------------------------------------
    def param_count(self) -> int:
        return int(sum(p.size for p in self.params.values()))

    def flops(self, input_shape: tuple[int, ...]) -> int:
        """Forward FLOPs per sample (multiply-add = 2); elementwise layers count one per element."""
        return int(np.prod(self.output_shape(input_shape)))

    def named_arrays(self, prefix: str = "") -> Iterator[tuple[str, dict[str, np.ndarray], dict[str, np.ndarray]]]:
        """Yield (path, params, buffers) for this layer and any sub-layers (containers override)."""
        yield prefix, self.params, self.buffers

    def zero_grads(self) -> None:
        for key, p in self.params.items():
            g = self.grads.get(key)
            if g is None or g.shape != p.shape:
                self.grads[key] = np.zeros_like(p)
            else:
                g.fill(0)

    def check_input(self, x: np.ndarray, expected_ndim: int) -> None:
        """Raise ShapeError unless x is a batch with ``expected_ndim`` axes (batch included)."""
        if x.ndim != expected_ndim:
            raise ShapeError(
                f"{self.label}: expected a batch of {expected_ndim} axes (N first), got shape {x.shape}"
            )

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name" and v is not None)
        return f"{type(self).__name__}({args})"


# -- serialisation: a layer as JSON data, never as code ---------------------------------------


def layer_to_spec(layer: Layer) -> dict[str, Any]:
    """``{"type": class name, "config": JSON-able constructor arguments}``."""
    return {"type": type(layer).__name__, "config": layer.get_config()}


def layer_from_spec(spec: Any, where: str = "architecture") -> Layer:
    """Instantiate a registered layer from ``{"type": ..., "config": {...}}``.

    Only classes registered with :func:`register_layer` can be created, and only with the
    arguments their constructor declares; anything else raises ShapeError naming the problem.
    Containers (the residual block) rebuild their children through this same function.
    """
    import inspect

    if not isinstance(spec, dict) or not isinstance(spec.get("type"), str):
        raise ShapeError(f"{where}: each layer must be an object with a 'type' name, got {spec!r:.80}")
    kind = spec["type"]
    cls = LAYER_REGISTRY.get(kind)
    if cls is None:
        raise ShapeError(f"{where}: unknown layer type {kind!r}; known types: {', '.join(sorted(LAYER_REGISTRY))}")
    config = spec.get("config", {k: v for k, v in spec.items() if k != "type"})
    if not isinstance(config, dict):
        raise ShapeError(f"{where}: the config of {kind} must be an object, got {config!r:.80}")
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
    unknown = sorted(set(config) - accepted)
    if unknown:
        raise ShapeError(f"{where}: {kind} has no argument(s) {unknown}; it accepts {sorted(accepted)}")
    if hasattr(cls, "from_config"):
        return cls.from_config(config, where=where)
    try:
        return cls(**config)
    except (TypeError, ValueError) as exc:
        raise ShapeError(f"{where}: cannot build {kind} from {config}: {exc}") from exc
