"""Small valid files for the robustness tests, written directly (no Monte Carlo, no training):
a data file of any lattice model's layout, a model file, and the hostile edits of a model file's
architecture that issue 15 lists."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np

from fieldnet.engine.layers import Conv2d, Dense, GlobalAvgPool
from fieldnet.engine.model import Sequential
from fieldnet.engine.saving import save_model
from fieldnet.io.dataset import DatasetWriter, LatticeSpec

TEMPS = np.array([1.5, 2.0, 2.6, 3.2])


def write_data(path: Path, *, model: str = "ising2d", L: int = 8, n: int = 16, channels=("spin",), dtype: str = "int8",
               lattice: str = "square", values=None, labels=True, seed: int = 0, extra_attrs: dict | None = None) -> Path:
    """A complete data file of ``model``'s layout: ``n`` configurations at each of :data:`TEMPS`.

    ``values`` picks each configuration's values (default: Ising spins -1, 1 or uniform in
    [-1, 1] for float32); labels are 1 below T = 2.27 and 0 above (-1 everywhere without ``labels``).
    """
    rng = np.random.default_rng(seed)
    attrs = {"model": model, "lattice": lattice, "Tc": 2.269 if labels else float("nan"), **(extra_attrs or {})}
    spec = LatticeSpec(L=L, ndim=2, channel_names=tuple(channels), dtype=dtype, temperatures=TEMPS,
                       samples_per_temperature=n, attrs=attrs)
    with DatasetWriter(path, {"model": model, "seed": seed, "lattice_sizes": [L]}) as w:
        w.add_lattice(spec)
        for p, T in enumerate(TEMPS):
            shape = (n, len(channels), L, L)
            if values is not None:
                configs = np.asarray(values(rng, shape), dtype=dtype)
            elif dtype == "int8":
                configs = rng.choice(np.array([-1, 1], np.int8), size=shape)
            else:
                configs = rng.uniform(-1, 1, size=shape).astype(np.float32)
            label = (1 if T < 2.27 else 0) if labels else -1
            w.write_point(L, p, configs, {"energy": rng.normal(size=n), "magnetization": rng.normal(size=n)}, label)
        return w.finalize()


def make_model(input_shape=(1, 8, 8), seed: int = 0, hidden: int = 8) -> Sequential:
    """A small size-agnostic classifier: Conv2d(4) -> GlobalAvgPool -> Dense(hidden) -> Dense(2)."""
    return Sequential([Conv2d(4, 3, activation="relu"), GlobalAvgPool(), Dense(hidden, activation="relu"), Dense(2)],
                      input_shape=input_shape, seed=seed)


def write_model(path: Path, *, layout: dict | None = None, **kwargs) -> Path:
    """:func:`make_model` saved to ``path``; ``layout`` is recorded as the training data layout."""
    model = make_model(**kwargs)
    if layout is not None:
        model.attrs["data_layout"] = layout
        model.attrs["model"] = layout.get("model", "")
    return save_model(model, path)


def edit_architecture(source: Path, target: Path, edit) -> Path:
    """A copy of model file ``source`` whose architecture JSON went through ``edit(dict)``."""
    shutil.copy(source, target)
    with h5py.File(target, "r+") as f:
        config = json.loads(f.attrs["architecture"])
        edit(config)
        f.attrs["architecture"] = json.dumps(config)
    return target


def declare_weights(target: Path, shapes: dict[str, tuple[int, ...]], *, zeros: bool = False) -> Path:
    """Replace weights of ``target`` by chunked datasets of ``shapes`` that store nothing (HDF5 fills
    them with zeros on reading) or, with ``zeros``, that store compressed zeros."""
    with h5py.File(target, "r+") as f:
        for name, shape in shapes.items():
            del f["weights"][name]
            if zeros:
                f["weights"].create_dataset(name, data=np.zeros(shape, np.float32), chunks=True, compression="gzip",
                                            compression_opts=9)
            else:
                f["weights"].create_dataset(name, shape=shape, dtype="f4", chunks=True)
    return target


def set_dense_units(units: int):
    """An architecture edit: the hidden Dense layer (index 2) declares ``units`` outputs."""

    def edit(config: dict) -> None:
        config["layers"][2]["config"]["out_features"] = int(units)

    return edit
