"""Convolution layers: the reference (kernels/reference.py), finite differences, textbook shapes,
symmetries, errors.

Gradient checks run in float64: the layers run the SAME numba kernels compiled for float64
when given float64 input and float64 weights (the only extra specialisation), so the
central differences can use a small step and a tight tolerance.
"""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from scipy.signal import correlate2d

from fieldnet.engine.kernels.reference import reference_conv
from fieldnet.engine.layers.conv import Conv1d, Conv2d, Conv3d
from fieldnet.errors import ShapeError
from tests.engine.gradcheck import numeric_grad

CONV = {1: Conv1d, 2: Conv2d, 3: Conv3d}


def make_layer(nd, out_ch, k, stride, padding, bias, in_shape, seed=0, dtype=np.float64, activation=None):
    layer = CONV[nd](out_ch, kernel_size=k, stride=stride, padding=padding, bias=bias, activation=activation)
    layer.build(in_shape, np.random.default_rng(seed))
    rng = np.random.default_rng(seed + 1)
    for key in layer.params:
        layer.params[key] = rng.standard_normal(layer.params[key].shape).astype(dtype)
    return layer


SPATIAL = {1: (7,), 2: (5, 6), 3: (4, 5, 3)}
GRAD_CASES = list(itertools.product([1, 2, 3], ["periodic", "zero", "valid"], [1, 2], [True, False]))


