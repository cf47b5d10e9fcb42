"""Dense, Flatten, activations, Dropout, BatchNorm and Residual: gradients and behaviour."""

from __future__ import annotations

import numpy as np
import pytest

from fieldnet.engine.layers import (
    ELU,
    RENAMED_ARGUMENTS,
    AvgPool3d,
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
    MaxPool2d,
    ReLU,
    Residual,
    Sigmoid,
    Tanh,
    layer_from_spec,
    layer_to_spec,
)
from fieldnet.engine.model import Sequential
from fieldnet.errors import ShapeError
from tests.engine.gradcheck import check_layer_gradients


def built(layer, shape, seed=0):
    layer.build(shape, np.random.default_rng(seed))
    return layer


def away_from_kinks(shape, seed=0):
    """Random inputs kept away from 0, where ReLU-like derivatives jump."""
    x = np.random.default_rng(seed).standard_normal(shape)
    return x + np.sign(x) * 0.1


@pytest.mark.parametrize("activation", [None, "relu"])
def test_engine_dense_gradients(activation):
    layer = built(Dense(5, activation=activation), (7,))
    check_layer_gradients(layer, away_from_kinks((4, 7)))


@pytest.mark.parametrize("layer", [ReLU(), LeakyReLU(0.1), Tanh(), Sigmoid(), ELU(0.7)], ids=lambda l: type(l).__name__)
def test_engine_activation_gradients(layer):
    check_layer_gradients(built(layer, (3, 4)), away_from_kinks((2, 3, 4)))


def test_engine_activation_values_against_formulas():
    x = np.linspace(-3, 3, 13).reshape(1, -1).astype(np.float32)
    np.testing.assert_allclose(ReLU().forward(x), np.maximum(x, 0))
    np.testing.assert_allclose(LeakyReLU(0.2).forward(x), np.where(x > 0, x, 0.2 * x), rtol=1e-6)
    np.testing.assert_allclose(Sigmoid().forward(x), 1 / (1 + np.exp(-x)), rtol=1e-6)
    np.testing.assert_allclose(ELU(1.5).forward(x), np.where(x > 0, x, 1.5 * np.expm1(x)), rtol=1e-6)
    big = np.array([[-1000.0, 1000.0]], np.float32)
    assert np.all(np.isfinite(Sigmoid().forward(big)))


def test_engine_batchnorm_gradients_train_and_eval():
    check_layer_gradients(built(BatchNorm(), (3, 4, 4)), away_from_kinks((5, 3, 4, 4)), training=True, rtol=1e-4)
    bn = built(BatchNorm(), (6,))
    bn.buffers["running_mean"][:] = 0.3
    bn.buffers["running_var"][:] = 2.0
    check_layer_gradients(bn, away_from_kinks((4, 6)), training=False)


def test_engine_batchnorm_statistics_against_numpy():
    x = np.random.default_rng(1).normal(2.0, 3.0, (64, 2, 5, 5)).astype(np.float32)
    bn = built(BatchNorm(momentum=1.0), (2, 5, 5))
    y = bn.forward(x, training=True)
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(y.std(axis=(0, 2, 3)), 1, atol=1e-3)
    # momentum 1: the running statistics are this batch's (unbiased variance)
    np.testing.assert_allclose(bn.buffers["running_mean"], x.mean(axis=(0, 2, 3)), rtol=1e-5)
    np.testing.assert_allclose(bn.buffers["running_var"], x.transpose(1, 0, 2, 3).reshape(2, -1).var(axis=1, ddof=1), rtol=1e-4)
    # evaluation uses them: same output for the same batch up to the n/(n-1) factor
    y_eval = bn.forward(x, training=False)
    np.testing.assert_allclose(y_eval, y * np.sqrt((x[:, 0].size - 1) / x[:, 0].size), atol=2e-3)


