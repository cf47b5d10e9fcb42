"""Sequential: a stack of layers, trained and used batch-first.

>>> from fieldnet.engine.layers import Conv2d, MaxPool2d, Flatten, Dense
>>> model = Sequential([Conv2d(16, 3, activation="relu"), MaxPool2d(2), Flatten(), Dense(2)],
...                    input_shape=(1, 16, 16), seed=0)
>>> print(model.summary())                                  # doctest: +SKIP

Inputs are float32 ``(N, *input_shape)``; outputs are raw scores ``(N, n_outputs)`` (logits), and
:meth:`Sequential.predict_proba` turns them into probabilities.  The same ``seed`` gives the same
initial weights and dropout masks whatever the thread count.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fieldnet.engine.blas import single_threaded_blas
from fieldnet.engine.layers.base import Layer, layer_from_spec, layer_to_spec
from fieldnet.errors import NonFiniteOutput, ShapeError

if TYPE_CHECKING:
    from fieldnet.engine.optimizers import Optimizer


def _leaves(layers: list[Layer]) -> Iterator[Layer]:
    for layer in layers:
        subs = layer.sublayers()
        if subs:
            yield from _leaves(subs)
        else:
            yield layer


class Sequential:
    """A feed-forward stack of layers.

    Args:
        layers: the layers, in order.
        input_shape: per-sample input shape, (C, W), (C, H, W) or (C, D, H, W); the model is built
            at once when given, else on :meth:`build`.
        seed: seeds the initial weights and every Dropout mask stream.

    Attributes:
        input_shape, output_shape: per-sample shapes the model was built for (None before).
        history: per-epoch training records (``loss``, ``accuracy``, ``val_loss``, ...).
        attrs: provenance stored in model files (data file, command, Tc reference, ...).
        input_grad: compute the gradient with respect to the input in :meth:`backward`
            (off by default: training never needs it; :meth:`input_gradient` turns it on).
    """

    def __init__(self, layers: list[Layer], input_shape: tuple[int, ...] | None = None, seed: int = 0) -> None:
        self.layers = list(layers)
        if not self.layers:
            raise ShapeError("Sequential: a model needs at least one layer")
        self.seed = int(seed)
        self.input_shape: tuple[int, ...] | None = None
        self.output_shape: tuple[int, ...] | None = None
        self.history: dict[str, list[float]] = {}
        self.attrs: dict[str, Any] = {}
        self._input_grad = False
        if input_shape is not None:
            self.build(input_shape)

    # -- construction ----------------------------------------------------------------------
    @property
    def built(self) -> bool:
        return self.input_shape is not None

    def build(self, input_shape: tuple[int, ...]) -> Sequential:
        """Create every layer's weights for per-sample ``input_shape``; raises ShapeError naming
        the first layer the shape does not fit."""
        rng = np.random.default_rng(self.seed)
        shape = tuple(int(s) for s in input_shape)
        self.input_shape = shape
        for i, layer in enumerate(self.layers):
            try:
                layer.build(shape, rng)
                shape = layer.output_shape
            except ShapeError as exc:
                self.input_shape = None
                raise ShapeError(f"layer {i} ({type(layer).__name__}) with input {shape}: {exc}") from None
        self.output_shape = shape
        self.input_grad = self._input_grad
        return self

    @property
    def input_grad(self) -> bool:
        return self._input_grad

    @input_grad.setter
    def input_grad(self, value: bool) -> None:
        self._input_grad = bool(value)
        # the gradient with respect to the data is wasted work in training: the first layer skips it
        self.layers[0].input_grad = self._input_grad

    def _require_built(self, x: np.ndarray | None = None) -> None:
        if not self.built:
            if x is None:
                raise ShapeError("Sequential: build(input_shape) the model first")
            self.build(x.shape[1:])
        if x is not None and tuple(x.shape[1:]) != self.input_shape:
            # size-agnostic stacks (global pooling) accept other lattice sizes
            try:
                self.compute_output_shape(tuple(x.shape[1:]))
            except ShapeError as exc:
                raise ShapeError(f"model built for input {self.input_shape} got a batch of {tuple(x.shape[1:])}: {exc}") from None

    def compute_output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Per-sample output shape for a per-sample input shape (ShapeError when it does not fit).

        Size-agnostic stacks (global pooling) accept other shapes than the one they were built
        for; ``output_shape`` is the one for the built ``input_shape``.
        """
        shape = tuple(input_shape)
        for i, layer in enumerate(self.layers):
            try:
                shape = layer.compute_output_shape(shape)
            except ShapeError as exc:
                raise ShapeError(f"layer {i} ({type(layer).__name__}): {exc}") from None
        return shape

    # -- computation -----------------------------------------------------------------------
    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """Outputs (N, n_outputs) of a batch ``x`` (N, *input_shape)."""
        x = np.asarray(x)
        if x.dtype != np.float64:
            x = x.astype(np.float32, copy=False)
        self._require_built(x)
        with single_threaded_blas():
            for layer in self.layers:
                x = layer.forward(x, training)
        return x

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        """Back-propagate d(loss)/d(outputs) of the last forward; fills every layer's grads.

        Returns the input gradient, or None when ``input_grad`` is off.
        """
        g = dout
        with single_threaded_blas():
            for layer in reversed(self.layers):
                g = layer.backward(g)
        return g

    def named_parameters(self) -> list[tuple[str, np.ndarray, np.ndarray]]:
        """(path, parameter, gradient) of every trainable parameter, in a fixed order."""
        out = []
        for i, layer in enumerate(self.layers):
            if not layer.trainable:
                continue
            for path, params, _ in layer.named_arrays(str(i)):
                owner = self._owner(i, path)
                if not owner.trainable:
                    continue
                for key in sorted(params):
                    out.append((f"{path}/{key}", params[key], owner.grads[key]))
        return out

    def _owner(self, index: int, path: str) -> Layer:
        layer = self.layers[index]
        for part in path.split("/")[1:]:
            layer = layer.sublayers()[int(part)]
        return layer

    def zero_grads(self) -> None:
        for layer in _leaves(self.layers):
            layer.zero_grads()

    def freeze(self, k: int) -> Sequential:
        """Keep the first ``k`` layers fixed in training (fine-tuning)."""
        if not 0 <= k <= len(self.layers):
            raise ShapeError(f"freeze: the model has {len(self.layers)} layers, cannot freeze {k}")
        for i, layer in enumerate(self.layers):
            layer.trainable = i >= k
            for leaf in _leaves([layer]):
                leaf.trainable = i >= k
        return self

    def train_step(self, x: np.ndarray, y: np.ndarray, loss, optimizer: Optimizer) -> tuple[float, float]:
        """One optimisation step on a mini-batch; returns (mean loss, accuracy) before the update."""
        out = self.forward(x, training=True)
        value = loss.forward(out, y)
        accuracy = loss.accuracy(out, y)
        if not np.isfinite(value):
            return value, accuracy  # the caller decides (training stops with TrainingDiverged)
        self.backward(loss.backward())
        optimizer.step(self)
        return value, accuracy

    def _batches(self, x: np.ndarray, batch_size: int) -> Iterator[np.ndarray]:
        if batch_size < 1:
            raise ShapeError(f"batch_size must be positive, got {batch_size}")
        for start in range(0, len(x), batch_size):
            yield np.asarray(x[start : start + batch_size])

    def evaluate(self, x: np.ndarray, y: np.ndarray, loss, batch_size: int = 256) -> tuple[float, float]:
        """Mean loss and accuracy over a data set, in evaluation mode."""
        out = self.predict(x, batch_size)
        return loss.forward(out, y), loss.accuracy(out, y)

    def predict(self, x: np.ndarray, batch_size: int = 256, training: bool = False) -> np.ndarray:
        """Raw outputs (N, n_outputs), computed in batches; ``training=True`` keeps Dropout on."""
        outs = [np.array(self.forward(b, training=training), copy=True) for b in self._batches(x, batch_size)]
        if not outs:
            return np.zeros((0,) + tuple(self.output_shape or (0,)), np.float32)
        out = np.concatenate(outs)
        if not np.all(np.isfinite(out)) and np.all(np.isfinite(np.asarray(x))):
            largest = max((float(np.max(np.abs(a))) for _, arrays in self._arrays() for a in arrays.values() if a.size), default=0.0)
            raise NonFiniteOutput(f"the model's outputs overflow to inf or NaN on finite inputs (largest weight magnitude "
                                  f"{largest:.3g}); the model is damaged or comes from a diverged training run")
        return out

    def predict_proba(self, x: np.ndarray, batch_size: int = 256, training: bool = False) -> np.ndarray:
        """Class probabilities (N, K): softmax of the outputs (sigmoid for a single output,
        returned as two columns [1 - p, p])."""
        from fieldnet.engine.losses import sigmoid, softmax

        z = self.predict(x, batch_size, training=training).astype(np.float64)
        if z.shape[1] == 1:
            p = sigmoid(z[:, 0])
            return np.stack([1 - p, p], axis=1).astype(np.float32)
        return softmax(z).astype(np.float32)

    def activations(self, x: np.ndarray, batch_size: int = 256) -> list[tuple[str, np.ndarray]]:
        """Every layer's output for ``x``, in order: [(label, (N, *shape)), ...]."""
        per_layer: list[list[np.ndarray]] = [[] for _ in self.layers]
        for b in self._batches(x, batch_size):
            h = np.asarray(b, dtype=np.float32)
            self._require_built(h)
            with single_threaded_blas():
                for i, layer in enumerate(self.layers):
                    h = layer.forward(h, False)
                    per_layer[i].append(np.array(h, copy=True))
        labels = self.layer_labels()
        return [(labels[i], np.concatenate(chunks)) for i, chunks in enumerate(per_layer)]

    def layer_labels(self) -> list[str]:
        """Unique labels "0:Conv2d", "1:MaxPool2d", ... (a layer's name replaces its type)."""
        return [f"{i}:{layer.label}" for i, layer in enumerate(self.layers)]

    def input_gradient(self, x: np.ndarray, output_index: int) -> np.ndarray:
        """d outputs[:, output_index] / d x, per sample (N, *input_shape): gradient saliency."""
        previous = self._input_grad
        self.input_grad = True
        try:
            out = self.forward(np.asarray(x, dtype=np.float32), training=False)
            dout = np.zeros_like(out)
            dout[:, output_index] = 1.0
            return np.array(self.backward(dout), copy=True)
        finally:
            self.input_grad = previous

    # -- accounting ------------------------------------------------------------------------
    def param_count(self) -> int:
        return sum(layer.param_count() for layer in self.layers)

    def flops(self) -> int:
        """Forward FLOPs per sample (a multiply-add counts 2)."""
        self._require_built()
        total, shape = 0, self.input_shape
        for layer in self.layers:
            total += layer.flops(shape)
            shape = layer.compute_output_shape(shape)
        return total

    def summary(self) -> str:
        """A table of each layer's output shape, parameter count and forward FLOPs per sample."""
        self._require_built()
        rows = [("layer", "output shape", "params", "FLOPs")]
        shape = self.input_shape
        rows.append(("input", str(shape), "", ""))
        for label, layer in zip(self.layer_labels(), self.layers, strict=True):
            flops = layer.flops(shape)
            shape = layer.compute_output_shape(shape)
            frozen = "" if layer.trainable else " (frozen)"
            rows.append((label + frozen, str(shape), f"{layer.param_count():,}", f"{flops:,}"))
        rows.append(("total", "", f"{self.param_count():,}", f"{self.flops():,}"))
        widths = [max(len(r[c]) for r in rows) for c in range(4)]
        lines = []
        for j, r in enumerate(rows):
            lines.append("  ".join(r[c].ljust(widths[c]) if c < 2 else r[c].rjust(widths[c]) for c in range(4)))
            if j == 0 or j == len(rows) - 2:
                lines.append("  ".join("-" * w for w in widths))
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"Sequential({len(self.layers)} layers, input_shape={self.input_shape}, params={self.param_count()})"

    # -- configuration and weights ----------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """JSON-able architecture: the layers as {"type", "config"} plus input shape and seed."""
        return {
            "input_shape": None if self.input_shape is None else list(self.input_shape),
            "seed": self.seed,
            "layers": [layer_to_spec(layer) for layer in self.layers],
        }

    @classmethod
    def from_config(cls, config: dict[str, Any], where: str = "architecture") -> Sequential:
        """Rebuild a model from :meth:`get_config` output (data only; no code is evaluated)."""
        if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
            raise ShapeError(f"{where}: expected an object with a list 'layers'")
        layers = [layer_from_spec(spec, f"{where} layer {i}") for i, spec in enumerate(config["layers"])]
        shape = config.get("input_shape")
        if shape is not None and (not isinstance(shape, list) or not all(isinstance(s, int) and s > 0 for s in shape)):
            raise ShapeError(f"{where}: input_shape must be a list of positive integers, got {shape!r}")
        seed = config.get("seed", 0)
        if not isinstance(seed, int):
            raise ShapeError(f"{where}: seed must be an integer, got {seed!r}")
        return cls(layers, input_shape=None if shape is None else tuple(shape), seed=seed)

    def _arrays(self) -> Iterator[tuple[str, dict[str, np.ndarray]]]:
        for i, layer in enumerate(self.layers):
            for path, params, buffers in layer.named_arrays(str(i)):
                yield path, params
                yield path, buffers

    def get_weights(self) -> dict[str, np.ndarray]:
        """Copies of every parameter and buffer: {"<layer path>/<name>": array}."""
        return {f"{path}/{k}": np.array(a, copy=True) for path, arrays in self._arrays() for k, a in arrays.items()}

    def set_weights(self, weights: dict[str, np.ndarray]) -> None:
        """Load arrays from :meth:`get_weights`; names and shapes must match exactly."""
        self._require_built()
        expected = {f"{path}/{k}": (arrays, k) for path, arrays in self._arrays() for k in arrays}
        missing = sorted(set(expected) - set(weights))
        extra = sorted(set(weights) - set(expected))
        if missing or extra:
            raise ShapeError(f"weights do not match the architecture: missing {missing[:5]}, unexpected {extra[:5]}")
        for name, (arrays, k) in expected.items():
            value = np.asarray(weights[name])
            if value.shape != arrays[k].shape:
                raise ShapeError(f"weight {name} has shape {value.shape}, the architecture needs {arrays[k].shape}")
            arrays[k][...] = value

    # -- randomness that training checkpoints must carry ---------------------------------------
    def rng_state(self) -> list[dict]:
        return [leaf.rng_state for leaf in _leaves(self.layers) if leaf.has_randomness]

    def set_rng_state(self, states: list[dict]) -> None:
        leaves = [leaf for leaf in _leaves(self.layers) if leaf.has_randomness]
        for leaf, state in zip(leaves, states, strict=True):
            leaf.rng_state = state

    # -- files -----------------------------------------------------------------------------
    def save(self, path: str | os.PathLike, optimizer: Optimizer | None = None,
             extra: dict[str, Any] | None = None) -> Path:
        """Write the model to an HDF5 model file atomically; returns its path.

        ``optimizer`` and ``extra`` make the file a training checkpoint (optimiser state, epoch,
        best-so-far) that :func:`fieldnet.engine.saving.load_checkpoint` restores.
        """
        from fieldnet.io.modelfile import ModelFileContents, write_model_file

        if not self.built:
            raise ShapeError("save: build the model (give input_shape) before saving it")
        contents = ModelFileContents(
            architecture=self.get_config(), weights=self.get_weights(), history=self.history,
            provenance=self.attrs, rng_state=self.rng_state(),
            optimizer_state=None if optimizer is None else optimizer.get_state(), extra=extra or {},
        )
        return write_model_file(path, contents, optimizer_config=None if optimizer is None else optimizer.get_config())
