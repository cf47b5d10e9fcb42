"""``fieldnet pipeline``: a blind measurement of Tc and nu, resumable stage by stage.

Stages and the files they write in the work folder:

1. **scan** (``scan.h5``): every size over the wide temperature range ``[simulate] T``.
2. **locate**: the transition region from the scan's susceptibility, specific heat and Binder
   crossing (:mod:`fieldnet.analysis.locate`); no known Tc is read.
3. **measure** (``measure.h5``): every size on ``zoom_points`` temperatures across that region,
   with another seed -- configurations no network is trained on.
4. **train** (``model_p<i>_net<k>.h5``): for each training-range placement i (``[train] shifts``),
   an ensemble of networks trained on the scan's configurations labelled by temperature bands
   deep in each phase (the lowest and highest ``bands`` of the scan's range, shifted).
5. **predict** (``predictions_p<i>.nc``): each placement's ensemble on the measurement's
   configurations, and on the same configurations coarse-grained by one block step of size
   ``[analysis] block``.
6. **analyse** (``tc/``): RG matching of the network output, the Binder baseline, and the
   systematic errors from the placements and the sizes (:mod:`fieldnet.analysis.tc`,
   :mod:`fieldnet.analysis.systematics`).
7. **report** (``summary.json``, ``report.md``, figures).

Resume is bound to the settings: each stage records the settings and inputs it depends on in
``stages.json``; ``--resume`` with a changed setting is refused, naming what changed (finishing
a run with other settings would mix two studies), and a stage whose record matches is skipped.
An interrupted stage continues from its own partial file, so a resumed pipeline gives the same
result as an uninterrupted one.

With ``[analysis] method = "confusion"`` (transitions without an order parameter, such as the
XY model's) the network stages are replaced by learning by confusion on the largest lattice.

Where the work runs is the executor's business (:mod:`fieldnet.app.executors`): the campaigns'
temperature points, each network (placement x ensemble member) and each placement's prediction
are independent tasks, run here one after the other or on a Dask cluster (``--workers N``,
``--scheduler ADDRESS``).  The tasks read and write their files in the work folder; this process
alone writes the data files (one writer per campaign) and the stage records, taking the results
in task order, so a distributed run writes what a serial one does, record for record.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fieldnet.app.pipeline_config import PipelineConfig
from fieldnet.errors import FieldnetError

STAGES_FILE = "stages.json"


# -- config-bound resume -----------------------------------------------------------------------------


def _fingerprint(settings: dict) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]


class StageRecords:
    """The settings each finished stage was run with (``stages.json`` in the work folder)."""

    def __init__(self, folder: Path):
        self.path = folder / STAGES_FILE
        self.records: dict[str, dict] = json.loads(self.path.read_text()) if self.path.exists() else {}

    def check(self, stage: str, settings: dict) -> bool:
        """True when ``stage`` finished with these settings; FieldnetError when it finished with
        others; False when it has not finished."""
        old = self.records.get(stage)
        if old is None:
            return False
        if old["fingerprint"] == _fingerprint(settings):
            return True
        changed = sorted(k for k in set(old["settings"]) | set(settings)
                         if json.dumps(old["settings"].get(k), default=str) != json.dumps(settings.get(k), default=str))
        raise FieldnetError(f"the {stage} stage in {self.path.parent} was run with other settings ({', '.join(changed)} "
                            "changed); rerun with --overwrite to start afresh, or with the config it was started with")

    def check_config(self, config: dict) -> None:
        """Refuse at once (before any stage) to resume a run started with other settings, naming
        each changed ``[section] key``; record the settings of a new run."""
        old = self.records.get("config")
        if old is None:
            self.done("config", config)
            return

        def text(section, key, settings):
            return json.dumps(settings.get(section, {}).get(key), default=str)

        was = old["settings"]
        changed = [f"[{section}] {key}: {text(section, key, was)} -> {text(section, key, config)}"
                   for section in config for key in sorted(set(was.get(section, {})) | set(config[section]))
                   if text(section, key, was) != text(section, key, config)]
        if changed:
            raise FieldnetError(f"{self.path.parent} holds a run started with other settings ({'; '.join(changed)}); "
                                "resume it with the config it was started with, or rerun with --overwrite")

    def done(self, stage: str, settings: dict) -> None:
        from fieldnet.io.atomic import atomic_output

        self.records[stage] = {"fingerprint": _fingerprint(settings), "settings": settings}
        with atomic_output(self.path) as tmp:
            tmp.write_text(json.dumps(self.records, indent=1, default=str) + "\n")


# -- the stages -----------------------------------------------------------------------------------


def _temperatures(spec) -> list[float]:
    from fieldnet.simulations.grids import parse_temperatures

    tokens = [spec] if isinstance(spec, str) else [str(t) for t in spec]
    return [float(t) for t in parse_temperatures(tokens)]


def _model_params(sim: dict) -> dict:
    params = dict(sim.get("params", {}))
    if sim.get("lattice"):
        params["lattice"] = sim["lattice"]
    return params


def _simulate(sim: dict, temperatures: list[float], samples: int, seed: int, output: Path, progress: bool,
              executor) -> None:
    from fieldnet.simulations.campaign import run_campaign

    run_campaign(sim["model"], _model_params(sim), sim["L"], temperatures, samples, algorithm=sim["algorithm"],
                 seed=seed, output=output, resume=True, overwrite=True, progress=progress, command="fieldnet pipeline",
                 map_points=executor.map_points)


def _scan_arrays(path: Path) -> list[tuple[int, int, np.ndarray, np.ndarray, np.ndarray | None]]:
    """(L, sites, T, energy per site, magnetisation per site) of every size of a data file."""
    import h5py

    out = []
    with h5py.File(path, "r") as f:
        for name in sorted(f, key=lambda n: int(n[1:]) if n[1:].isdigit() else 0):
            g = f[name]
            if "config" not in g:
                continue
            m = np.asarray(g["magnetization"][()], np.float64) if "magnetization" in g else None
            out.append((int(name[1:]), int(np.prod(g["config"].shape[2:])), np.asarray(g["temperature"][()], np.float64),
                        np.asarray(g["energy"][()], np.float64), m))
    return out


@dataclass(frozen=True)
class PlacementBands:
    """A training-range placement: its shift (fraction of the scan's width) and bands (J/k_B)."""

    index: int
    shift: float
    ordered_below: float
    disordered_above: float


def placements(config: PipelineConfig, scan_temperatures: list[float]) -> list[PlacementBands]:
    """The training ranges: bands at the ends of the scan, shifted by each of ``[train] shifts``."""
    lo, hi = min(scan_temperatures), max(scan_temperatures)
    width = hi - lo
    f = config.train["bands"]
    return [PlacementBands(i, float(s), lo + (f + s) * width, hi - (f - s) * width)
            for i, s in enumerate(config.train["shifts"])]


def _model_path(out: Path, p: int, k: int) -> Path:
    return out / f"model_p{p}_net{k + 1}.h5"


def run_pipeline(config: PipelineConfig, outdir: str | os.PathLike, *, resume: bool = False, overwrite: bool = False,
                 progress: bool = True, log=print, executor=None) -> dict:
    """Run every stage into ``outdir`` and return the summary (also written as summary.json).

    ``executor`` runs the simulation points, the trainings and the predictions
    (:mod:`fieldnet.app.executors`; default: in this process, one after the other).  The work
    folder is used by its absolute path, which is what tasks on other machines need and what the
    files record, however ``outdir`` was given.
    """
    from fieldnet.app.executors import SerialExecutor

    executor = executor or SerialExecutor()
    out = _work_folder(Path(outdir).resolve(), resume, overwrite)
    executor.check_shared(out)
    records = StageRecords(out)
    records.check_config({"simulate": config.simulate, "train": config.train, "analysis": config.analysis})
    timings: dict[str, float] = {}
    sim, tr, an = config.simulate, config.train, config.analysis
    scan_T = _temperatures(sim["T"])
    seed = int(sim["seed"])

    t0 = time.perf_counter()
    scan = out / "scan.h5"
    scan_settings = {k: sim[k] for k in ("model", "params", "L", "T", "scan_samples", "algorithm", "seed")} | {
        "lattice": sim.get("lattice")}
    if records.check("scan", scan_settings) and scan.exists():
        log(f"[1/6] scan: {scan} exists, skipped")
    else:
        log(f"[1/6] scan {sim['model']} L={sim['L']}: {len(scan_T)} temperatures x {sim['scan_samples']} samples")
        _simulate(sim, scan_T, int(sim["scan_samples"]), seed, scan, progress, executor)
        records.done("scan", scan_settings)
    timings["scan"] = time.perf_counter() - t0

    if an["method"] == "confusion":
        summary = _confusion(config, out, scan, timings, log)
    else:
        summary = _blind(config, out, records, scan, scan_T, scan_settings, timings, executor, progress, log)
    summary["timings_seconds"] = {k: round(v, 2) for k, v in timings.items()}
    summary["config"] = {"simulate": sim, "train": tr, "analysis": an}
    from fieldnet.app.report import write_report

    write_report(out, summary)
    return summary


def _work_folder(out: Path, resume: bool, overwrite: bool) -> Path:
    if out.exists() and not out.is_dir():
        raise FieldnetError(f"{out} exists and is not a folder; choose another -o")
    if out.exists() and any(out.iterdir()) and not (resume or overwrite):
        raise FieldnetError(f"{out} already holds a pipeline run; pass --resume to continue it or --overwrite to start afresh")
    parent = next((p for p in (out, *out.parents) if p.exists()), Path("."))
    if not os.access(parent, os.W_OK | os.X_OK):
        raise FieldnetError(f"cannot write {out}: folder {parent} is not writable; choose another -o")
    if overwrite and out.exists():
        for pattern in ("*.h5", "*.h5.partial", "*.h5*.partial", "*.nc", STAGES_FILE, "summary.json", "report.md"):
            for path in out.glob(pattern):
                path.unlink(missing_ok=True)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FieldnetError(f"cannot write {out}: {exc.strerror or exc}; choose another -o") from None
    return out


def _blind(config: PipelineConfig, out: Path, records: StageRecords, scan: Path, scan_T: list[float],
           scan_settings: dict, timings: dict, executor, progress: bool, log) -> dict:
    from fieldnet.analysis.locate import transition_window

    sim, tr, an = config.simulate, config.train, config.analysis
    t0 = time.perf_counter()
    window = transition_window(_scan_arrays(scan), margin=float(sim["zoom_margin"]))
    grid = [round(float(t), 6) for t in window.grid(int(sim["zoom_points"]))]
    marks = ", ".join(f"{k} {v:.3f}" for k, v in window.markers.items())
    log(f"[2/6] transition region from the scan: {window.low:.3f}..{window.high:.3f} ({marks})")
    measure = out / "measure.h5"
    measure_settings = {"scan": scan_settings, "samples": sim["samples"], "zoom_points": sim["zoom_points"],
                        "zoom_margin": sim["zoom_margin"], "grid": grid}
    if records.check("measure", measure_settings) and measure.exists():
        log(f"[3/6] measure: {measure} exists, skipped")
    else:
        log(f"[3/6] measure L={sim['L']}: {len(grid)} temperatures x {sim['samples']} samples (seed {int(sim['seed']) + 1})")
        _simulate(sim, grid, int(sim["samples"]), int(sim["seed"]) + 1, measure, progress, executor)
        records.done("measure", measure_settings)
    timings["simulate"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    bands = placements(config, scan_T)
    known_tc = tr["labels"] == "known-tc"
    if known_tc:
        bands = bands[:1]
    ensembles = _train_all(config, out, records, scan, scan_settings, bands, known_tc, executor, progress, log)
    timings["train"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    predictions, pending = [], []
    for placement, models in zip(bands, ensembles, strict=True):
        path = out / f"predictions_p{placement.index}.nc"
        settings = {"models": [m.attrs.get("fingerprint") for m in models], "measure": measure_settings,
                    "block": an["block"]}
        files = tuple(str(_model_path(out, placement.index, k)) for k in range(len(models)))
        task = PredictTask(files, str(measure), str(path), int(an["block"]))
        done = records.check(f"predict p{placement.index}", settings) and path.exists()
        pending.append((placement, path, settings, None if done else task))
        predictions.append(path)
    with contextlib.closing(executor.map(predict_placement, [t for *_, t in pending if t is not None])) as results:
        for placement, path, settings, task in pending:
            if task is None:
                log(f"[5/6] predict: {path} exists, skipped")
                continue
            log(f"[5/6] predict placement {placement.index}: the measurement, plain and coarse-grained by {an['block']}")
            next(results)
            records.done(f"predict p{placement.index}", settings)
    timings["predict"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    log("[6/6] RG matching of the network output, Binder baseline, systematics")
    from fieldnet.app.tc_study import analyse_study

    summary = analyse_study(predictions, [asdict(b) for b in bands], measure, out / "tc",
                            n_bootstrap=an.get("bootstrap"), known_tc_labels=known_tc)
    summary["window"] = {"scan": [min(scan_T), max(scan_T)], "measurement": [window.low, window.high],
                         "markers": window.markers}
    summary["reference"] = _reference(sim)
    timings["analysis"] = time.perf_counter() - t0
    summary["training"] = {f"placement {b.index} net 1": ens[0].history for b, ens in zip(bands, ensembles, strict=True)}
    summary["model_summary"] = ensembles[0][0].summary()
    return summary


def _train_all(config: PipelineConfig, out: Path, records: StageRecords, scan: Path, scan_settings: dict,
               bands: list[PlacementBands], known_tc: bool, executor, progress: bool, log) -> list[list]:
    """Each placement's ensemble, trained (or reused when its record matches): every network
    still to train is a task of ``executor``; the records are written in network order."""
    from fieldnet.app.executors import TrainTask, train_network
    from fieldnet.engine.saving import load_model

    tr = config.train
    K = int(tr["ensemble"])
    seed = int(tr["seed"])
    networks = []  # (placement, k, model file, stage settings, task or None when the record matches)
    for b in bands:
        for k in range(K):
            path = _model_path(out, b.index, k)
            run = {"seed": seed + k} if known_tc else {"seed": seed + k, "ordered_below": b.ordered_below,
                                                        "disordered_above": b.disordered_above}
            cfg = config.train_config(**run)
            settings = {"train": cfg.resolved().as_json(), "scan": scan_settings}
            done = records.check(f"train {path.name}", settings) and path.exists()
            task = TrainTask(str(scan), str(path), cfg, "fieldnet pipeline", progress=progress and executor.in_process)
            networks.append((b, k, path, settings, None if done else task))
    tasks = [t for *_, t in networks if t is not None]
    if tasks and not executor.in_process:
        log(f"[4/6] train: {len(tasks)} networks submitted as tasks; each is reported when it and those before it are done")
    function = functools.partial(train_network, log=lambda line: log("      " + line)) if executor.in_process \
        else train_network
    with contextlib.closing(executor.map(function, tasks)) as results:
        for b, k, path, settings, task in networks:
            if task is None:
                log(f"[4/6] train: {path} exists, skipped")
                continue
            what = "labels from the known Tc" if known_tc else \
                f"ordered T <= {b.ordered_below:.3f}, disordered T >= {b.disordered_above:.3f}"
            log(f"[4/6] train placement {b.index} (shift {b.shift:+g}), network {k + 1} of {K}: {what}")
            for line in next(results):
                log("      " + line)
            records.done(f"train {path.name}", settings)
    ensembles = [[] for _ in bands]
    for i, (_, _, path, settings, _) in enumerate(networks):
        model = load_model(path)
        model.attrs["fingerprint"] = _fingerprint(settings)
        ensembles[i // K].append(model)
    return ensembles


@dataclass(frozen=True)
class PredictTask:
    """One placement's predictions: its ensemble's model files, the measurement, the output."""

    models: tuple[str, ...]
    data: str
    output: str
    block: int

    @property
    def name(self) -> str:
        return Path(self.output).name


def predict_placement(task: PredictTask) -> str:
    """Write one placement's predictions (:func:`fieldnet.app.predictions.write_ensemble_predictions`),
    plain and coarse-grained by ``block``; returns the output path."""
    from fieldnet.app.predictions import write_ensemble_predictions
    from fieldnet.engine.saving import load_model

    models = [load_model(path) for path in task.models]
    return str(write_ensemble_predictions(models, task.data, task.output, block=task.block))


def _reference(sim: dict) -> dict[str, Any]:
    """The model's known Tc and nu with their sources, printed beside the estimate (never used)."""
    from fieldnet.simulations.registry import get_model

    model = get_model(sim["model"], **_model_params(sim))
    tc = model.critical_temperature()
    ref: dict[str, Any] = {"Tc": tc, "Tc_source": getattr(model, "tc_source", None) if tc is not None else None}
    nu_reference = getattr(model, "nu_reference", None)
    if callable(nu_reference):
        ref["nu"] = nu_reference()
        ref["nu_source"] = getattr(model, "nu_source", None)
    return ref


def _confusion(config: PipelineConfig, out: Path, data: Path, timings: dict, log) -> dict:
    from fieldnet.analysis.confusion import confusion_curve, peak_estimate, plot_confusion
    from fieldnet.analysis.plots import save
    from fieldnet.training.batches import read_index

    t0 = time.perf_counter()
    index = read_index(data)
    L = max(lat.L for lat in index.lattices)
    log(f"[2/2] learning by confusion on L={L} of the scan")
    repeats = int(config.analysis.get("confusion_repeats", 2))
    curve = confusion_curve(data, L=L, seed=int(config.train["seed"]), n_repeats=repeats)
    try:
        tc, err = peak_estimate(curve)
        peak_error = None
    except FieldnetError as exc:  # no clear central peak: the curve is still worth reporting
        tc = err = float("nan")
        peak_error = str(exc)
        log(f"      {exc}")
    (out / "tc").mkdir(exist_ok=True)
    reference = _reference(config.simulate)
    figure = plot_confusion(curve, peak=(tc, err) if np.isfinite(tc) else None)
    save(figure, out / "tc" / "confusion.png")
    timings["confusion"] = time.perf_counter() - t0

    def num(x):
        return float(x) if x is not None and np.isfinite(x) else None

    return {"method": "learning by confusion (peak of the W curve)", "Tc": num(tc), "Tc_stat": num(err), "Tc_syst": None,
            "nu": None, "peak_error": peak_error, "L": L, "reference": reference,
            "confusion": {"accuracy": curve.values.tolist(), "proposed_Tc": curve["proposed_Tc"].values.tolist()}}
