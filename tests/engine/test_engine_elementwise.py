"""The skip connection's element-wise kernels give NumPy's bits, NaN and signed zeros included."""

from __future__ import annotations

import numpy as np
import pytest

from fieldnet.engine.kernels.elementwise import add_relu, relu_mask

SPECIAL = np.array([np.nan, -0.0, 0.0, -1.5, 2.25, np.inf, -np.inf, 1e-45, -1e-45], dtype=np.float32)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("relu", [False, True])
def test_add_relu_matches_numpy_sum_and_maximum(dtype, relu):
    rng = np.random.default_rng(0)
    a = np.concatenate([rng.standard_normal(1000), np.repeat(SPECIAL, len(SPECIAL))]).astype(dtype)
    b = np.concatenate([rng.standard_normal(1000), np.tile(SPECIAL, len(SPECIAL))]).astype(dtype)
    with np.errstate(invalid="ignore"):  # inf + -inf
        expected = a + b
    if relu:
        np.maximum(expected, 0, out=expected)
    out = np.full_like(a, 7.0)
    add_relu(a, b, relu, out)
    bits = np.int32 if dtype == np.float32 else np.int64
    np.testing.assert_array_equal(out.view(bits), expected.view(bits))


def test_relu_mask_matches_numpy_where():
    rng = np.random.default_rng(1)
    y = np.concatenate([rng.standard_normal(500), SPECIAL]).astype(np.float32)
    dy = rng.standard_normal(y.size).astype(np.float32)
    out = np.full_like(dy, np.nan)
    relu_mask(dy, y, out)
    with np.errstate(invalid="ignore"):
        expected = np.where(y > 0, dy, np.float32(0))
    np.testing.assert_array_equal(out.view(np.int32), expected.view(np.int32))
