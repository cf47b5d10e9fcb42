"""Losses, optimisers and schedules against hand-written references."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit, logsumexp

from fieldnet.engine.layers import Dense
from fieldnet.engine.losses import get_loss
from fieldnet.engine.model import Sequential
from fieldnet.engine.optimizers import SGD, Adam
from fieldnet.engine.schedules import Cosine, StepDecay, get_schedule
from tests.engine.gradcheck import numeric_grad


def test_engine_softmax_cross_entropy_value_and_gradient():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((6, 3)) * 5
    y = rng.integers(0, 3, 6)
    loss = get_loss("softmax_cross_entropy")
    value = loss.forward(z, y)
    assert value == pytest.approx(np.mean(logsumexp(z, axis=1) - z[np.arange(6), y]), rel=1e-12)
    np.testing.assert_allclose(loss.backward(), numeric_grad(lambda: loss.forward(z, y), z), rtol=1e-6, atol=1e-9)
    assert np.isfinite(loss.forward(np.array([[1e4, -1e4]]), np.array([1])))


def test_engine_binary_cross_entropy_and_mse_gradients():
    rng = np.random.default_rng(1)
    z = rng.standard_normal((5, 1)) * 3
    t = rng.integers(0, 2, 5)
    bce = get_loss("binary_cross_entropy")
    p = expit(z[:, 0])
    assert bce.forward(z, t) == pytest.approx(-np.mean(t * np.log(p) + (1 - t) * np.log(1 - p)), rel=1e-10)
    np.testing.assert_allclose(bce.backward(), numeric_grad(lambda: bce.forward(z, t), z), rtol=1e-6, atol=1e-9)
    mse = get_loss("mse")
    out, target = rng.standard_normal((4, 2)), rng.standard_normal((4, 2))
    assert mse.forward(out, target) == pytest.approx(np.mean((out - target) ** 2))
    np.testing.assert_allclose(mse.backward(), numeric_grad(lambda: mse.forward(out, target), out), rtol=1e-6)


def _one_dense(seed=0):
    return Sequential([Dense(3, bias=False)], input_shape=(4,), seed=seed)


def test_engine_sgd_follows_the_alexnet_rule():
    model = _one_dense()
    w0 = model.layers[0].params["kernel"].copy()
    g = np.random.default_rng(2).standard_normal(w0.shape).astype(np.float32)
    opt = SGD(lr=0.1, momentum=0.9, weight_decay=5e-4)
    v = np.zeros_like(w0)
    w = w0.copy()
    for _ in range(3):
        model.layers[0].grads["kernel"][...] = g
        opt.step(model)
        v = 0.9 * v - 5e-4 * 0.1 * w - 0.1 * g
        w = w + v
    np.testing.assert_allclose(model.layers[0].params["kernel"], w, rtol=1e-5, atol=1e-7)


def test_engine_adam_matches_the_paper():
    model = _one_dense()
    w = model.layers[0].params["kernel"].astype(np.float64)
    opt = Adam(lr=0.01)
    m = v = np.zeros_like(w)
    rng = np.random.default_rng(3)
    for t in range(1, 5):
        g = rng.standard_normal(w.shape).astype(np.float32)
        model.layers[0].grads["kernel"][...] = g
        opt.step(model)
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g.astype(np.float64) ** 2
        w = w - 0.01 * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
    np.testing.assert_allclose(model.layers[0].params["kernel"], w, rtol=1e-4, atol=1e-6)
    # the state round-trips
    other = Adam(lr=0.01)
    other.set_state(opt.get_state())
    assert other.t == 4 and all(np.array_equal(other.m[k], opt.m[k]) for k in opt.m)


def test_engine_schedules():
    step = StepDecay(0.1, step=10, factor=0.1)
    assert [step.lr(e) for e in (0, 9, 10, 25)] == pytest.approx([0.1, 0.1, 0.01, 0.001])
    cos = Cosine(1.0, total_epochs=10, lr_min=0.1)
    assert cos.lr(0) == pytest.approx(1.0) and cos.lr(5) == pytest.approx(0.55) and cos.lr(10) == pytest.approx(0.1)
    assert get_schedule("constant", lr0=0.3, total_epochs=5).lr(100) == 0.3
    # a run's schedule by name and length: steps every third of the run, cosine down to lr0 / 100
    assert get_schedule("step", lr0=1.0, total_epochs=9).step == 3
    assert get_schedule("cosine", lr0=2.0, total_epochs=4).lr(4) == pytest.approx(0.02)
