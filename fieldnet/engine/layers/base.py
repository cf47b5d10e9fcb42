"""The life of a layer, shared by every layer of the engine.

A layer is configured in ``__init__`` (which stores and checks its arguments), builds its
weights from the per-sample input shape in :meth:`Layer.build`, computes ``forward`` on a batch
and keeps what ``backward`` needs, and returns the input gradient from ``backward`` while
filling ``grads``.

Conventions:
    * arrays are float32 and batch-first: (N, C, W) in 1D, (N, C, H, W) in 2D, (N, C, D, H, W) in 3D;
    * shapes passed to ``build``/``compute_output_shape``/``flops`` are per sample, without N;
    * ``compute_output_shape(input_shape)`` answers for any input shape; a built layer (and a
      built :class:`~fieldnet.engine.model.Sequential`) also has the attributes ``input_shape`` and
      ``output_shape`` of the shape it was built for;
    * ``params`` and ``grads`` are dicts of arrays with the same keys; ``buffers`` hold state that is
      saved but not trained (BatchNorm's running statistics);
    * FLOPs count one multiply-add as 2, per sample, forward only;
    * ``get_config`` returns JSON-able arguments such that ``type(l)(**l.get_config())`` rebuilds it.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np

from fieldnet.errors import ShapeError

LAYER_REGISTRY: dict[str, type[Layer]] = {}


def register_layer(cls: type[Layer]) -> type[Layer]:
    """Class decorator: make a layer loadable from a model file by its class name."""
    LAYER_REGISTRY[cls.__name__] = cls
    return cls


def work_dtype(x: np.ndarray) -> type:
    """The dtype a layer computes in: float64 stays float64 (gradient checks), all else is float32."""
    return np.float64 if x.dtype == np.float64 else np.float32


class Layer:
    """Base class of every layer.

    Attributes:
        name: optional label shown in summaries.
        trainable: False freezes the parameters (fine-tuning with --freeze).
        params, grads: parameter arrays and their gradients (same keys, shapes and dtypes); build
            allocates both, backward overwrites ``grads`` in place (:meth:`grad_buffer`).
        buffers: saved, non-trained state.
        input_shape, output_shape: per-sample shapes at build time (None before).
        input_grad: False skips the input gradient: ``backward`` still fills ``grads`` but
            returns None.  Sequential turns it off on its first layer, where the gradient with
            respect to the data is wasted work in training.
    """

    #: True for layers that draw random numbers (Dropout); their generator state is saved with the model
    has_randomness: ClassVar[bool] = False

    def __init__(self, name: str | None = None) -> None:
        self.name = name
        self.trainable = True
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.buffers: dict[str, np.ndarray] = {}
        self.input_shape: tuple[int, ...] | None = None
        self.output_shape: tuple[int, ...] | None = None
        self.input_grad = True
        self.built = False

    # -- configuration -------------------------------------------------------------------
    @property
    def label(self) -> str:
        return self.name or type(self).__name__

    def get_config(self) -> dict[str, Any]:
        """JSON-able constructor arguments: ``name``, then every other argument of ``__init__``, read
        from the attribute of the same name (layers keep their arguments under their own names)."""
        arguments = [a for a in inspect.signature(type(self).__init__).parameters if a not in ("self", "name")]
        return {"name": self.name, **{a: getattr(self, a) for a in arguments}}

    def sublayers(self) -> list[Layer]:
        """Layers inside this one (a container such as Residual); none for plain layers."""
        return []

    def spatial_stride(self) -> int:
        """Spatial down-sampling factor of this layer (pooling and strided convolutions exceed 1)."""
        return 1

    def build(self, input_shape: tuple[int, ...], rng: np.random.Generator) -> None:
        """Create weights for per-sample ``input_shape``; the default has none."""
        output_shape = self.compute_output_shape(input_shape)  # validates
        self.input_shape = tuple(int(s) for s in input_shape)
        self.output_shape = tuple(int(s) for s in output_shape)
        self.built = True

    def compute_output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
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

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        """Input gradient of the last forward for output gradient ``dy`` (None when ``input_grad``
        is False); fills ``grads``."""
        raise NotImplementedError

    # -- accounting ----------------------------------------------------------------------
    def param_count(self) -> int:
        return int(sum(p.size for p in self.params.values()))

    def flops(self, input_shape: tuple[int, ...]) -> int:
        """Forward FLOPs per sample (multiply-add = 2); elementwise layers count one per element."""
        return int(np.prod(self.compute_output_shape(input_shape)))

    def named_arrays(self, prefix: str = "") -> Iterator[tuple[str, dict[str, np.ndarray], dict[str, np.ndarray]]]:
        """Yield (path, params, buffers) for this layer and any sub-layers (containers override)."""
        yield prefix, self.params, self.buffers

    def grad_buffer(self, key: str) -> np.ndarray:
        """The gradient array of ``params[key]``, which backward overwrites in place.

        Every backward pass writes into the same arrays, so optimisers and callers may hold
        references to them; a new array is made only when the parameter's shape or dtype changed
        (a rebuild, or float64 weights in a gradient check).
        """
        p = self.params[key]
        g = self.grads.get(key)
        if g is None or g.shape != p.shape or g.dtype != p.dtype:
            g = self.grads[key] = np.zeros_like(p)
        return g

    def zero_grads(self) -> None:
        for key in self.params:
            self.grad_buffer(key).fill(0)

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


#: Keras-style argument names that existing model and architecture files hold, per layer type:
#: {name in the file: argument name}.  :func:`layer_from_spec` accepts them so that those files
#: keep loading, and predict bit for bit.
RENAMED_ARGUMENTS: dict[str, dict[str, str]] = {
    "Dense": {"units": "out_features", "use_bias": "bias"},
    "MaxPool2d": {"pool_size": "kernel_size"},
    "AvgPool2d": {"pool_size": "kernel_size"},
    "MaxPool3d": {"pool_size": "kernel_size"},
    "AvgPool3d": {"pool_size": "kernel_size"},
    "Dropout": {"rate": "p"},
    "LeakyReLU": {"alpha": "negative_slope"},
}


def _current_names(kind: str, config: dict[str, Any], where: str) -> dict[str, Any]:
    """``config`` with the names of :data:`RENAMED_ARGUMENTS` replaced (order kept)."""
    renamed = RENAMED_ARGUMENTS.get(kind, {})
    out: dict[str, Any] = {}
    for key, value in config.items():
        name = renamed.get(key, key)
        if name != key and name in config:
            raise ShapeError(f"{where}: {kind} gives both {key!r} and {name!r}, two names of one argument; keep {name!r}")
        out[name] = value
    return out


def layer_from_spec(spec: Any, where: str = "architecture") -> Layer:
    """Instantiate a registered layer from ``{"type": ..., "config": {...}}``.

    Only classes registered with :func:`register_layer` can be created, and only with the
    arguments their constructor declares (or their names in older files, :data:`RENAMED_ARGUMENTS`);
    anything else raises ShapeError naming the problem.  Containers (the residual block) rebuild
    their children through this same function.
    """
    if not isinstance(spec, dict) or not isinstance(spec.get("type"), str):
        raise ShapeError(f"{where}: each layer must be an object with a 'type' name, got {spec!r:.80}")
    kind = spec["type"]
    cls = LAYER_REGISTRY.get(kind)
    if cls is None:
        raise ShapeError(f"{where}: unknown layer type {kind!r}; known types: {', '.join(sorted(LAYER_REGISTRY))}")
    config = spec.get("config", {k: v for k, v in spec.items() if k != "type"})
    if not isinstance(config, dict):
        raise ShapeError(f"{where}: the config of {kind} must be an object, got {config!r:.80}")
    config = _current_names(kind, config, where)
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
