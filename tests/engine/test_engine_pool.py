"""Pooling layers: the reference (kernels/reference.py), finite differences (float64), shapes,
equivariance and invariance, errors."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from fieldnet.engine.kernels.reference import reference_pool
from fieldnet.engine.layers.conv import Conv2d, Conv3d
from fieldnet.engine.layers.pooling import (
    AvgPool2d,
    AvgPool3d,
    GlobalAvgPool,
    GlobalMaxPool,
    MaxPool2d,
    MaxPool3d,
)
from fieldnet.errors import ShapeError
from tests.engine.gradcheck import numeric_grad

POOL_CASES = [
    (MaxPool2d, 2, None, (2, 6, 6)),
    (MaxPool2d, 3, 2, (2, 7, 6)),  # overlapping windows
    (AvgPool2d, 2, None, (2, 6, 4)),
    (AvgPool2d, 3, 1, (2, 5, 5)),
    (MaxPool3d, 2, None, (2, 4, 4, 6)),
    (AvgPool3d, 2, 1, (1, 3, 4, 3)),
    (GlobalAvgPool, None, None, (3, 5, 4)),
    (GlobalMaxPool, None, None, (3, 5, 4)),
    (GlobalAvgPool, None, None, (2, 3, 3, 3)),
    (GlobalMaxPool, None, None, (2, 3, 3, 3)),
]


@pytest.mark.parametrize("cls,size,stride,in_shape", POOL_CASES)
def test_engine_pool_gradients_match_finite_differences(cls, size, stride, in_shape):
    layer = cls() if size is None else cls(size, stride)
    layer.build(in_shape, np.random.default_rng(0))
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, *in_shape))  # continuous values: no ties in the max
    y = layer.forward(x)
    assert y.dtype == np.float64 and y.shape == (2, *layer.compute_output_shape(in_shape))
    r = rng.standard_normal(y.shape)
    dx = layer.backward(r)

    def loss():
        return float(np.sum(layer.forward(x) * r))

    np.testing.assert_allclose(dx, numeric_grad(loss, x), rtol=1e-6, atol=1e-8)


def test_engine_pool_sweep_against_the_reference():
    """2-D and 3-D, max and average, windows 1-3 (square and not), strides 1-3 and the default."""
    rng = np.random.default_rng(5)
    classes = {(2, "max"): MaxPool2d, (2, "avg"): AvgPool2d, (3, "max"): MaxPool3d, (3, "avg"): AvgPool3d}
    for (nd, mode), cls in classes.items():
        for k, stride, size in itertools.product([1, 2, 3, (3, 1, 2)[:nd]], [None, 1, 2, 3], [3, 4, 7]):
            if nd == 3 and size == 7:
                continue
            layer = cls(k, stride)
            x = rng.standard_normal((2, 3, *(size,) * nd))
            y = layer.forward(x)
            ref = reference_pool(x, layer.kernel_size, layer.stride, mode)
            assert y.shape == ref.shape == (2, *layer.compute_output_shape(x.shape[1:])), (nd, mode, k, stride, size)
            np.testing.assert_allclose(y, ref, rtol=1e-12, atol=1e-12, err_msg=str((nd, mode, k, stride, size)))


def test_engine_pool_values_against_numpy():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3, 8, 6)).astype(np.float32)
    blocks = x.reshape(2, 3, 4, 2, 3, 2)
    np.testing.assert_array_equal(MaxPool2d(2).forward(x), blocks.max(axis=(3, 5)))
    np.testing.assert_allclose(AvgPool2d(2).forward(x), blocks.mean(axis=(3, 5)), rtol=1e-6)
    x3 = rng.standard_normal((1, 2, 4, 6, 2)).astype(np.float32)
    np.testing.assert_array_equal(MaxPool3d(2).forward(x3), x3.reshape(1, 2, 2, 2, 3, 2, 1, 2).max(axis=(3, 5, 7)))
    np.testing.assert_allclose(GlobalAvgPool().forward(x), x.mean(axis=(2, 3)), rtol=1e-6)
    np.testing.assert_array_equal(GlobalMaxPool().forward(x), x.max(axis=(2, 3)))
    assert GlobalMaxPool().forward(x).shape == (2, 3)


def test_engine_pool_shapes_stride_and_config():
    pool = MaxPool2d(2)
    assert pool.compute_output_shape((4, 32, 32)) == (4, 16, 16)
    assert pool.spatial_stride() == 2
    assert MaxPool2d(3, 1).spatial_stride() == 1
    assert AvgPool3d(2).compute_output_shape((1, 8, 8, 8)) == (1, 4, 4, 4)
    assert MaxPool2d(3, 2).compute_output_shape((1, 7, 7)) == (1, 3, 3)
    assert pool.param_count() == 0 and pool.flops((4, 32, 32)) == 4 * 16 * 16 * 4
    assert GlobalAvgPool().compute_output_shape((7, 9, 9)) == (7,)
    clone = MaxPool2d(**json.loads(json.dumps(MaxPool2d(3, 2, name="p").get_config())))
    assert clone.compute_output_shape((1, 7, 7)) == (1, 3, 3) and clone.name == "p"


def test_engine_pool_equivariant_under_even_shifts():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 3, 12, 8)).astype(np.float32)
    for pool in (MaxPool2d(2), AvgPool2d(2)):
        y = pool.forward(x)
        ys = pool.forward(np.roll(x, (4, 2), axis=(2, 3)))
        np.testing.assert_allclose(ys, np.roll(y, (2, 1), axis=(2, 3)), rtol=0, atol=1e-6)
    x3 = rng.standard_normal((1, 2, 4, 4, 6)).astype(np.float32)
    pool = MaxPool3d(2)
    np.testing.assert_array_equal(
        pool.forward(np.roll(x3, (2, 0, 4), axis=(2, 3, 4))), np.roll(pool.forward(x3), (1, 0, 2), axis=(2, 3, 4))
    )


@pytest.mark.parametrize("global_pool", [GlobalAvgPool, GlobalMaxPool])
def test_engine_pool_global_after_periodic_convs_is_translation_invariant(global_pool):
    rng = np.random.default_rng(8)
    c1, c2, gp = Conv2d(4, 3, activation="relu"), Conv2d(3, 3), global_pool()
    c1.build((1, 6, 6), rng)
    c2.build((4, 6, 6), rng)
    x = rng.choice([-1.0, 1.0], size=(2, 1, 6, 6)).astype(np.float32)

    def net(v):
        return gp.forward(c2.forward(c1.forward(v)))

    y = net(x)
    for dy in range(6):
        for dx in range(6):
            np.testing.assert_allclose(net(np.roll(x, (dy, dx), axis=(2, 3))), y, rtol=1e-6, atol=1e-6)
    # 3-D as well
    c3 = Conv3d(2, 3)
    c3.build((1, 4, 4, 4), rng)
    x3 = rng.standard_normal((1, 1, 4, 4, 4)).astype(np.float32)
    y3 = gp.forward(c3.forward(x3))
    np.testing.assert_allclose(gp.forward(c3.forward(np.roll(x3, (1, 3, 2), axis=(2, 3, 4)))), y3, atol=1e-6)


def test_engine_pool_shape_errors_name_layer_and_rule():
    with pytest.raises(ShapeError, match=r"MaxPool2d.*\(W - F \+ 2P\)/S \+ 1"):
        MaxPool2d(4).build((1, 3, 3), np.random.default_rng(0))
    with pytest.raises(ShapeError, match=r"pool_b.*\(W - F \+ 2P\)/S \+ 1"):
        AvgPool3d(3, name="pool_b").forward(np.zeros((1, 1, 4, 2, 4), np.float32))
    with pytest.raises(ShapeError, match="MaxPool2d"):
        MaxPool2d(2).forward(np.zeros((1, 1, 4, 4, 4), np.float32))
    with pytest.raises(ShapeError, match="GlobalAvgPool"):
        GlobalAvgPool().forward(np.zeros((3, 4), np.float32))


def test_engine_pool_outputs_held_by_the_caller_are_never_overwritten():
    rng = np.random.default_rng(12)
    pool = MaxPool2d(2)
    xa = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    xb = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    ya = pool.forward(xa)
    ya_copy = ya.copy()
    da = pool.backward(np.ones_like(ya))
    da_copy = da.copy()
    yb = pool.forward(xb)
    pool.backward(np.ones_like(yb))
    np.testing.assert_array_equal(ya, ya_copy)
    np.testing.assert_array_equal(da, da_copy)
    assert not np.array_equal(ya, yb)



@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_global_mean_backward_kernel_spreads_each_gradient_as_numpy_divides_it(dtype):
    from fieldnet.engine.kernels.pool import global_mean_backward

    dy = np.random.default_rng(5).standard_normal(12).astype(dtype) * 1e3
    dx = np.full((12, 577), np.nan, dtype=dtype)
    global_mean_backward(dy, 577, dx)
    np.testing.assert_array_equal(dx, np.broadcast_to((dy / dtype(577))[:, None], dx.shape))
