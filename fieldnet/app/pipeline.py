"""``fieldnet pipeline``: simulate -> train -> predict -> Tc and nu -> report, resumable by stage.

The work folder holds one file per stage: ``data.h5`` (simulate), the networks (train:
``model_L16.h5`` per size, ``model_L16_net2.h5`` for the second network of an ensemble,
``model.h5`` for one size-agnostic network), ``predictions.nc`` (predict: the ensemble's mean and
each network's probabilities), ``tc/`` (analysis) and the report (``summary.json``,
``report.md``, PNG figures).  A stage whose output exists is skipped on ``--resume``; an
interrupted stage continues from its own partial file (the simulation's points, the training's
epoch checkpoint), so a resumed pipeline gives the same result as an uninterrupted one.

For models whose critical temperature is not known to the program (labels -1, e.g. XY), the
supervised stages are replaced by learning by confusion on the largest lattice.
"""

from __future__ import annotations

import json
import os
import time
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from fieldnet.errors import FieldnetError

SECTIONS = {
    "simulate": {"model", "params", "L", "T", "samples", "algorithm", "seed", "lattice"},
    "train": {"preset", "per_size", "ensemble", "architecture", "epochs", "batch_size", "optimizer", "lr", "schedule", "val_fraction",
              "patience", "exclude_T", "augment", "seed"},
    "analysis": {"bootstrap", "collapse_bootstrap", "collapse_of", "nu", "confusion_repeats"},
}


def default_config_text() -> str:
    """The built-in default configuration (TOML text)."""
    return resources.files("fieldnet.app").joinpath("pipeline_default.toml").read_text()


@dataclass
class PipelineConfig:
    simulate: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    analysis: dict[str, Any] = field(default_factory=dict)


