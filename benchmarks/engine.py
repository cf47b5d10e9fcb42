"""Throughput of the numba CNN engine on the reference model R1, side by side with PyTorch.

R1: input (B, 1, L, L) of +-1 spins; Conv 1->16 3x3 periodic; ReLU; MaxPool 2; Conv 16->32 3x3
periodic; ReLU; MaxPool 2; Flatten; Dense 64; ReLU; Dense 2; softmax cross-entropy; SGD with
momentum 0.9 and weight decay 5e-4.

Each thread count runs in its own subprocess (NUMBA_NUM_THREADS, OMP/OpenBLAS threads and
torch.set_num_threads all set to it), so the comparison is at equal thread counts.  Figures are
medians over repeats, in samples per second; the ratio column is fieldnet / torch.

Usage::

    python benchmarks/engine.py                      # L = 32, 64; threads 1, 2; batch 128
    python benchmarks/engine.py --L 32 --threads 2 --repeats 20 --rounds 5
    python benchmarks/engine.py --layers             # also per-layer forward/backward times

R1 is built with :class:`fieldnet.engine.model.Sequential` (one ``train_step``: forward, loss, backward,
SGD update).  Install torch for the comparison with the ``bench`` extra.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any

import numpy as np


def median_time(fn, repeats: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def spins(batch: int, L: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.choice(np.array([-1.0, 1.0], dtype=np.float32), size=(batch, 1, L, L))
    y = rng.integers(0, 2, size=batch)
    return x, y


# -- fieldnet ------------------------------------------------------------------------------------
def fieldnet_conv_stack(L: int, seed: int = 0):
    from fieldnet.engine.layers import Conv2d, MaxPool2d

    rng = np.random.default_rng(seed)
    layers = [Conv2d(16, 3, activation="relu"), MaxPool2d(2), Conv2d(32, 3, activation="relu"), MaxPool2d(2)]
    shape = (1, L, L)
    for layer in layers:
        layer.build(shape, rng)
        shape = layer.compute_output_shape(shape)
    return layers, shape


def fieldnet_r1(L: int, batch: int, repeats: int) -> dict[str, Any]:
    """Train-step and inference throughput of R1 built with fieldnet's Sequential."""
    from fieldnet.engine.layers import Conv2d, Dense, Flatten, MaxPool2d
    from fieldnet.engine.losses import get_loss
    from fieldnet.engine.model import Sequential
    from fieldnet.engine.optimizers import SGD

    x, y = spins(batch, L)
    model = Sequential(
        [Conv2d(16, 3, activation="relu"), MaxPool2d(2), Conv2d(32, 3, activation="relu"), MaxPool2d(2),
         Flatten(), Dense(64, activation="relu"), Dense(2)],
        input_shape=(1, L, L), seed=0,
    )
    loss, opt = get_loss("softmax_cross_entropy"), SGD(lr=0.01, momentum=0.9, weight_decay=5e-4)

    def infer():
        return model.forward(x)

    def train():
        model.train_step(x, y, loss, opt)

    t_train = median_time(train, repeats)
    t_infer = median_time(infer, repeats)
    return {"train": batch / t_train, "infer": batch / t_infer, "head": "Sequential"}


def fieldnet_layer_times(L: int, batch: int, repeats: int) -> list[tuple[str, float, float]]:
    """(layer, forward ms, backward ms) for R1's convolution and pooling layers."""
    x, _ = spins(batch, L)
    layers, _ = fieldnet_conv_stack(L)
    rows = []
    h = x
    for layer in layers:
        out = layer.forward(h, training=True)
        g = np.ones_like(out)
        t_f = median_time(lambda layer=layer, h=h: layer.forward(h, training=True), repeats)
        layer.forward(h, training=True)
        t_b = median_time(lambda layer=layer, g=g: layer.backward(g), repeats)
        rows.append((f"{type(layer).__name__} in {tuple(h.shape[1:])}", t_f * 1e3, t_b * 1e3))
        h = out
    return rows


# -- torch ---------------------------------------------------------------------------------------
def torch_r1(L: int, batch: int, repeats: int, threads: int) -> dict[str, Any] | None:
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    nn = torch.nn
    model = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1, padding_mode="circular"),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1, padding_mode="circular"),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * (L // 4) ** 2, 64),
        nn.ReLU(),
        nn.Linear(64, 2),
    )
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    loss_fn = nn.CrossEntropyLoss()
    xn, yn = spins(batch, L)
    x, y = torch.from_numpy(xn), torch.from_numpy(yn)

    def train():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()

    def infer():
        with torch.inference_mode():
            model(x)

    t_train = median_time(train, repeats)
    t_infer = median_time(infer, repeats)
    return {"train": batch / t_train, "infer": batch / t_infer, "version": torch.__version__}


