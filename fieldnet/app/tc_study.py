"""A Tc study from prediction files: the estimate, its statistical and systematic errors, the
baseline, and the files a paper needs (``tc.nc``, ``tc.json``, PNG figures).

``fieldnet pipeline`` and ``fieldnet analyze tc`` both call :func:`analyse_study`, so the same
predictions give the same numbers either way.  The first predictions file holds the estimate
(networks trained on the unshifted bands); the others come from networks trained on shifted
bands and give the training-range systematic and the sensitivity.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from fieldnet.errors import FieldnetError

#: format version of tc.nc
TC_FORMAT_VERSION = 1


def _bands_of(pred) -> tuple[float, float]:
    return (float(np.ravel(pred.attrs.get("ordered_below", [np.nan]))[0]),
            float(np.ravel(pred.attrs.get("disordered_above", [np.nan]))[0]))


def analyse_study(predictions: list[str | os.PathLike], placements: list[dict] | None, data: str | os.PathLike | None,
                  outdir: str | os.PathLike, *, n_bootstrap: int | None = None, seed: int | None = None,
                  known_tc_labels: bool = False, figures: bool = True) -> dict[str, Any]:
    """Measure Tc and nu from one or more predictions files of the same data and write the results.

    Args:
        predictions: predictions files; the first is the estimate, the rest shifted training ranges.
        placements: per file ``{"shift", "ordered_below", "disordered_above"}`` (the pipeline
            knows them); None reads the bands from each file's attributes.
        data: the data file predicted (default: each file's ``data`` attribute).
        outdir: where tc.nc, tc.json and the figures go (created).
        n_bootstrap: bootstrap replicas (default :data:`fieldnet.analysis.settings.BOOTSTRAP`).
        seed: seed of the bootstrap (default :data:`fieldnet.analysis.settings.BOOTSTRAP_SEED`).
        known_tc_labels: the networks were trained with labels from the known Tc (said in the
            result's method, which is then not a measurement).
        figures: write the PNG figures.

    Returns:
        The summary (JSON-able): headline Tc and nu with statistical and systematic errors, each
        method's result, the placements, the sensitivity.
    """
    from fieldnet.analysis import settings
    from fieldnet.analysis import tc as tc_mod
    from fieldnet.analysis.observables import size_samples
    from fieldnet.analysis.systematics import Placement, systematics

    if not predictions:
        raise FieldnetError("give at least one predictions file")
    n_bootstrap = settings.BOOTSTRAP if n_bootstrap is None else int(n_bootstrap)
    seed = settings.BOOTSTRAP_SEED if seed is None else int(seed)
    preds, per_file = [], []
    for path in predictions:
        pred = tc_mod.load_predictions(path)
        preds.append(pred)
        per_file.append(size_samples(pred, data if data is not None else _data_of(pred, path)))
    measured = tc_mod.measure_placements(per_file, n_bootstrap=n_bootstrap, seed=seed)
    results, curves_0 = [m for m, _ in measured], measured[0][1]
    headline_key = "rg_matching" if "rg_matching" in results[0] else "network_peaks"
    bands = placements or [{"shift": float("nan"), "ordered_below": _bands_of(p)[0], "disordered_above": _bands_of(p)[1]}
                           for p in preds]
    base_band = bands[0]["ordered_below"]
    per_placement = []
    for b, res in zip(bands, results, strict=True):
        shift_T = b["ordered_below"] - base_band if math.isfinite(b["ordered_below"]) else float(len(per_placement))
        per_placement.append((shift_T, b, res))
    syst = {}
    for key in results[0]:
        if key not in ("rg_matching", "network_peaks"):
            continue
        pl = [Placement(s, b["ordered_below"], b["disordered_above"], r[key].Tc, r[key].Tc_err, r[key].nu, r[key].nu_err)
              for s, b, r in per_placement if key in r]
        syst[key] = systematics(results[0][key], pl)
    reference = _reference_of(preds[0])
    summary = _summary(results[0], syst, per_placement, headline_key, reference, known_tc_labels)
    out = Path(outdir)
    _write_outputs(out, summary, results[0], curves_0, per_placement, figures, reference)
    return summary


def _data_of(pred, path) -> Path | None:
    """The data file a predictions file names, or the file of that name beside it (a study
    folder that was moved or copied keeps working)."""
    stored = pred.attrs.get("data")
    if not stored:
        return None
    stored = Path(str(np.ravel(stored)[0]) if not isinstance(stored, str) else stored)
    if stored.exists():
        return stored
    beside = Path(path).parent / stored.name
    return beside if beside.exists() else stored


def _reference_of(pred) -> float | None:
    value = pred.attrs.get("Tc_reference")
    try:
        value = float(np.ravel(value)[0])
    except (TypeError, ValueError, IndexError):
        return None
    return value if math.isfinite(value) else None


def _num(x) -> float | None:
    return float(x) if x is not None and math.isfinite(float(x)) else None


def _method_record(m) -> dict[str, Any]:
    e = m.estimate
    return {"Tc": _num(e.Tc), "Tc_err": _num(m.Tc_err), "nu": _num(e.nu), "nu_err": _num(m.nu_err),
            "Tc_err_networks": _num(m.Tc_err_networks), "message": e.message,
            "points": [{"L": [int(v) for v in pair], "T": _num(t), "T_err": _num(te), "nu": _num(n), "nu_err": _num(ne)}
                       for pair, t, te, n, ne in zip(e.pairs, e.T_L, m.T_L_err, e.nu_L, m.nu_L_err, strict=True)]}


def _summary(base: dict, syst: dict, per_placement: list, headline: str, reference: float | None,
             known_tc_labels: bool) -> dict[str, Any]:
    from fieldnet.analysis.tc import METHODS

    m = base[headline]
    s = syst.get(headline)
    method = METHODS[headline] + (" -- networks trained with labels from the KNOWN Tc: a consistency check, not a "
                                  "measurement" if known_tc_labels else "")
    out: dict[str, Any] = {
        "method": method, "headline": headline, "blind": not known_tc_labels,
        "Tc": _num(m.Tc), "Tc_stat": _num(m.Tc_err), "Tc_syst": _num(s.Tc) if s else None,
        "nu": _num(m.nu), "nu_stat": _num(m.nu_err), "nu_syst": _num(s.nu) if s else None,
        "systematics": {k: {"training_range": _num(v.training_range), "sizes": _num(v.sizes),
                            "sensitivity": _num(v.sensitivity), "sensitivity_err": _num(v.sensitivity_err),
                            "nu_training_range": _num(v.nu_training_range), "nu_sizes": _num(v.nu_sizes)}
                        for k, v in syst.items()},
        "sensitivity": _num(s.sensitivity) if s else None,
        "methods": {k: _method_record(v) for k, v in base.items()},
        "placements": [{"band_shift": _num(shift), "shift": _num(b.get("shift")), "ordered_below": _num(b["ordered_below"]),
                        "disordered_above": _num(b["disordered_above"]),
                        **{k: [_num(r[k].Tc), _num(r[k].Tc_err), _num(r[k].nu), _num(r[k].nu_err)]
                           for k in ("rg_matching", "network_peaks") if k in r}}
                       for shift, b, r in per_placement],
        "Tc_reference": reference,
    }
    if reference is not None and out["Tc"] is not None:
        total = math.hypot(out["Tc_stat"] or 0.0, out["Tc_syst"] or 0.0)
        out["Tc_relative_deviation"] = (out["Tc"] - reference) / reference
        out["Tc_reference_covered"] = bool(abs(out["Tc"] - reference) <= total)
    return out


def _write_outputs(out: Path, summary: dict, base: dict, curves: dict, per_placement: list, figures: bool,
                   reference: float | None) -> None:
    from fieldnet.analysis.samples import output_folder, write_json

    output_folder(out)
    write_json(summary, out / "tc.json")
    _write_netcdf(out / "tc.nc", summary, base, curves)
    if not figures:
        return
    from fieldnet.analysis import tc_figures
    from fieldnet.analysis.plots import save

    if "rg_matching" in base:
        save(tc_figures.plot_rg_matching(curves, base["rg_matching"], reference=reference), out / "rg_matching.png")
    if "binder" in base:
        save(tc_figures.plot_binder(curves, base["binder"], reference=reference), out / "binder.png")
    save(tc_figures.plot_fluctuation(curves), out / "fluctuation.png")
    if len(per_placement) > 1:
        save(tc_figures.plot_training_range(summary["placements"], reference=reference), out / "training_range.png")


def _write_netcdf(path: Path, summary: dict, base: dict, curves: dict) -> None:
    """tc.nc: the results as CF-1.10 variables (the headline, every method, the curves)."""
    import xarray as xr

    from fieldnet import __version__
    from fieldnet.analysis.samples import write_netcdf

    temperature_attrs = {"units": "1", "long_name": "temperature in units of J/k_B"}
    Ls = sorted(curves)
    T = curves[Ls[0]].temperature
    ds = xr.Dataset(coords={"L": ("L", np.array(Ls, np.int32), {"long_name": "linear lattice size", "units": "1"}),
                            "temperature": ("temperature", T, temperature_attrs)})

    def scalar(name, value, long_name, units="1"):
        ds[name] = ((), np.nan if value is None else float(value), {"long_name": long_name, "units": units})

    scalar("Tc", summary["Tc"], f"critical temperature ({summary['method']}), in units of J/k_B")
    scalar("Tc_stat", summary["Tc_stat"], "statistical error of Tc (bootstrap over configurations and networks)")
    scalar("Tc_syst", summary["Tc_syst"], "systematic error of Tc (training range and sizes)")
    scalar("nu", summary["nu"], "correlation-length exponent")
    scalar("nu_stat", summary["nu_stat"], "statistical error of nu")
    scalar("nu_syst", summary["nu_syst"], "systematic error of nu")
    scalar("sensitivity", summary["sensitivity"], "dTc / d(shift of the training bands)")
    scalar("Tc_reference", summary["Tc_reference"], "known critical temperature, for comparison only (never used)")
    for key, m in base.items():
        scalar(f"{key}_Tc", m.Tc, f"Tc by {key}")
        scalar(f"{key}_Tc_err", m.Tc_err, f"statistical error of Tc by {key}")
        scalar(f"{key}_nu", m.nu, f"nu by {key}")
        scalar(f"{key}_nu_err", m.nu_err, f"statistical error of nu by {key}")
    curve_vars = {"p_mean": "mean network output <p(ordered)>", "p_var": "variance of the network output",
                  "blocked_mean": "mean network output on configurations coarse-grained by one block step",
                  "binder": "Binder cumulant 1 - <m^4>/(3<m^2>^2)", "susceptibility": "N (<m^2> - <|m|>^2) / T"}
    for name, long_name in curve_vars.items():
        if all(getattr(curves[L], name) is not None for L in Ls):
            ds[name] = (("L", "temperature"), np.stack([getattr(curves[L], name) for L in Ls]),
                        {"long_name": long_name, "units": "1"})
    ds.attrs = {"Conventions": "CF-1.10", "title": "fieldnet critical temperature analysis",
                "fieldnet_format": "tc_analysis", "format_version": TC_FORMAT_VERSION, "fieldnet_version": __version__,
                "history": f"fieldnet analyze tc (fieldnet {__version__})", "method": summary["method"]}
    write_netcdf(ds, path)
