"""`fieldnet info FILE...`: what a data, model or prediction file holds.

Data files (``fieldnet_format="dataset"``) get a summary of the model, couplings, provenance and
one table per lattice size (temperatures, labels, tau_int, thinning, burn-in, acceptance, mean
observables, completed points); unfinished ``.partial`` files are shown too.  Model and
prediction files (and any other fieldnet HDF5/netCDF file) get their attributes and the shapes of
their arrays.  ``fieldnet info --models`` lists the lattice models and their parameters.
"""

from __future__ import annotations

import argparse

DESCRIPTION = "Print what a fieldnet data, model or prediction file holds (or, with --models, the available models)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="*", metavar="FILE", help="data (.h5), model or prediction (.nc) files")
    parser.add_argument("--models", action="store_true", help="list the lattice models, their parameters and algorithms")


def _fmt(value) -> str:
    import numpy as np

    if isinstance(value, bytes):
        value = value.decode()
    arr = np.asarray(value)
    if arr.dtype.kind == "O" or arr.dtype.kind in "SU":
        items = [v.decode() if isinstance(v, bytes) else str(v) for v in arr.reshape(-1)]
        return items[0] if arr.size == 1 and arr.ndim == 0 else (items[0] if arr.size == 1 else "[" + ", ".join(items) + "]")
    if arr.size == 1:
        v = arr.reshape(-1)[0].item()
        return f"{v:.6g}" if isinstance(v, float) else str(v)
    if arr.size > 12:
        return f"[{', '.join(_fmt(v) for v in arr.reshape(-1)[:6])}, ... {arr.size} values]"
    return "[" + ", ".join(_fmt(v) for v in arr.reshape(-1)) + "]"


def _list_models() -> list[str]:
    from fieldnet.simulations.registry import MODEL_MODULES, available_models, model_class

    lines = []
    present = available_models()
    for name in MODEL_MODULES:
        if name not in present:
            lines.append(f"{name}: (not available in this version)")
            continue
        cls = model_class(name)
        lines.append(f"{name}: {(cls.__doc__ or '').strip().splitlines()[0]}")
        lines.append(f"  algorithms: auto, {', '.join(cls.algorithms)}")
        for key, (default, doc) in cls.parameters.items():
            lines.append(f"  --param {key}={default!r:<10} {doc}")
    return lines


def _describe_dataset(path, f) -> list[str]:
    import h5py
    import numpy as np

    from fieldnet.io.dataset import check_group_sizes, scalar_attr

    attrs = {k: scalar_attr(v) for k, v in f.attrs.items()}
    lines = [
        f"{path}: fieldnet data set (format {attrs.get('format_version', '?')}), status {attrs.get('status', 'unknown')}",
        f"  model      {attrs.get('model', '?')}  {attrs.get('params', '')}",
        f"  seed       {attrs.get('seed', '?')}   algorithm {attrs.get('algorithm', '?')}   "
        f"samples/temperature {attrs.get('samples_per_temperature', '?')}",
        f"  made by    fieldnet {attrs.get('fieldnet_version', '?')} on {attrs.get('created', '?')}",
        f"  command    {attrs.get('command', '') or '(not recorded)'}",
    ]
    groups = sorted((name for name in f if name.startswith("L") and isinstance(f[name], h5py.Group) and "config" in f[name]),
                    key=lambda n: int(scalar_attr(f[n].attrs.get("L", 0))))
    if not groups:
        lines.append("  (no lattice groups yet)")
    for name in groups:
        g = f[name]
        if "config" in g and isinstance(g["config"], h5py.Dataset):
            check_group_sizes(path, g, int(scalar_attr(g.attrs.get("L", 0))))  # before any array is read
        ga = {k: scalar_attr(v) for k, v in g.attrs.items()}
        cfg = g["config"]
        temps = np.asarray(g["temperature_grid"][:]) if "temperature_grid" in g else np.array([])
        done = np.asarray(g["completed"][:]).astype(bool) if "completed" in g else np.ones(len(temps), bool)
        channels = _fmt(ga.get("channel_names", ""))
        tc = ga.get("Tc", float("nan"))
        tc_text = "unknown" if not np.isfinite(float(tc)) else f"{float(tc):.6g} ({ga.get('Tc_source', '')})"
        lines.append(
            f"  {name}: config {cfg.shape} {cfg.dtype} (sample, channel [{channels}], "
            f"{', '.join('zyx'[3 - (cfg.ndim - 2):])}), {cfg.compression or 'uncompressed'}; "
            f"{int(done.sum())}/{len(temps)} temperatures done; Tc {tc_text}"
        )
        couplings = {k: ga[k] for k in ga if k not in NOT_COUPLINGS}
        if couplings:
            lines.append("    " + "  ".join(f"{k}={_fmt(v)}" for k, v in couplings.items()))
        algs = ga.get("algorithm_per_temperature")
        algs = [algs] if isinstance(algs, str) else (list(algs) if algs is not None else [])
        per_t = int(ga.get("samples_per_temperature", 0) or 0)
        columns = [c for c in ("tau_int_energy", "tau_int_abs_magnetization", "thinning", "burn_in", "acceptance",
                               "effective_samples") if c in g]
        short = {"tau_int_energy": "tau_E", "tau_int_abs_magnetization": "tau_|m|", "thinning": "thin", "burn_in": "burn_in",
                 "acceptance": "accept", "effective_samples": "n_eff"}
        obs_names = [o for o in ("energy", "magnetization") if o in g]
        head = f"    {'T':>8} {'label':>5} {'algorithm':>10} " + " ".join(f"{short[c]:>8}" for c in columns)
        head += " " + " ".join(f"{'<' + o[:6] + '>':>9}" for o in obs_names)
        lines.append(head)
        records = {c: np.asarray(g[c][:]) for c in columns}
        labels = np.asarray(g["label"][:]) if "label" in g else np.array([])
        obs = {o: np.asarray(g[o][:], dtype=np.float64) for o in obs_names}
        for i, T in enumerate(temps):
            if not done[i]:
                lines.append(f"    {T:8.4f} {'':>5} {'(not yet simulated)':>10}")
                continue
            sl = slice(i * per_t, (i + 1) * per_t)
            label = int(labels[sl][0]) if labels[sl].size else -1
            row = f"    {T:8.4f} {label:5d} {algs[i] if i < len(algs) else '?':>10} "
            row += " ".join(f"{records[c][i]:8.3g}" for c in columns)
            for o in obs_names:
                values = obs[o][sl]
                mean = np.mean(np.abs(values)) if o == "magnetization" else np.mean(values)
                row += f" {mean:9.4f}"
            lines.append(row)
        if "magnetization" in obs_names:
            lines.append("    (<magnet> is the mean of |m|)")
    return lines


