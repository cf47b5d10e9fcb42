"""Conv and pool outputs and gradients are bit-identical at NUMBA_NUM_THREADS=1 and 2."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np

SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np
    from fieldnet.engine.layers.conv import Conv2d, Conv3d
    from fieldnet.engine.layers.pooling import MaxPool2d, MaxPool3d, AvgPool2d, GlobalAvgPool

    rng = np.random.default_rng(123)
    out = {}

    # build a stack on per-sample `shape`, forward a random batch, backward a random output
    # gradient; keep the output, every parameter gradient and the input gradient
    def run_stack(layers, shape, batch, tag):
        input_shape = shape
        for layer in layers:
            layer.build(shape, rng)
            shape = layer.compute_output_shape(shape)
        h = rng.standard_normal((batch, *input_shape)).astype(np.float32)
        for layer in layers:
            h = layer.forward(h, training=True)
        out[f"y{tag}"] = h
        g = rng.standard_normal(h.shape).astype(np.float32)
        for i, layer in reversed(list(enumerate(layers))):
            g = layer.backward(g)
            for key, val in layer.grads.items():
                out[f"{tag}{i}_{key}"] = val
        out[f"dx{tag}"] = g

    # 2-D stack, batch 11 (not a multiple of the gradient chunk), strided and padded variants
    run_stack([Conv2d(8, 3, activation="relu"), MaxPool2d(2), Conv2d(6, 3, stride=2, padding="zero"),
               AvgPool2d(2, 1), Conv2d(4, 2, padding="valid"), GlobalAvgPool()], (2, 16, 16), 11, "")
    # 3-D, batch 1 (parallel over channels)
    c3 = Conv3d(5, 3)
    c3.build((3, 6, 6, 6), rng)
    x3 = rng.standard_normal((1, 3, 6, 6, 6)).astype(np.float32)
    y3 = c3.forward(x3)
    out["y3"] = y3
    out["dx3"] = c3.backward(np.ones_like(y3))
    out["gk3"] = c3.grads["kernel"]
    # 3-D stack with strides per axis, planes longer than one kernel block, 2x2x2 pooling; batch 9
    run_stack([Conv3d(6, 3, activation="relu"), MaxPool3d(2), Conv3d(7, 3, stride=(2, 1, 2), activation="relu"),
               Conv3d(4, 2, stride=2, padding="zero"), GlobalAvgPool()], (2, 12, 10, 12), 9, "3s")
    np.savez(sys.argv[1], **out)
    """
)


def run_with_threads(threads: int, path) -> dict[str, np.ndarray]:
    env = {**os.environ, "NUMBA_NUM_THREADS": str(threads)}
    subprocess.run([sys.executable, "-c", SCRIPT, str(path)], env=env, check=True, timeout=600)
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def test_engine_conv_pool_bit_identical_at_1_and_2_threads(tmp_path):
    one = run_with_threads(1, tmp_path / "t1.npz")
    two = run_with_threads(2, tmp_path / "t2.npz")
    assert one.keys() == two.keys() and len(one) > 5
    for key in one:
        np.testing.assert_array_equal(one[key], two[key], err_msg=key)
