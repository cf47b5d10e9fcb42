"""Throughput of the numba CNN engine on every preset network, side by side with PyTorch CPU.

Networks: the presets of :mod:`fieldnet.training.presets` (r1, gap, vgg, resnet) in 2D and 3D,
plus ``strided``, an all-convolutional net that coarse-grains with stride-2 convolutions instead
of pooling (the presets have none), so non-unit strides are measured too.  PyTorch runs the same
networks with the same weights (periodic padding as an explicit circular pad, so odd totals and
strides pad exactly as fieldnet does); each case first checks that both give the same outputs.

Both engines train with softmax cross-entropy and SGD (momentum 0.9, weight decay 5e-4) and
infer with the network in evaluation mode.  Each (engine, thread count) is one long-lived
worker process (NUMBA_NUM_THREADS, torch.set_num_threads and the BLAS threads all set to the
count); the driver measures the cases engine by engine, alternating fieldnet and torch case by
case, over several rounds, so load from other jobs on a shared machine hits both alike.
Figures are medians over the rounds of each round's median step; "ratio" is the median over
rounds of fieldnet / torch measured back to back.

GFLOP/s counts the multiply-adds of the convolutions and dense layers (2 FLOPs each; training
adds the weight gradient and every input gradient but the first layer's).  "peak" is numpy's
sgemm (2048^3, the BLAS numpy loaded) in the same worker at the same thread count, measured in
every round next to the cases.  "target % peak" is the rate that 2x torch's inference (1.5x its
training) would need, as a share of that peak: near or above 100 the target cannot be reached by
computing the same multiply-adds faster, only by computing fewer.

Usage::

    python benchmarks/engine.py                          # every case, threads 1 and 2
    python benchmarks/engine.py --quick                  # one size per network, 2 threads
    python benchmarks/engine.py --nets vgg --L 48 --threads 2 --rounds 5
    python benchmarks/engine.py --nets r1 --L 32 --profile   # where the time goes, layer by layer

Install torch for the comparison with the ``bench`` extra.
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

#: (network, dimensions) -> lattice sizes measured by default; 3D is (L, L, L)
DEFAULT_CASES: dict[tuple[str, int], tuple[int, ...]] = {
    **{(net, 2): (16, 24, 32, 48, 64) for net in ("r1", "gap", "vgg", "resnet", "strided")},
    **{(net, 3): (16, 24) for net in ("r1", "gap", "vgg", "resnet", "strided")},
}
QUICK_CASES: dict[tuple[str, int], tuple[int, ...]] = {
    ("r1", 2): (32,), ("gap", 2): (48,), ("vgg", 2): (48,), ("resnet", 2): (32,), ("strided", 2): (48,),
    ("r1", 3): (16,), ("gap", 3): (16,), ("vgg", 3): (16,), ("resnet", 3): (16,), ("strided", 3): (16,),
}


def strided(ndim: int, n_out: int) -> list:
    """All-convolutional net: stride-2 convolutions coarse-grain (Springenberg et al. style)."""
    from fieldnet.engine.layers import Conv2d, Conv3d, Dense, GlobalAvgPool

    conv = {2: Conv2d, 3: Conv3d}[ndim]
    return [conv(16, 3, activation="relu"), conv(16, 3, stride=2, activation="relu"), conv(32, 3, activation="relu"),
            conv(32, 3, stride=2, activation="relu"), GlobalAvgPool(), Dense(n_out)]


def network_layers(name: str, ndim: int) -> list:
    if name == "strided":
        return strided(ndim, 2)
    from fieldnet.training.presets import PRESETS

    return PRESETS[name](ndim, 2)


def batch_size(ndim: int, args: argparse.Namespace) -> int:
    return args.batch if ndim == 2 else args.batch3d


def spins(batch: int, shape: tuple[int, ...], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.choice(np.array([-1.0, 1.0], dtype=np.float32), size=(batch, *shape))
    y = rng.integers(0, 2, size=batch)
    return x, y


def median_time(fn, repeats: int, warmup: int = 1, least: float = 0.5, budget: float = 4.0) -> float:
    """Median seconds per call: at least ``repeats`` calls and ``least`` seconds of them, but no
    more calls once ``budget`` seconds have passed (and never fewer than three)."""
    for _ in range(warmup):
        fn()
    times: list[float] = []
    start = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        spent = time.perf_counter() - start
        if len(times) >= 3 and (spent >= budget or (len(times) >= repeats and spent >= least)):
            return float(np.median(times))


#: speed-up over torch aimed at, per mode; "target % peak" is the rate it needs against the sgemm peak
TARGET = {"infer": 2.0, "train": 1.5}
#: matrix size of the sgemm peak: large enough that BLAS runs at its full rate on every thread
#: (at 1024^3 two threads reach about half of it here)
PEAK_SIZE = 2048


def sgemm_gflops(repeats: int = 5) -> float:
    """Median GFLOP/s of a PEAK_SIZE^3 float32 matrix product in numpy's BLAS (this process's threads)."""
    a = np.random.default_rng(0).random((PEAK_SIZE, PEAK_SIZE), dtype=np.float32)
    b = a.T.copy()
    c = np.empty_like(a)
    return 2 * PEAK_SIZE**3 / median_time(lambda: np.matmul(a, b, out=c), repeats, warmup=2) / 1e9


# -- FLOPs ----------------------------------------------------------------------------------------
def _leaf_layers(layers: list) -> list:
    out = []
    for layer in layers:
        subs = layer.sublayers()
        out.extend(_leaf_layers(subs) if subs else [layer])
    return out


def network_flops(model) -> tuple[float, float]:
    """(inference, training) FLOPs per sample: 2 per multiply-add of the conv and dense layers."""
    from fieldnet.engine.layers import Conv1d, Conv2d, Conv3d, Dense

    forward = backward = 0.0
    first = True
    for layer in _leaf_layers(model.layers):
        if isinstance(layer, Conv1d | Conv2d | Conv3d):
            macs = float(np.prod(layer.output_shape)) * layer.input_shape[0] * float(np.prod(layer.kernel_size))
        elif isinstance(layer, Dense):
            macs = float(layer.input_shape[0] * layer.out_features)
        else:
            continue
        forward += 2 * macs
        backward += 2 * macs * (1 if first else 2)  # weight gradient, and the input gradient past layer 0
        first = False
    return forward, forward + backward


# -- fieldnet ------------------------------------------------------------------------------------
class FieldnetCase:
    def __init__(self, net: str, ndim: int, L: int, batch: int):
        from fieldnet.engine.losses import get_loss
        from fieldnet.engine.model import Sequential
        from fieldnet.engine.optimizers import SGD

        shape = (1,) + (L,) * ndim
        self.model = Sequential(network_layers(net, ndim), input_shape=shape, seed=0)
        self.x, self.y = spins(batch, shape)
        self.loss, self.opt = get_loss("softmax_cross_entropy"), SGD(lr=0.01, momentum=0.9, weight_decay=5e-4)

    def infer(self) -> None:
        self.model.forward(self.x)

    def train(self) -> None:
        self.model.train_step(self.x, self.y, self.loss, self.opt)


def layer_profile(case: FieldnetCase, repeats: int) -> list[dict[str, Any]]:
    """Median forward and backward milliseconds of every top-level layer within train steps."""
    model = case.model
    times: dict[int, dict[str, list[float]]] = {i: {"fwd": [], "bwd": []} for i in range(len(model.layers))}
    originals = []
    for i, layer in enumerate(model.layers):
        fwd, bwd = layer.forward, layer.backward

        def timed_fwd(x, training=False, i=i, fwd=fwd):
            t0 = time.perf_counter()
            out = fwd(x, training)
            times[i]["fwd"].append(time.perf_counter() - t0)
            return out

        def timed_bwd(g, i=i, bwd=bwd):
            t0 = time.perf_counter()
            out = bwd(g)
            times[i]["bwd"].append(time.perf_counter() - t0)
            return out

        originals.append((layer, fwd, bwd))
        layer.forward, layer.backward = timed_fwd, timed_bwd
    try:
        case.train()
        for record in times.values():
            record["fwd"].clear()
            record["bwd"].clear()
        for _ in range(repeats):
            case.train()
    finally:
        for layer, _, _ in originals:
            del layer.forward, layer.backward
    rows = []
    shape = model.input_shape
    for i, layer in enumerate(model.layers):
        macs = 0.0
        for leaf in _leaf_layers([layer]):
            if hasattr(leaf, "kernel_size") and "kernel" in leaf.params:
                macs += float(np.prod(leaf.output_shape)) * leaf.input_shape[0] * float(np.prod(leaf.kernel_size))
            elif type(leaf).__name__ == "Dense":
                macs += float(leaf.input_shape[0] * leaf.out_features)
        rows.append({
            "layer": f"{i}:{type(layer).__name__} {tuple(shape)}",
            "fwd_ms": float(np.median(times[i]["fwd"])) * 1e3,
            "bwd_ms": float(np.median(times[i]["bwd"])) * 1e3,
            "macs": macs * len(case.x),
            "first": i == 0,
        })
        shape = layer.compute_output_shape(shape)
    return rows


# -- torch ---------------------------------------------------------------------------------------
def torch_network(model, ndim: int):
    """The fieldnet ``model`` as a torch.nn.Sequential with the same weights."""
    import torch
    import torch.nn.functional as F

    from fieldnet.engine.layers import (
        Conv2d,
        Conv3d,
        Dense,
        Flatten,
        GlobalAvgPool,
        MaxPool2d,
        MaxPool3d,
        Residual,
    )

    nn = torch.nn

    class PeriodicConv(nn.Module):
        def __init__(self, layer):
            super().__init__()
            conv = {2: nn.Conv2d, 3: nn.Conv3d}[ndim]
            w = layer.params["kernel"]
            self.conv = conv(w.shape[1], w.shape[0], tuple(layer.kernel_size), stride=tuple(layer.stride), bias=layer.bias)
            with torch.no_grad():
                self.conv.weight.copy_(torch.from_numpy(w))
                if layer.bias:
                    self.conv.bias.copy_(torch.from_numpy(layer.params["bias"]))
            pads = []
            for size, (_, lo, padded) in zip(reversed(layer.input_shape[1:]), reversed(layer.axis_geometry(layer.input_shape[1:])), strict=True):
                pads += [lo, padded - size - lo]
            self.pads = tuple(pads)
            self.relu = layer.activation == "relu"

        def forward(self, x):
            if any(self.pads):
                x = F.pad(x, self.pads, mode="circular")
            x = self.conv(x)
            return F.relu(x) if self.relu else x

    class Skip(nn.Module):
        def __init__(self, inner, relu):
            super().__init__()
            self.inner, self.relu = inner, relu

        def forward(self, x):
            y = self.inner(x) + x
            return F.relu(y) if self.relu else y

    class GlobalAvg(nn.Module):
        def forward(self, x):
            return x.mean(dim=tuple(range(2, x.ndim)))

    def convert(layer):
        if isinstance(layer, Conv2d | Conv3d):
            return PeriodicConv(layer)
        if isinstance(layer, MaxPool2d | MaxPool3d):
            pool = {2: nn.MaxPool2d, 3: nn.MaxPool3d}[ndim]
            return pool(tuple(layer.kernel_size), tuple(layer.stride))
        if isinstance(layer, Flatten):
            return nn.Flatten()
        if isinstance(layer, GlobalAvgPool):
            return GlobalAvg()
        if isinstance(layer, Dense):
            lin = nn.Linear(layer.input_shape[0], layer.out_features, bias=layer.bias)
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(layer.params["kernel"].T.copy()))
                if layer.bias:
                    lin.bias.copy_(torch.from_numpy(layer.params["bias"]))
            return nn.Sequential(lin, nn.ReLU()) if layer.activation == "relu" else lin
        if isinstance(layer, Residual):
            return Skip(nn.Sequential(*[convert(sub) for sub in layer.layers]), layer.activation == "relu")
        raise TypeError(f"no torch counterpart for {type(layer).__name__}")

    return nn.Sequential(*[convert(layer) for layer in model.layers])


class TorchCase:
    def __init__(self, net: str, ndim: int, L: int, batch: int):
        import torch

        reference = FieldnetCase(net, ndim, L, batch)
        self.model = torch_network(reference.model, ndim)
        self.x, self.y = torch.from_numpy(reference.x), torch.from_numpy(reference.y)
        with torch.no_grad():
            ours = reference.model.forward(reference.x[:4])
            theirs = self.model(self.x[:4]).numpy()
        scale = max(1.0, float(np.abs(ours).max()))
        self.max_difference = float(np.abs(ours - theirs).max()) / scale
        self.opt = torch.optim.SGD(self.model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
        self.loss_fn = torch.nn.CrossEntropyLoss()

    def infer(self) -> None:
        import torch

        self.model.eval()
        with torch.inference_mode():
            self.model(self.x)

    def train(self) -> None:
        self.model.train()
        self.opt.zero_grad(set_to_none=True)
        self.loss_fn(self.model(self.x), self.y).backward()
        self.opt.step()


# -- worker --------------------------------------------------------------------------------------
def worker(engine: str, threads: int) -> None:
    """Serve requests from the driver, one JSON line each, until stdin closes."""
    if engine == "torch":
        import torch

        torch.set_num_threads(threads)
    cases: dict[str, Any] = {}
    for line in sys.stdin:
        request = json.loads(line)
        kind = request["kind"]
        if kind == "peak":
            reply: dict[str, Any] = {"gflops": sgemm_gflops()}
        else:
            key = f"{request['net']}-{request['ndim']}-{request['L']}"
            if key not in cases:
                cls = FieldnetCase if engine == "fieldnet" else TorchCase
                cases.clear()  # one case in memory at a time
                cases[key] = cls(request["net"], request["ndim"], request["L"], request["batch"])
            case = cases[key]
            if kind == "profile":
                reply = {"layers": layer_profile(case, request["repeats"])}
            else:
                reply = {
                    "train": len(case.x) / median_time(case.train, request["repeats"]),
                    "infer": len(case.x) / median_time(case.infer, request["repeats"]),
                }
                if engine == "torch":
                    reply["max_difference"] = case.max_difference
        print(json.dumps(reply), flush=True)


class Worker:
    """A worker process for one engine at one thread count."""

    def __init__(self, engine: str, threads: int):
        env = {
            **os.environ,
            "NUMBA_NUM_THREADS": str(threads),
            "OMP_NUM_THREADS": str(threads),
            "OPENBLAS_NUM_THREADS": str(threads),
            "MKL_NUM_THREADS": str(threads),
        }
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--worker", engine, "--threads", str(threads)],
            env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        self.engine = engine

    def ask(self, **request: Any) -> dict[str, Any]:
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"the {self.engine} worker died (request {request})")
        return json.loads(line)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()


# -- driver --------------------------------------------------------------------------------------
def selected_cases(args: argparse.Namespace) -> list[tuple[str, int, int]]:
    table = QUICK_CASES if args.quick else DEFAULT_CASES
    cases = []
    for (net, ndim), sizes in table.items():
        if net not in args.nets or ndim not in args.dims:
            continue
        for L in args.L or sizes:
            cases.append((net, ndim, L))
    return cases


def load() -> str:
    return "load average " + " ".join(f"{v:.1f}" for v in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--nets", nargs="+", default=["r1", "gap", "vgg", "resnet", "strided"])
    parser.add_argument("--dims", type=int, nargs="+", default=[2, 3])
    parser.add_argument("--L", type=int, nargs="+", help="lattice sizes (default: a set per network)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch", type=int, default=128, help="2D batch size")
    parser.add_argument("--batch3d", type=int, default=32, help="3D batch size")
    parser.add_argument("--repeats", type=int, default=7, help="steps per measurement (median)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating fieldnet/torch rounds (median)")
    parser.add_argument("--quick", action="store_true", help="one lattice size per network")
    parser.add_argument("--profile", action="store_true", help="also time fieldnet's layers one by one")
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--worker", choices=["fieldnet", "torch"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.threads[0])
        return
    if args.quick and args.threads == [1, 2]:
        args.threads = [2]
    cases = selected_cases(args)
    engines = ["fieldnet"] + ([] if args.no_torch else ["torch"])
    if "torch" in engines:
        try:
            import torch
        except ImportError:
            print("torch is not installed (pip install -e '.[bench]'): fieldnet figures only")
            engines = ["fieldnet"]
        else:
            print(f"torch {torch.__version__}; ", end="")
    print(f"{os.cpu_count()} CPUs; {load()} at start")
    print(f"batch {args.batch} (2D), {args.batch3d} (3D), float32; samples/s = median of {args.repeats} steps, median of "
          f"{args.rounds} rounds alternating the engines case by case; ratio = fieldnet / torch (median of per-round ratios)")
    flops = {}
    for net, ndim, L in cases:
        flops[(net, ndim, L)] = network_flops(FieldnetCase(net, ndim, L, 1).model)
    for threads in args.threads:
        workers = {engine: Worker(engine, threads) for engine in engines}
        results: dict[tuple, dict[str, list]] = {c: {f"{e}_{m}": [] for e in engines for m in ("train", "infer")} for c in cases}
        diffs: dict[tuple, float] = {}
        peaks = []
        try:
            for _ in range(args.rounds):
                peaks.append(workers["fieldnet"].ask(kind="peak")["gflops"])
                for case in cases:
                    net, ndim, L = case
                    for engine in engines:
                        reply = workers[engine].ask(kind="time", net=net, ndim=ndim, L=L, batch=batch_size(ndim, args),
                                                    repeats=args.repeats)
                        for mode in ("train", "infer"):
                            results[case][f"{engine}_{mode}"].append(reply[mode])
                        if engine == "torch":
                            diffs[case] = reply["max_difference"]
            profiles = {}
            if args.profile:
                for net, ndim, L in cases:
                    profiles[(net, ndim, L)] = workers["fieldnet"].ask(kind="profile", net=net, ndim=ndim, L=L,
                                                                       batch=batch_size(ndim, args), repeats=args.repeats)["layers"]
        finally:
            for w in workers.values():
                w.close()
        peak = float(np.median(peaks))
        print(f"\n{threads} thread{'s' if threads > 1 else ''}: numpy sgemm peak {peak:.0f} GFLOP/s (median of rounds {', '.join(f'{p:.0f}' for p in peaks)}); {load()}")
        head = (f"{'net':>8} {'dim':>3} {'L':>3} {'mode':>6} {'fieldnet':>9} {'torch':>9} {'ratio':>6} {'GFLOP/s':>8} "
                f"{'% peak':>6} {'target % peak':>13}")
        print(head)
        worst = {"train": (np.inf, None), "infer": (np.inf, None)}
        for case in cases:
            net, ndim, L = case
            r = results[case]
            for mode in ("infer", "train"):
                ours = float(np.median(r[f"fieldnet_{mode}"]))
                gflops = ours * flops[case][0 if mode == "infer" else 1] / 1e9
                target = "-"
                if "torch" in engines:
                    theirs = float(np.median(r[f"torch_{mode}"]))
                    ratio = float(np.median(np.divide(r[f"fieldnet_{mode}"], r[f"torch_{mode}"])))
                    if ratio < worst[mode][0]:
                        worst[mode] = (ratio, case)
                    cols = f"{theirs:9.0f} {ratio:6.2f}"
                    # the rate the target (2x torch inference, 1.5x training) asks for, against the peak
                    needed = TARGET[mode] * theirs * flops[case][0 if mode == "infer" else 1] / 1e9
                    target = f"{100 * needed / peak:.0f}"
                else:
                    cols = f"{'-':>9} {'-':>6}"
                print(f"{net:>8} {ndim:>3} {L:>3} {mode:>6} {ours:9.0f} {cols} {gflops:8.1f} {100 * gflops / peak:6.0f} "
                      f"{target:>13}")
        if "torch" in engines:
            for mode, (ratio, case) in worst.items():
                if case is not None:
                    print(f"lowest {mode} ratio: {ratio:.2f} ({case[0]} {case[1]}D L={case[2]})")
            print("largest relative output difference fieldnet vs torch (same weights): "
                  f"{max(diffs.values()):.1e}")
        if args.profile:
            for case, rows in profiles.items():
                total = sum(r["fwd_ms"] + r["bwd_ms"] for r in rows)
                print(f"\nper layer, {case[0]} {case[1]}D L={case[2]}, one training step of batch {batch_size(case[1], args)} "
                      f"({total:.1f} ms): forward / backward ms, share, GFLOP/s")
                for row in rows:
                    ms = row["fwd_ms"] + row["bwd_ms"]
                    rate = ""
                    if row["macs"]:
                        fl = 2 * row["macs"] * (1 + (1 if row["first"] else 2))
                        rate = f"{fl / (ms * 1e-3) / 1e9:8.1f}"
                        fwd_rate = 2 * row["macs"] / (row["fwd_ms"] * 1e-3) / 1e9
                        rate += f"  (fwd {fwd_rate:.1f})"
                    print(f"  {row['layer']:<34} {row['fwd_ms']:8.2f} / {row['bwd_ms']:8.2f}  {100 * ms / total:5.1f}% {rate}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
