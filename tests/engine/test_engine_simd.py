"""The vector values of the register-blocked kernels: each operation against numpy, lane by lane."""

import numba
import numpy as np
import pytest

from fieldnet.engine.kernels.simd import (
    LANES,
    lanes_fma,
    lanes_load,
    lanes_mul_add,
    lanes_store_range,
    lanes_sum,
    lanes_zero,
)


@numba.njit
def _fma_chain(x, w, out):
    acc = lanes_zero(x)
    for k in range(w.shape[0]):
        acc = lanes_fma(acc, w[k], lanes_load(x, k))
    lanes_store_range(out, 0, acc, 0, LANES, x.dtype.type(0), False)


@numba.njit
def _dot_lanes(a, b, out):
    acc = lanes_zero(a)
    for m in range(a.shape[0] // LANES):
        acc = lanes_mul_add(acc, lanes_load(a, m * LANES), lanes_load(b, m * LANES))
    lanes_store_range(out, 0, acc, 0, LANES, a.dtype.type(0), False)
    return lanes_sum(acc)


@numba.njit
def _store(x, out, index, lo, hi, add, relu):
    lanes_store_range(out, index, lanes_load(x, 0), lo, hi, add, relu)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lanes_fma_is_a_shifted_multiply_add_per_lane(dtype):
    # small integers: every product and sum is exact, so fused and unfused agree bit for bit
    x = np.arange(LANES + 5, dtype=dtype) - 7
    w = np.array([3, -2, 5, 1, 4], dtype=dtype)
    out = np.zeros(LANES, dtype)
    _fma_chain(x, w, out)
    np.testing.assert_array_equal(out, sum(w[k] * x[k : k + LANES] for k in range(len(w))))


def test_lanes_sum_adds_in_the_fixed_pairwise_tree():
    """Halves lane by lane (l + l+8, l + l+4, l + l+2), then lane 0 + lane 1: values chosen so
    that any other order rounds differently in float32."""
    rng = np.random.default_rng(0)
    for _ in range(20):
        v = (rng.standard_normal(LANES) * 10.0 ** rng.integers(-4, 8, LANES)).astype(np.float32)
        out = np.zeros(LANES, np.float32)
        total = _dot_lanes(v, np.ones(LANES, np.float32), out)
        np.testing.assert_array_equal(out, v)
        s = v
        while len(s) > 1:
            s = s[: len(s) // 2] + s[len(s) // 2 :]  # numpy float32 adds round exactly like the kernel's
        assert np.float32(total) == s[0]


def test_lanes_mul_add_sums_products_lane_by_lane():
    a = np.arange(3 * LANES, dtype=np.float32) % 7 - 3
    b = np.arange(3 * LANES, dtype=np.float32) % 5 - 2
    out = np.zeros(LANES, np.float32)
    total = _dot_lanes(a, b, out)
    np.testing.assert_array_equal(out, (a * b).reshape(3, LANES).sum(axis=0))
    assert total == np.dot(a, b)


@pytest.mark.parametrize("relu", [False, True])
def test_lanes_store_range_writes_only_its_lanes(relu):
    x = np.linspace(-4, 4, LANES).astype(np.float32)
    x[3], x[4] = np.nan, -0.0
    parent = np.full(3 * LANES, 99.0, np.float32)
    row = parent[LANES:]  # lanes before lo may point in front of the row: they are not touched
    lo, hi = 5, 12
    _store(x, row, -2, lo, hi, np.float32(0.5), relu)
    expected = parent.copy()
    values = x + np.float32(0.5)
    if relu:
        values = np.where(values < 0, np.float32(0), values)
    expected[LANES - 2 + lo : LANES - 2 + hi] = values[lo:hi]
    np.testing.assert_array_equal(parent, expected)
    # an empty range (lo >= hi, or lo past the last lane) writes nothing at all
    _store(x, row, -4, 4, 4, np.float32(0), relu)
    _store(x, row, 0, LANES, LANES + 3, np.float32(0), relu)
    np.testing.assert_array_equal(parent, expected)


def test_lanes_store_range_relu_keeps_nan_as_max_does():
    """max(v, 0) of numba returns v unless 0 > v: NaN stays NaN (a diverging run shows it)."""
    x = np.zeros(LANES, np.float32)
    x[0], x[1], x[2] = np.nan, -1.0, 2.0
    out = np.full(LANES, 7.0, np.float32)
    _store(x, out, 0, 0, 3, np.float32(0), True)
    assert np.isnan(out[0]) and out[1] == 0 and out[2] == 2


def test_prefetch_is_only_a_hint_anywhere_in_or_past_an_array():
    from numba import njit

    from fieldnet.engine.kernels.simd import prefetch

    @njit
    def touch(a, far):
        prefetch(a, 0)
        prefetch(a, a.size - 1)
        prefetch(a, far)  # far outside the array: a prefetch never faults
        return a.sum()

    a = np.arange(100, dtype=np.float32)
    before = a.copy()
    assert touch(a, 1 << 40) == before.sum()
    np.testing.assert_array_equal(a, before)