def _describe_generic(path, f, kind: str) -> list[str]:
    """Attributes and array shapes of any HDF5/netCDF file (models, predictions, ...)."""
    import h5py

    from fieldnet.io.dataset import scalar_attr

    lines = [f"{path}: fieldnet {kind} file"]

    def walk(obj, indent: str) -> None:
        for key, value in obj.attrs.items():
            if key.startswith("_Netcdf4") or key in ("DIMENSION_LIST", "REFERENCE_LIST", "CLASS", "NAME"):
                continue
            text = _fmt(scalar_attr(value))
            if len(text) > 160:
                text = text[:157] + "..."
            lines.append(f"{indent}@{key} = {text}")
        for key, item in obj.items():
            if isinstance(item, h5py.Dataset):
                lines.append(f"{indent}{key}: {item.shape} {item.dtype}")
            elif isinstance(item, h5py.Group):
                lines.append(f"{indent}{key}/")
                walk(item, indent + "  ")

    walk(f, "  ")
    return lines


#: group attributes that describe the simulation, not the model's couplings
NOT_COUPLINGS = ("L", "samples_per_temperature", "channel_names", "model", "Tc", "Tc_source", "algorithm_per_temperature",
                 "sweep_unit", "seed", "algorithm", "hamiltonian", "nu_reference", "nu_source", "global_moves")


def describe(path) -> list[str]:
    """Lines describing ``path``; raises DataFileError for missing or unreadable files."""
    from pathlib import Path

    import h5py

    from fieldnet.errors import DataFileError
    from fieldnet.io.atomic import partial_path, require_regular_file
    from fieldnet.io.hdf5probe import probe_hdf5

    p = Path(path)
    if not p.exists() and not p.is_symlink():
        hint = f" (an unfinished run left {partial_path(p)}: show it with 'fieldnet info {partial_path(p)}' or finish it with --resume)" if partial_path(p).exists() else ""
        raise DataFileError(f"{p} does not exist{hint}")
    if p.is_dir():
        raise DataFileError(f"{p} is a directory, not a file")
    require_regular_file(p, "file", "give a data, model or predictions file")
    probe_hdf5(p)  # a corrupt file can hang or crash the HDF5 library: read its metadata in a child first
    try:
        with h5py.File(p, "r") as f:
            kind = f.attrs.get("fieldnet_format")
            kind = kind.decode() if isinstance(kind, bytes) else (str(kind) if kind is not None else None)
            if kind == "dataset":
                return _describe_dataset(p, f)
            if kind is None:
                raise DataFileError(f"{p} is an HDF5 file but not a fieldnet file (no fieldnet_format attribute)")
            return _describe_generic(p, f, kind)
    except DataFileError:
        raise
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise DataFileError(f"{p} is not a readable HDF5/netCDF file ({type(exc).__name__}: {exc}); it may be truncated or corrupt") from exc


def run(args: argparse.Namespace) -> int:
    from fieldnet.errors import FieldnetError

    if not args.files and not args.models:
        raise FieldnetError("give a file to describe (fieldnet info data.h5) or --models")
    lines: list[str] = []
    if args.models:
        lines += _list_models()
    for path in args.files:
        lines += describe(path)
    print("\n".join(lines))
    return 0