def torch_layer_times(L: int, batch: int, repeats: int, threads: int) -> list[tuple[str, float, float]] | None:
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    nn = torch.nn
    layers = [
        nn.Sequential(nn.Conv2d(1, 16, 3, padding=1, padding_mode="circular"), nn.ReLU()),
        nn.MaxPool2d(2),
        nn.Sequential(nn.Conv2d(16, 32, 3, padding=1, padding_mode="circular"), nn.ReLU()),
        nn.MaxPool2d(2),
    ]
    xn, _ = spins(batch, L)
    h = torch.from_numpy(xn)
    rows = []
    for i, layer in enumerate(layers):
        hin = h.detach().requires_grad_(i > 0)
        out = layer(hin)
        g = torch.ones_like(out)

        def fwd(layer=layer, hin=hin):
            with torch.no_grad():
                layer(hin)

        def bwd(layer=layer, hin=hin, g=g):
            o = layer(hin)
            o.backward(g)

        t_f = median_time(fwd, repeats)
        t_fb = median_time(bwd, repeats)
        rows.append((type(layer).__name__, t_f * 1e3, max(t_fb - t_f, 0.0) * 1e3))
        h = out.detach()
    return rows


# -- driver --------------------------------------------------------------------------------------
def worker(args: argparse.Namespace) -> None:
    """Measure one engine at one thread count (engines never share a process: their thread pools
    would compete)."""
    result: dict[str, Any] = {}
    for L in args.L:
        if args.engine == "fieldnet":
            entry: dict[str, Any] = fieldnet_r1(L, args.batch, args.repeats)
            if args.layers:
                entry["layers"] = fieldnet_layer_times(L, args.batch, args.repeats)
        else:
            entry = torch_r1(L, args.batch, args.repeats, args.threads)
            if entry is not None and args.layers:
                entry["layers"] = torch_layer_times(L, args.batch, args.repeats, args.threads)
        result[str(L)] = entry
    print("RESULT " + json.dumps(result))


def run_worker(engine: str, threads: int, args: argparse.Namespace) -> dict[str, Any]:
    env = {
        **os.environ,
        "NUMBA_NUM_THREADS": str(threads),
        "OMP_NUM_THREADS": str(threads),
        # numpy's BLAS (fieldnet's dense layers) runs between numba's parallel regions; threaded
        # BLAS would spin against numba's OpenMP workers, so it stays single-threaded
        "OPENBLAS_NUM_THREADS": "1" if engine == "fieldnet" else str(threads),
        "MKL_NUM_THREADS": str(threads),
    }
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--engine", engine, "--threads", str(threads),
           "--L", *map(str, args.L), "--batch", str(args.batch), "--repeats", str(args.repeats)]
    if args.layers:
        cmd.append("--layers")
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        print(f"{engine} worker at {threads} threads failed:\n{proc.stderr}", file=sys.stderr)
        sys.exit(1)
    return json.loads(lines[-1][len("RESULT "):])


def median_rounds(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Per L, the median over rounds of the train and infer figures (other fields from round 1)."""
    merged: dict[str, Any] = {}
    for L, first in rounds[0].items():
        if first is None:
            merged[L] = None
            continue
        merged[L] = dict(first)
        for mode in ("train", "infer"):
            merged[L][mode] = float(np.median([r[L][mode] for r in rounds]))
    return merged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--L", type=int, nargs="+", default=[32, 64])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=3, help="alternating fieldnet/torch rounds (median)")
    parser.add_argument("--layers", action="store_true", help="also time R1's conv/pool layers one by one")
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--engine", choices=["fieldnet", "torch"], default="fieldnet", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        args.threads = args.threads[0]
        worker(args)
        return
    print(f"R1 at batch {args.batch}, float32; samples/s (median of {args.repeats} steps, median of {args.rounds} "
          "alternating rounds); ratio = fieldnet / torch")
    print(f"{'threads':>7} {'L':>4} {'mode':>6} {'fieldnet':>10} {'torch':>10} {'ratio':>7}")
    for threads in args.threads:
        # alternate the engines over several rounds and keep each figure's median, so load from
        # other jobs on a shared machine hits both sides alike
        rounds_ours, rounds_theirs = [], []
        for _ in range(args.rounds):
            rounds_ours.append(run_worker("fieldnet", threads, args))
            if not args.no_torch:
                rounds_theirs.append(run_worker("torch", threads, args))
        ours = median_rounds(rounds_ours)
        theirs = median_rounds(rounds_theirs) if rounds_theirs else {}
        for L, fn in ours.items():
            tc = theirs.get(L)
            for mode in ("train", "infer"):
                t_val = f"{tc[mode]:10.0f}" if tc else f"{'-':>10}"
                ratio = f"{fn[mode] / tc[mode]:7.2f}" if tc else f"{'-':>7}"
                print(f"{threads:>7} {L:>4} {mode:>6} {fn[mode]:10.0f} {t_val} {ratio}   ({fn['head']})")
            if args.layers:
                tl = (tc or {}).get("layers") or []
                print("        per layer, ms per batch (fwd / bwd): fieldnet | torch")
                for i, (name, f_ms, b_ms) in enumerate(fn["layers"]):
                    tstr = f"{tl[i][1]:7.2f} / {tl[i][2]:7.2f}" if i < len(tl) else "-"
                    print(f"          {name:<40} {f_ms:7.2f} / {b_ms:7.2f} | {tstr}")
        sys.stdout.flush()

if __name__ == "__main__":
    main()