@pytest.mark.parametrize("nd,padding,stride,bias", GRAD_CASES)
def test_engine_conv_gradients_match_finite_differences(nd, padding, stride, bias):
    in_shape = (2, *SPATIAL[nd])
    layer = make_layer(nd, 3, 3, stride, padding, bias, in_shape)
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, *in_shape))
    y = layer.forward(x)
    assert y.dtype == np.float64
    r = rng.standard_normal(y.shape)

    def loss():
        return float(np.sum(layer.forward(x) * r))

    layer.forward(x)
    dx = layer.backward(r)
    grads = {k: v.copy() for k, v in layer.grads.items()}
    np.testing.assert_allclose(dx, numeric_grad(loss, x), rtol=1e-6, atol=1e-7)
    for key in layer.params:
        np.testing.assert_allclose(grads[key], numeric_grad(loss, layer.params[key]), rtol=1e-6, atol=1e-7)
    # forward against the plain-numpy reference as well
    ref = reference_conv(x, layer.params["kernel"], layer.params.get("bias"), layer.stride, padding)
    np.testing.assert_allclose(layer.forward(x), ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_engine_conv_fused_relu_gradient(nd):
    in_shape = (2, *SPATIAL[nd])
    layer = make_layer(nd, 2, 2, 1, "periodic", True, in_shape, activation="relu")
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, *in_shape))
    r = rng.standard_normal(layer.forward(x).shape)
    ref = reference_conv(x, layer.params["kernel"], layer.params["bias"], layer.stride, "periodic")
    np.testing.assert_allclose(layer.forward(x), np.maximum(ref, 0), rtol=1e-12, atol=1e-12)
    dx = layer.backward(r)
    gk = layer.grads["kernel"].copy()

    def loss():
        return float(np.sum(layer.forward(x) * r))

    np.testing.assert_allclose(dx, numeric_grad(loss, x), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(gk, numeric_grad(loss, layer.params["kernel"]), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("padding,mode,boundary", [("periodic", "same", "wrap"), ("zero", "same", "fill"), ("valid", "valid", "fill")])
@pytest.mark.parametrize("k", [3, 5])
def test_engine_conv2d_matches_scipy_correlate2d(padding, mode, boundary, k):
    rng = np.random.default_rng(11)
    layer = Conv2d(4, kernel_size=k, padding=padding, bias=False)
    layer.build((3, 9, 8), rng)
    x = rng.standard_normal((2, 3, 9, 8)).astype(np.float32)
    y = layer.forward(x)
    assert y.dtype == np.float32
    w = layer.params["kernel"].astype(np.float64)
    for n in range(2):
        for o in range(4):
            ref = sum(correlate2d(x[n, c].astype(np.float64), w[o, c], mode=mode, boundary=boundary) for c in range(3))
            np.testing.assert_allclose(y[n, o], ref, rtol=1e-5, atol=1e-5)


def test_engine_conv_textbook_shapes():
    rng = np.random.default_rng(0)
    x4 = np.ones((1, 1, 4, 4), np.float32)
    for padding, expected in [("valid", (1, 1, 2, 2)), ("zero", (1, 1, 4, 4)), ("periodic", (1, 1, 4, 4))]:
        layer = Conv2d(1, 3, padding=padding)
        layer.build((1, 4, 4), rng)
        assert layer.compute_output_shape((1, 4, 4)) == layer.output_shape == expected[1:]
        assert layer.forward(x4).shape == expected
    layer = Conv2d(1, 3, stride=2, padding="valid")
    layer.build((1, 7, 7), rng)
    assert layer.forward(np.ones((1, 1, 7, 7), np.float32)).shape == (1, 1, 3, 3)
    assert layer.spatial_stride() == 2
    # 'same' keeps ceil(W / S)
    layer = Conv2d(2, 3, stride=2, padding="periodic")
    layer.build((1, 7, 7), rng)
    assert layer.forward(np.ones((3, 1, 7, 7), np.float32)).shape == (3, 2, 4, 4)


def test_engine_conv_param_count_flops_config_and_seed():
    layer = Conv2d(16, 3)
    layer.build((4, 8, 8), np.random.default_rng(5))
    assert layer.param_count() == 16 * 3 * 3 * 4 + 16
    assert layer.params["kernel"].shape == (16, 4, 3, 3) and layer.params["kernel"].dtype == np.float32
    assert layer.params["bias"].shape == (16,)
    assert layer.flops((4, 8, 8)) == 2 * 16 * 64 * 4 * 9 + 16 * 64
    cfg = json.loads(json.dumps(layer.get_config()))
    clone = Conv2d(**cfg)
    clone.build((4, 8, 8), np.random.default_rng(5))
    np.testing.assert_array_equal(clone.params["kernel"], layer.params["kernel"])
    std = layer.params["kernel"].std()
    assert 0.5 * np.sqrt(2 / 36) < std < 1.5 * np.sqrt(2 / 36)  # He: std sqrt(2 / fan_in)
    assert Conv3d(2, 3, bias=False, in_channels=3).param_count() == 2 * 27 * 3


def test_engine_conv_periodic_translation_equivariance():
    rng = np.random.default_rng(2)
    layer = Conv2d(5, 3, padding="periodic", activation="relu")
    layer.build((2, 12, 10), rng)
    x = rng.choice([-1.0, 1.0], size=(3, 2, 12, 10)).astype(np.float32)
    y = layer.forward(x)
    for shift in [(1, 0), (0, 3), (5, 7), (-2, -1)]:
        ys = layer.forward(np.roll(x, shift, axis=(2, 3)))
        np.testing.assert_allclose(ys, np.roll(y, shift, axis=(2, 3)), rtol=0, atol=1e-6)
    # stride 2: an even shift of the input shifts the output by half
    layer2 = Conv2d(3, 3, stride=2, padding="periodic")
    layer2.build((2, 12, 10), rng)
    y2 = layer2.forward(x)
    ys2 = layer2.forward(np.roll(x, (4, 2), axis=(2, 3)))
    np.testing.assert_allclose(ys2, np.roll(y2, (2, 1), axis=(2, 3)), rtol=0, atol=1e-6)
    # 1-D and 3-D
    l1 = Conv1d(2, 3)
    l1.build((1, 9), rng)
    x1 = rng.standard_normal((2, 1, 9)).astype(np.float32)
    np.testing.assert_allclose(l1.forward(np.roll(x1, 4, axis=2)), np.roll(l1.forward(x1), 4, axis=2), atol=1e-6)
    l3 = Conv3d(2, 3)
    l3.build((1, 4, 5, 6), rng)
    x3 = rng.standard_normal((2, 1, 4, 5, 6)).astype(np.float32)
    np.testing.assert_allclose(
        l3.forward(np.roll(x3, (1, 2, 3), axis=(2, 3, 4))), np.roll(l3.forward(x3), (1, 2, 3), axis=(2, 3, 4)), atol=1e-6
    )


def test_engine_conv_shape_errors_name_layer_and_rule():
    layer = Conv2d(2, 5, padding="valid", name="conv_a")
    with pytest.raises(ShapeError, match=r"conv_a.*\(W - F \+ 2P\)/S \+ 1"):
        layer.build((1, 3, 3), np.random.default_rng(0))
    layer = Conv2d(2, 3, in_channels=2)
    with pytest.raises(ShapeError, match="Conv2d.*2 input channels"):
        layer.build((3, 8, 8), np.random.default_rng(0))
    layer = Conv2d(2, 3)
    layer.build((1, 8, 8), np.random.default_rng(0))
    with pytest.raises(ShapeError, match="Conv2d"):
        layer.forward(np.zeros((8, 8), np.float32))
    with pytest.raises(ShapeError, match="Conv2d"):
        layer.forward(np.zeros((2, 3, 8, 8), np.float32))
    with pytest.raises(ShapeError, match="padding"):
        Conv2d(2, 3, padding="reflect")


def test_engine_conv_repeated_calls_reuse_scratch_safely_and_input_grad_switch():
    rng = np.random.default_rng(9)
    layer = Conv2d(4, 3, activation="relu")
    layer.build((2, 6, 6), rng)
    xa = rng.standard_normal((3, 2, 6, 6)).astype(np.float32)
    xb = rng.standard_normal((5, 2, 6, 6)).astype(np.float32)
    ya = layer.forward(xa).copy()
    ga = rng.standard_normal(ya.shape).astype(np.float32)
    dxa = layer.backward(ga).copy()
    gka = layer.grads["kernel"].copy()
    first_out = layer.forward(xb)
    first_copy = first_out.copy()
    layer.backward(np.ones_like(first_out))
    np.testing.assert_array_equal(layer.forward(xa), ya)  # same batch again after a different one
    np.testing.assert_array_equal(layer.backward(ga), dxa)
    np.testing.assert_array_equal(layer.grads["kernel"], gka)
    np.testing.assert_array_equal(first_out, first_copy)  # outputs are never overwritten by later calls
    layer.input_grad = False  # e.g. a network's first layer
    layer.forward(xa)
    assert layer.backward(ga) is None
    np.testing.assert_array_equal(layer.grads["kernel"], gka)


def test_engine_conv_forward_sweep_against_numpy_reference():
    """Every dimension and padding mode with even/odd kernels (also larger than the lattice) and strides 1-3."""
    rng = np.random.default_rng(10)
    for nd, padding, k, stride, size in itertools.product([1, 2, 3], ["periodic", "zero", "valid"], [1, 2, 3, 4, 5], [1, 2, 3], [2, 3, 5, 7]):
        if (padding == "valid" and k > size) or (nd == 3 and size > 5):
            continue
        in_shape = (3,) + (size,) * nd
        layer = make_layer(nd, 5, k, stride, padding, True, in_shape)
        x = rng.standard_normal((2, *in_shape))
        ref = reference_conv(x, layer.params["kernel"], layer.params["bias"], layer.stride, padding)
        y = layer.forward(x)
        assert y.shape == ref.shape, (nd, padding, k, stride, size)
        np.testing.assert_allclose(y, ref, rtol=1e-10, atol=1e-10, err_msg=str((nd, padding, k, stride, size)))


# -- the kernels' own paths: stride phases, planes longer than one block, channel groups -----------

STRIDE_CASES = [
    (2, (2, 1), 3, "periodic", (6, 7)),  # different strides per axis
    (2, (1, 3), 2, "zero", (5, 8)),  # even kernel, stride 3, odd total padding
    (2, 3, 4, "periodic", (7, 9)),  # kernel larger than the stride
    (3, (2, 1, 2), 3, "periodic", (5, 4, 6)),
    (3, 2, 2, "valid", (5, 5, 4)),
    (1, 2, 5, "zero", (11,)),
]


@pytest.mark.parametrize("nd,stride,k,padding,spatial", STRIDE_CASES)
def test_engine_conv_strided_phases_match_reference_and_finite_differences(nd, stride, k, padding, spatial):
    in_shape = (3, *spatial)
    layer = make_layer(nd, 5, k, stride, padding, True, in_shape, activation="relu")  # 5: a short channel group
    rng = np.random.default_rng(4)
    check_relu_conv_against_reference(layer, rng.standard_normal((3, *in_shape)), padding, rng)


def check_relu_conv_against_reference(layer, x, padding, rng):
    """A ReLU conv layer's output against the numpy reference, and its input and weight
    gradients against finite differences."""
    ref = np.maximum(reference_conv(x, layer.params["kernel"], layer.params["bias"], layer.stride, padding), 0)
    np.testing.assert_allclose(layer.forward(x), ref, rtol=1e-12, atol=1e-12)
    r = rng.standard_normal(ref.shape)
    dx = layer.backward(r)
    grads = {key: v.copy() for key, v in layer.grads.items()}

    def loss():
        return float(np.sum(layer.forward(x) * r))

    np.testing.assert_allclose(dx, numeric_grad(loss, x), rtol=1e-6, atol=1e-7)
    for key in layer.params:
        np.testing.assert_allclose(grads[key], numeric_grad(loss, layer.params[key]), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("nd,spatial,stride", [(2, (27, 25), 1), (2, (50, 47), 2), (3, (9, 10, 11), 1), (3, (20, 17, 20), 2)])
def test_engine_conv_planes_longer_than_a_block(nd, spatial, stride):
    """Planes of more positions than a kernel block (several blocks, and a short last one)."""
    from fieldnet.engine.kernels.conv import BLOCK

    in_shape = (2, *spatial)
    layer = make_layer(nd, 6, 3, stride, "periodic", True, in_shape)
    plan = layer._plan(in_shape)
    assert plan.span > BLOCK or plan.plane > BLOCK
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, *in_shape))
    y = layer.forward(x)
    np.testing.assert_allclose(y, reference_conv(x, layer.params["kernel"], layer.params["bias"], layer.stride, "periodic"),
                               rtol=1e-12, atol=1e-12)
    # gradients through the adjoint identity <dy, J dx> = <J^T dy, dx> (finite differences of
    # every weight would take long on planes this size)
    r = rng.standard_normal(y.shape)
    dx = layer.backward(r)
    gk = layer.grads["kernel"].copy()
    v = rng.standard_normal(x.shape)
    eps = 1e-6
    jv = (layer.forward(x + eps * v) - layer.forward(x - eps * v)) / (2 * eps)
    assert np.isclose(np.sum(r * jv), np.sum(dx * v), rtol=1e-7)
    w = layer.params["kernel"]
    u = rng.standard_normal(w.shape)
    layer.params["kernel"] = w + eps * u
    up = layer.forward(x)
    layer.params["kernel"] = w - eps * u
    down = layer.forward(x)
    layer.params["kernel"] = w
    assert np.isclose(np.sum(r * (up - down) / (2 * eps)), np.sum(gk * u), rtol=1e-7)


def test_engine_conv_float32_matches_float64_closely():
    rng = np.random.default_rng(6)
    for nd, spatial, stride in [(2, (20, 20), 1), (2, (21, 19), 2), (3, (8, 8, 8), 1)]:
        layer = make_layer(nd, 8, 3, stride, "periodic", True, (4, *spatial), dtype=np.float32, activation="relu")
        x = rng.standard_normal((3, 4, *spatial)).astype(np.float32)
        y32 = layer.forward(x)
        w64 = {k: v.astype(np.float64) for k, v in layer.params.items()}
        ref = np.maximum(reference_conv(x.astype(np.float64), w64["kernel"], w64["bias"], layer.stride, "periodic"), 0)
        np.testing.assert_allclose(y32, ref, rtol=1e-5, atol=1e-5)


def test_engine_kernels_use_their_own_vector_target_and_leave_numba_alone():
    """The kernels may compile with 512-bit vectors; a user's own jitted code keeps numba's defaults."""
    import llvmlite.binding as ll
    import numba

    from fieldnet.engine.kernels import conv as kernels

    layer = make_layer(2, 4, 3, 1, "periodic", True, (2, 6, 6), dtype=np.float32)
    layer.forward(np.ones((1, 2, 6, 6), np.float32))

    @numba.njit
    def users_own(a):
        return a.sum()

    assert users_own(np.ones(4)) == 4.0
    own = numba.core.registry.cpu_target.target_context.codegen()._tm_features
    assert "-prefer-256-bit" not in own.split(",")
    if "+avx512f" in ll.get_host_cpu_features().flatten().split(",") and hasattr(kernels.conv_accumulate, "targetdescr"):
        features = kernels.conv_accumulate.targetdescr.target_context.codegen()._tm_features
        assert features.split(",")[-1] == "-prefer-256-bit"


@pytest.mark.parametrize("out_channels,in_channels,k", [(9, 2, 3), (17, 3, 2), (8, 9, 3), (1, 17, 3)])
def test_engine_conv_register_tiles_with_short_last_tile_and_tap_remainders(out_channels, in_channels, k):
    """Channel counts around the kernels' tile of 8 output channels (full, one over, two tiles
    plus one), and a 2x2 filter (4 taps: the weight gradient's taps come in threes plus one)."""
    in_shape = (in_channels, 7, 6)
    layer = make_layer(2, out_channels, k, 1, "periodic", True, in_shape, activation="relu")
    rng = np.random.default_rng(11)
    # 5 samples: a short last weight-gradient chunk
    check_relu_conv_against_reference(layer, rng.standard_normal((5, *in_shape)), "periodic", rng)


@pytest.mark.parametrize("padding, stride, kernel", [("periodic", 2, 3), ("periodic", 3, 5), ("zero", 2, 3), ("valid", 3, 2)])
def test_engine_pad_fold_is_the_gather_adjoint_summed_in_position_order(padding, stride, kernel):
    """The fold adds each cell's readers in the order of the positions, exactly as a plain loop does."""
    from fieldnet.engine.kernels.conv import pad_fold, pad_gather

    layer = Conv2d(2, kernel, stride=stride, padding=padding)
    spatial = (7, 11)
    layer.build((1, *spatial), np.random.default_rng(0))
    plan = layer._plan((1, *spatial))
    index = plan.gather_index
    assert index.size == plan.phases * plan.plane
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 7 * 11)).astype(np.float32)
    planes = np.empty((2, 3, index.size), dtype=np.float32)
    pad_gather(x, index, planes)
    np.testing.assert_array_equal(planes, np.where(index >= 0, x[..., np.maximum(index, 0)], 0))
    if padding == "periodic":
        assert plan.fold_extra_cell.size > 0  # the wrapped edges are read more than once
    dq = rng.standard_normal(planes.shape).astype(np.float32)
    dx = np.full(x.shape, np.nan, dtype=np.float32)
    pad_fold(dq, plan.fold_first, plan.fold_extra_cell, plan.fold_extra_src, dx)
    expected = np.zeros_like(x)
    for p in np.flatnonzero(index >= 0):  # position order, one float32 addition at a time
        expected[..., index[p]] += dq[..., p]
    np.testing.assert_array_equal(dx.view(np.int32), expected.view(np.int32))
    # adjoint: <gather(x), dq> == <x, fold(dq)>
    np.testing.assert_allclose(np.sum(planes.astype(np.float64) * dq), np.sum(x.astype(np.float64) * dx), rtol=1e-6)


@pytest.mark.parametrize("spatial", [(8, 8, 8), (6, 9, 7), (5, 4, 11)])
def test_engine_conv3d_strips_by_slab_with_half_strips_match_reference(spatial):
    """Small 3-D lattices skip the rows between z-slabs and form half strips; outputs stay exact."""
    in_shape = (3, *spatial)
    layer = make_layer(3, 9, 3, 1, "periodic", True, in_shape, activation="relu")
    _, hq, wq = layer._plan(in_shape).phase_shape
    do, ho, wo = spatial
    extent = (ho - 1) * wq + wo
    span = ((do - 1) * hq + ho - 1) * wq + wo
    assert do * -(-extent // 16) < -(-span // 16)  # the by-slab walk is taken
    x = np.random.default_rng(3).standard_normal((2, *in_shape))
    ref = np.maximum(reference_conv(x, layer.params["kernel"], layer.params["bias"], layer.stride, "periodic"), 0)
    np.testing.assert_allclose(layer.forward(x), ref, rtol=1e-10, atol=1e-10)
