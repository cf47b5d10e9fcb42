"""ONNX export: the exported graph, run by onnxruntime, gives fieldnet's logits on the same inputs."""

from __future__ import annotations

import numpy as np
import pytest

ort = pytest.importorskip("onnxruntime")

from fieldnet.engine.layers import (  # noqa: E402
    ELU,
    AvgPool2d,
    BatchNorm,
    Conv1d,
    Conv2d,
    Conv3d,
    Dense,
    Dropout,
    Flatten,
    GlobalAvgPool,
    GlobalMaxPool,
    LeakyReLU,
    MaxPool3d,
    Sigmoid,
    Tanh,
)
from fieldnet.engine.model import Sequential  # noqa: E402
from fieldnet.training.export import to_onnx  # noqa: E402
from fieldnet.training.presets import build_preset  # noqa: E402


def run_onnx(proto, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(["logits"], {"input": x.astype(np.float32)})[0]


def spins(shape, n=5, seed=0):
    return np.random.default_rng(seed).choice(np.array([-1.0, 1.0], np.float32), size=(n, *shape))


def custom(kind: str) -> Sequential:
    if kind == "strided zero padding, avg pool, batch norm, activations":
        layers = [Conv2d(6, 3, stride=2, padding="zero"), BatchNorm(), LeakyReLU(0.1), AvgPool2d(2),
                  Conv2d(5, 2, padding="valid"), ELU(0.7), Flatten(), Dense(7), Tanh(), Dropout(0.4), Dense(3),
                  Sigmoid(), Dense(2)]
        return Sequential(layers, input_shape=(2, 9, 9), seed=3)
    if kind == "strided periodic conv on an odd lattice":
        layers = [Conv2d(4, 4, stride=2, activation="relu"), Conv2d(3, (3, 2), stride=(1, 2)), GlobalMaxPool(), Dense(2)]
        return Sequential(layers, input_shape=(1, 7, 7), seed=4)
    if kind == "1D chains":
        return Sequential([Conv1d(4, 5, activation="relu"), Conv1d(3, 3, padding="zero"), GlobalAvgPool(), Dense(2)],
                          input_shape=(1, 12), seed=5)
    if kind == "3D cubic lattice":
        return Sequential([Conv3d(4, 3, activation="relu"), MaxPool3d(2), Conv3d(4, 3), GlobalAvgPool(), Dense(2)],
                          input_shape=(1, 6, 6, 6), seed=6)
    raise ValueError(kind)


@pytest.mark.parametrize("preset", ["r1", "gap", "vgg", "resnet"])
def test_presets_run_in_onnxruntime_with_the_same_logits(preset):
    model = build_preset(preset, (1, 8, 8), seed=1, dropout=0.2 if preset == "gap" else 0.0)
    x = spins((1, 8, 8), n=9)
    got = run_onnx(to_onnx(model), x)
    np.testing.assert_allclose(got, model.predict(x), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind", ["strided zero padding, avg pool, batch norm, activations",
                                  "strided periodic conv on an odd lattice", "1D chains", "3D cubic lattice"])
def test_every_layer_kind_exports(kind):
    model = custom(kind)
    rng = np.random.default_rng(7)
    for layer in model.layers:  # running statistics that are not the identity
        if isinstance(layer, BatchNorm):
            layer.buffers["running_mean"][:] = rng.normal(size=layer.buffers["running_mean"].shape)
            layer.buffers["running_var"][:] = rng.uniform(0.5, 2.0, size=layer.buffers["running_var"].shape)
            layer.params["gamma"][:] = rng.uniform(0.5, 1.5, size=layer.params["gamma"].shape)
    x = rng.normal(size=(4, *model.input_shape)).astype(np.float32)
    np.testing.assert_allclose(run_onnx(to_onnx(model), x), model.predict(x), rtol=1e-4, atol=1e-5)


def test_periodic_padding_keeps_translation_invariance_in_onnx():
    """The wrap-around is real: an input translated by multiples of the pooling stride gives the same
    logits through global pooling, as in fieldnet."""
    model = build_preset("gap", (1, 8, 8), seed=2)
    proto = to_onnx(model)
    x = spins((1, 8, 8), n=3, seed=1)
    shifted = np.roll(x, (2, -4), axis=(2, 3))
    np.testing.assert_allclose(run_onnx(proto, shifted), run_onnx(proto, x), rtol=1e-4, atol=1e-5)


def test_cli_export_of_a_trained_model(run_cli, tmp_path):
    from fieldnet.engine.saving import load_model

    model = build_preset("gap", (1, 8, 8), seed=3)
    model.attrs = {"classes": ["disordered", "ordered"], "Tc_reference": 2.269185}
    model.save(tmp_path / "m.h5")
    res = run_cli("export", "m.h5", "-o", "m.onnx", "--L", "12", check=True)
    assert "wrote m.onnx" in res.stdout and "(N, 1, 12, 12)" in res.stdout
    import onnx

    proto = onnx.load(str(tmp_path / "m.onnx"))
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["Tc_reference"] == "2.269185" and "ordered" in meta["classes"]
    x = spins((1, 12, 12), n=4)
    np.testing.assert_allclose(run_onnx(proto, x), load_model(tmp_path / "m.h5").predict(x), rtol=1e-4, atol=1e-5)
    again = run_cli("export", "m.h5", "-o", "m.onnx")
    assert again.returncode == 2 and "--overwrite" in again.stderr and "Traceback" not in again.stderr