def test_engine_dropout_train_mask_scaling_and_eval_identity():
    layer = built(Dropout(0.25), (1000,), seed=3)
    x = np.ones((20, 1000), np.float32)
    assert np.array_equal(layer.forward(x, training=False), x)
    y = layer.forward(x, training=True)
    kept = y != 0
    assert 0.70 < kept.mean() < 0.80
    np.testing.assert_allclose(y[kept], 1 / 0.75, rtol=1e-6)
    dy = np.random.default_rng(0).standard_normal(x.shape).astype(np.float32)
    np.testing.assert_array_equal(layer.backward(dy), dy * y)  # the mask times the scale, as y = x * mask
    # seeded: the same build seed gives the same masks
    other = built(Dropout(0.25), (1000,), seed=3)
    assert np.array_equal(other.forward(x, training=True), y)


def test_engine_residual_gradients_and_shape_rule():
    block = built(Residual([Conv2d(2, 3, activation="relu"), Conv2d(2, 3)], activation="relu"), (2, 5, 5))
    check_layer_gradients(block, away_from_kinks((2, 2, 5, 5)), rtol=1e-4)
    with pytest.raises(ShapeError, match="skip connection"):
        built(Residual([Conv2d(3, 3)]), (2, 5, 5))


def test_engine_residual_reuses_its_buffers_only_when_no_one_holds_them():
    block = built(Residual([Conv2d(2, 3, activation="relu"), Conv2d(2, 3)], activation="relu"), (2, 5, 5))
    with pytest.raises(RuntimeError, match="backward called before forward"):
        block.backward(np.ones((1, 2, 5, 5), dtype=np.float32))
    rng = np.random.default_rng(0)
    x1, x2 = (rng.standard_normal((3, 2, 5, 5)).astype(np.float32) for _ in range(2))
    y1 = block.forward(x1)
    kept = y1.copy()
    y2 = block.forward(x2)  # y1 is still held here, so it must not be overwritten
    assert y2 is not y1
    np.testing.assert_array_equal(y1, kept)
    np.testing.assert_array_equal(y2, np.maximum(block.layers[1].forward(block.layers[0].forward(x2)) + x2, 0))


def test_engine_flatten_round_trip_and_dense_shape_error():
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 2, 2)
    f = built(Flatten(), (3, 2, 2))
    assert f.forward(x).shape == (2, 12)
    np.testing.assert_array_equal(f.backward(f.forward(x)), x)
    dense = built(Dense(4), (12,))
    with pytest.raises(ShapeError, match=r"Dense.*12 input features.*got 10"):
        dense.compute_output_shape((10,))
    with pytest.raises(ShapeError, match="Flatten"):
        Dense(3).compute_output_shape((3, 4, 4))


def test_engine_layer_specs_round_trip_and_refuse_unknowns():
    block = Residual([Conv2d(4, 3), BatchNorm(), ReLU()], activation="relu", name="res1")
    clone = layer_from_spec(layer_to_spec(block))
    assert layer_to_spec(clone) == layer_to_spec(block)
    with pytest.raises(ShapeError, match="unknown layer type 'os.system'"):
        layer_from_spec({"type": "os.system", "config": {}})
    with pytest.raises(ShapeError, match="no argument"):
        layer_from_spec({"type": "Dense", "config": {"out_features": 3, "__class__": "x"}})


@pytest.mark.parametrize("kind", sorted(RENAMED_ARGUMENTS))
def test_engine_old_argument_names_build_the_same_layer(kind):
    old = {"Dense": {"units": 3, "use_bias": False}, "Dropout": {"rate": 0.2}, "LeakyReLU": {"alpha": 0.3}}.get(
        kind, {"pool_size": 3, "stride": None})
    new = {RENAMED_ARGUMENTS[kind].get(k, k): v for k, v in old.items()}
    layer = layer_from_spec({"type": kind, "config": old})
    assert layer_to_spec(layer) == layer_to_spec(layer_from_spec({"type": kind, "config": new}))
    config = layer.get_config()
    assert all(config[k] == v for k, v in new.items()) and not any(k in config for k in set(old) - set(new))
    both = {**old, **new}
    with pytest.raises(ShapeError, match="two names of one argument"):
        layer_from_spec({"type": kind, "config": both})