def load_config(path: str | os.PathLike | None) -> PipelineConfig:
    """The default configuration, updated by a TOML file's sections when ``path`` is given.

    Unknown sections or keys are refused (a typo must not silently fall back to a default).
    """
    base = tomllib.loads(default_config_text())
    if path is not None:
        p = Path(path)
        try:
            user = tomllib.loads(p.read_text())
        except OSError as exc:
            raise FieldnetError(f"cannot read config {p}: {exc.strerror or exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise FieldnetError(f"config {p} is not valid TOML: {exc}") from None
        for section, values in user.items():
            if section not in SECTIONS or not isinstance(values, dict):
                raise FieldnetError(f"config {p}: unknown section [{section}]; sections are {', '.join(SECTIONS)}")
            unknown = sorted(set(values) - SECTIONS[section])
            if unknown:
                raise FieldnetError(f"config {p}: unknown key(s) {unknown} in [{section}]; known: {sorted(SECTIONS[section])}")
            if section == "simulate" and "model" in values and values["model"] != base["simulate"]["model"]:
                base["simulate"]["params"] = {}  # the default couplings belong to the default model
            base[section].update(values)
    config = PipelineConfig(**{k: dict(base.get(k, {})) for k in SECTIONS})
    if config.train.get("exclude_T") == "auto":
        config.train["exclude_T"] = auto_critical_window(config.simulate)
    elif isinstance(config.train.get("exclude_T"), str):  # one window given without the list brackets
        config.train["exclude_T"] = [config.train["exclude_T"]]
    # settings used only in later stages are checked now, before minutes of simulation
    _ensemble_size(config.train.get("ensemble", 1))
    _nu_setting(config.analysis.get("nu", "exact"), config.simulate)
    from fieldnet.analysis.fss import COLLAPSE_OF

    if config.analysis.get("collapse_of", "decisions") not in COLLAPSE_OF:
        raise FieldnetError(f"[analysis] collapse_of must be one of {', '.join(COLLAPSE_OF)}, "
                            f"got {config.analysis.get('collapse_of')!r}")
    return config


#: ``exclude_T = "auto"`` holds out these fractions of the model's Tc (2D Ising: 2.18 to 2.37)
AUTO_WINDOW = (0.96, 1.045)


def auto_critical_window(simulate: dict) -> list[str]:
    """The critical window kept out of training for ``exclude_T = "auto"``: 0.96 Tc to 1.045 Tc of
    the configured model and couplings; none when the model has no known Tc (the pipeline then
    uses learning by confusion, which trains on no labels).

    Raises:
        FieldnetError: the model or its couplings are unknown (named in the message).
    """
    from fieldnet.simulations.registry import get_model

    params = dict(simulate.get("params", {}))
    if simulate.get("lattice"):
        params["lattice"] = simulate["lattice"]
    tc = get_model(simulate.get("model", "ising2d"), **params).critical_temperature()
    if tc is None or not tc > 0:
        return []
    lo, hi = AUTO_WINDOW
    return [f"{lo * tc:.4g}:{hi * tc:.4g}"]


def _temperatures(spec) -> list[float]:
    from fieldnet.simulations.grids import parse_temperatures

    tokens = [spec] if isinstance(spec, str) else [str(t) for t in spec]
    return [float(t) for t in parse_temperatures(tokens)]


def run_pipeline(config: PipelineConfig, outdir: str | os.PathLike, *, resume: bool = False, overwrite: bool = False,
                 progress: bool = True, log=print) -> dict:
    """Run every stage into ``outdir`` and return the summary (also written as summary.json)."""
    out = Path(outdir)
    if out.exists() and not out.is_dir():
        raise FieldnetError(f"{out} exists and is not a folder; choose another -o")
    if out.exists() and any(out.iterdir()) and not (resume or overwrite):
        raise FieldnetError(f"{out} already holds a pipeline run; pass --resume to continue it or --overwrite to start afresh")
    if overwrite and out.exists():
        # every stage's output and partial file (the per-L and ensemble models too)
        stale = [out / name for name in ("data.h5", "data.h5.partial", "predictions.nc", "summary.json")]
        for path in stale + sorted(out.glob("model*.h5")) + sorted(out.glob("model*.h5*.partial")):
            path.unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    sim = config.simulate

    t0 = time.perf_counter()
    data = out / "data.h5"
    if not data.exists():
        from fieldnet.simulations.campaign import run_campaign
        from fieldnet.simulations.grids import parse_sizes

        log(f"[1/4] simulate {sim['model']} L={sim['L']} ({len(_temperatures(sim['T']))} temperatures x {sim['samples']} samples)")
        params = dict(sim.get("params", {}))
        if sim.get("lattice"):
            params["lattice"] = sim["lattice"]
        run_campaign(sim["model"], params, parse_sizes(sim["L"]), _temperatures(sim["T"]), int(sim["samples"]),
                     algorithm=sim.get("algorithm", "auto"), seed=int(sim.get("seed", 0)), output=data,
                     resume=True, progress=progress, command="fieldnet pipeline")
    else:
        log(f"[1/4] simulate: {data} exists, skipped")
    timings["simulate"] = time.perf_counter() - t0

    from fieldnet.training.batches import read_index

    index = read_index(data)
    labelled = all((lat.label >= 0).all() for lat in index.lattices)
    if labelled:
        summary = _supervised(config, out, data, index, timings, progress, log)
    else:
        summary = _confusion(config, out, data, index, timings, log)
    summary["timings_seconds"] = {k: round(v, 2) for k, v in timings.items()}
    summary["config"] = {"simulate": sim, "train": config.train, "analysis": config.analysis}
    from fieldnet.app.report import write_report

    write_report(out, summary, data=data)
    return summary


def _supervised(config, out: Path, data: Path, index, timings, progress, log) -> dict:
    from fieldnet.analysis.fss import analyze_tc
    from fieldnet.analysis.tc import load_predictions
    from fieldnet.engine.saving import load_model
    from fieldnet.io.predictions import write_predictions
    from fieldnet.training.batches import parse_window
    from fieldnet.training.config import TrainConfig
    from fieldnet.training.predict import predict_ensemble
    from fieldnet.training.presets import SIZE_AGNOSTIC
    from fieldnet.training.trainer import train

    tr = config.train
    preset = tr.get("preset", "r1")
    sizes = [lat.L for lat in index.lattices]
    # one network per L (Carrasquilla-Melko), or one size-agnostic network for every L
    per_size = bool(tr.get("per_size", preset not in SIZE_AGNOSTIC and not tr.get("architecture")))
    n_networks = _ensemble_size(tr.get("ensemble", 1))
    targets = ensemble_model_paths(out, sizes if per_size else [None], n_networks)
    seed = int(tr.get("seed", 0))
    t0 = time.perf_counter()
    for (L, k), model_path in targets.items():
        if model_path.exists():
            log(f"[2/4] train: {model_path} exists, skipped")
            continue
        what = f"L={L}" if L is not None else f"L={sizes}"
        member = f" (network {k + 1} of {n_networks}, seed {seed + k})" if n_networks > 1 else ""
        log(f"[2/4] train {preset} on {what}{member} for {tr.get('epochs')} epochs, excluding T in {tr.get('exclude_T')}")
        cfg = TrainConfig(
            preset=preset, architecture=tr.get("architecture"), epochs=int(tr.get("epochs", 8)),
            batch_size=int(tr.get("batch_size", 64)), optimizer=tr.get("optimizer", "sgd"), lr=float(tr.get("lr", 0.01)),
            schedule=tr.get("schedule", "cosine"), val_fraction=float(tr.get("val_fraction", 0.1)),
            patience=int(tr.get("patience", 4)), exclude_T=[parse_window(w) for w in tr.get("exclude_T", [])],
            augment=bool(tr.get("augment", True)), seed=seed + k, sizes=None if L is None else [L],
        )
        train(data, model_path, cfg, resume=True, progress=progress, command="fieldnet pipeline",
              log=lambda line: log("      " + line))
    timings["train"] = time.perf_counter() - t0
    models = {key: load_model(path) for key, path in targets.items()}  # for the predictions and the report
    for key, path in targets.items():
        models[key].attrs["source_path"] = str(path)

    t0 = time.perf_counter()
    pred_path = out / "predictions.nc"
    if not pred_path.exists():
        import xarray as xr

        log("[3/4] predict every configuration" + (f" with each of the {n_networks} networks" if n_networks > 1 else ""))
        parts = []
        for L in (sizes if per_size else [None]):
            ensemble = [models[L, k] for k in range(n_networks)]
            parts.append(predict_ensemble(ensemble, data, sizes=None if L is None else [L]))
        pred = parts[0] if len(parts) == 1 else xr.concat(parts, "sample", combine_attrs="override")
        write_predictions(pred, pred_path)
    else:
        log(f"[3/4] predict: {pred_path} exists, skipped")
    timings["predict"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    log("[4/4] Tc(L) crossings, finite-size scaling and data collapse")
    an = config.analysis
    pred = load_predictions(pred_path)
    pred.attrs["source_path"] = str(pred_path)
    result = analyze_tc(pred, out / "tc", nu=_nu_setting(an.get("nu", "exact"), config.simulate), n_bootstrap=int(an.get("bootstrap", 400)),
                        collapse_bootstrap=int(an.get("collapse_bootstrap", 50)),
                        collapse_of=an.get("collapse_of", "decisions"), seed=0, figures=True)
    timings["analysis"] = time.perf_counter() - t0

    def name(L, k):
        return ("all" if L is None else f"L={L}") + (f" net {k + 1}" if n_networks > 1 else "")

    histories = {name(L, k): m.history for (L, k), m in models.items()}
    return {"method": "supervised", "tc": result, "training": histories, "per_size": per_size, "n_networks": n_networks,
            "model_summary": next(iter(models.values())).summary(), "Tc_reference": result.get("Tc_reference"),
            "nu_reference": _nu_setting("exact", config.simulate)}


def ensemble_model_paths(out: Path, sizes: list, n_networks: int) -> dict[tuple, Path]:
    """The model files of the training stage, keyed by (L, network): ``model_L16.h5`` (one network
    per L), ``model.h5`` (one for every L, key L = None); with an ensemble ``model_L16_net2.h5``."""
    paths = {}
    for L in sizes:
        stem = "model" if L is None else f"model_L{L}"
        for k in range(n_networks):
            paths[L, k] = out / (f"{stem}.h5" if n_networks == 1 else f"{stem}_net{k + 1}.h5")
    return paths


def _ensemble_size(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise FieldnetError(f"[train] ensemble must be a whole number of networks >= 1, got {value!r}")
    return value


#: correlation-length exponents known exactly or to high precision (for the Tc(L) extrapolation)
KNOWN_NU = {"ising2d": 1.0, "ising3d": 0.62997, "potts": {2: 1.0, 3: 5 / 6, 4: 2 / 3}}


def _nu_setting(value, simulate: dict) -> float | None:
    """The nu to fix in the extrapolation: a number, "fit" (None), or "exact" (the model's known
    exponent, or None -- fitted -- when there is none)."""
    if value == "fit":
        return None
    if value == "exact":
        known = KNOWN_NU.get(simulate.get("model"))
        if isinstance(known, dict):
            known = known.get(int(simulate.get("params", {}).get("q", 3)))
        if simulate.get("params", {}).get("h", 0):
            return None
        return known
    try:
        nu = float(value)
    except (TypeError, ValueError):
        raise FieldnetError(f"[analysis] nu must be a number, \"exact\" or \"fit\", got {value!r}") from None
    if not nu > 0:
        raise FieldnetError(f"[analysis] nu must be positive, got {nu}")
    return nu


def _confusion(config, out: Path, data: Path, index, timings, log) -> dict:
    import numpy as np

    from fieldnet.analysis import plots
    from fieldnet.analysis.confusion import confusion_curve, peak_estimate, plot_confusion

    t0 = time.perf_counter()
    L = max(lat.L for lat in index.lattices)
    log(f"[2/4] no phase labels (no known Tc): learning by confusion on L={L}")
    repeats = int(config.analysis.get("confusion_repeats", 2))
    curve = confusion_curve(data, L=L, seed=int(config.train.get("seed", 0)), n_repeats=repeats)
    try:
        tc, err = peak_estimate(curve)
        peak_error = None
    except FieldnetError as exc:  # no clear central peak: the curve is still worth reporting
        tc = err = float("nan")
        peak_error = str(exc)
        log(f"      {exc}")
    (out / "tc").mkdir(exist_ok=True)
    ref, ref_name = _reference_temperature(index.attrs.get("groups", {}).get(L, {}))
    plots.save(plot_confusion(curve, peak=(tc, err) if np.isfinite(tc) else None, tc_reference=ref),
               out / "tc" / "confusion.png")
    timings["confusion"] = time.perf_counter() - t0

    def num(x):
        return float(x) if x is not None and np.isfinite(x) else None

    result = {"Tc_inf": num(tc), "Tc_inf_err": num(err), "Tc_reference": num(ref), "Tc_reference_name": ref_name,
              "peak_error": peak_error, "L": L, "accuracy": curve.values.tolist(),
              "proposed_Tc": curve["proposed_Tc"].values.tolist()}
    return {"method": "confusion", "tc": result, "Tc_reference": result["Tc_reference"]}


def _reference_temperature(group_attrs: dict) -> tuple[float | None, str | None]:
    """A known transition temperature of the data's model: the exact Tc, else a literature value
    such as the XY model's T_KT (the group attribute names the source)."""
    import numpy as np

    for key, name in (("Tc", "Tc"), ("Tc_reference", "Tc"), ("T_KT_reference", "T_KT")):
        try:
            value = float(np.ravel(group_attrs.get(key, np.nan))[0])
        except (TypeError, ValueError, IndexError):
            continue
        if np.isfinite(value):
            return value, name
    return None, None


def summary_json(summary: dict) -> str:
    return json.dumps(summary, indent=2, default=float) + "\n"