def test_engine_pytorch_argument_names_and_public_window_attributes():
    dense = Dense(4, bias=False, activation="relu")
    assert (dense.out_features, dense.bias, dense.activation) == (4, False, "relu")
    with pytest.raises(TypeError):
        Dense(4, "relu")  # the options are keyword-only: an old positional activation must not become bias
    assert Dropout(p=0.3).p == 0.3 and LeakyReLU(negative_slope=0.2).negative_slope == 0.2
    pool = MaxPool2d(kernel_size=3, stride=2)
    assert (pool.kernel_size, pool.stride) == ((3, 3), (2, 2))
    assert MaxPool2d(2).stride == (2, 2) and AvgPool3d([2, 1, 1]).stride == (2, 1, 1)
    assert MaxPool2d(2).get_config() == {"name": None, "kernel_size": 2, "stride": None}  # as written
    conv = Conv2d(4, [3, 1], stride=2)
    assert (conv.kernel_size, conv.stride) == ((3, 1), (2, 2))
    assert conv.get_config()["kernel_size"] == [3, 1] and conv.get_config()["stride"] == 2


EVERY_LAYER = [
    (lambda: Conv1d(2, 3), (2, 5)),
    (lambda: Conv2d(2, 3, stride=2), (2, 5, 4)),
    (lambda: Conv3d(2, 2, padding="valid"), (1, 3, 3, 3)),
    (lambda: Dense(3, activation="relu"), (4,)),
    (lambda: MaxPool2d(2), (2, 4, 4)),
    (lambda: AvgPool3d(2), (1, 2, 2, 4)),
    (GlobalAvgPool, (2, 3, 3)),
    (GlobalMaxPool, (2, 3, 3)),
    (Flatten, (2, 3, 3)),
    (ReLU, (5,)),
    (LeakyReLU, (5,)),
    (Tanh, (5,)),
    (Sigmoid, (5,)),
    (ELU, (5,)),
    (Dropout, (5,)),
    (BatchNorm, (2, 3, 3)),
    (lambda: Residual([Conv2d(2, 3, activation="relu"), Conv2d(2, 3)]), (2, 4, 4)),
]


@pytest.mark.parametrize("make,shape", EVERY_LAYER, ids=lambda v: "" if isinstance(v, tuple) else type(v()).__name__)
def test_engine_every_layer_honours_input_grad(make, shape):
    layer = built(make(), shape)
    x = away_from_kinks((3, *shape)).astype(np.float32)
    r = np.random.default_rng(1).standard_normal((3, *layer.output_shape)).astype(np.float32)
    layer.forward(x, training=False)
    dx = layer.backward(r)
    assert layer.input_grad is True and dx.shape == x.shape
    grads = {k: g.copy() for k, g in layer.grads.items()}
    layer.input_grad = False
    layer.forward(x, training=False)
    assert layer.backward(r) is None
    assert grads.keys() == layer.grads.keys()
    for k, g in grads.items():
        np.testing.assert_array_equal(layer.grads[k], g, err_msg=k)


def test_engine_sequential_turns_off_only_its_first_layers_input_grad():
    model = Sequential([Conv2d(2, 3), ReLU(), Flatten(), Dense(2)], input_shape=(1, 4, 4), seed=0)
    assert [layer.input_grad for layer in model.layers] == [False, True, True, True]
    x = np.ones((2, 1, 4, 4), np.float32)
    model.forward(x)
    assert model.backward(np.ones((2, 2), np.float32)) is None
    assert model.input_gradient(x, 0).shape == x.shape
    assert model.layers[0].input_grad is False


@pytest.mark.parametrize("make,shape", [case for case in EVERY_LAYER if built(case[0](), case[1]).params])
def test_engine_gradients_are_written_into_the_same_arrays(make, shape):
    layer = built(make(), shape)
    held = dict(layer.grads)
    assert held.keys() == layer.params.keys()
    rng = np.random.default_rng(2)
    for _ in range(2):
        x = rng.standard_normal((3, *shape)).astype(np.float32)
        layer.forward(x, training=True)
        layer.backward(rng.standard_normal((3, *layer.output_shape)).astype(np.float32))
        for k, g in held.items():
            assert layer.grads[k] is g and g.dtype == layer.params[k].dtype
    assert any(np.any(g != 0) for g in held.values())
