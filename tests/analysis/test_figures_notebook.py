"""Figures as a notebook uses them: every plotting function of the analysis returns a Figure,
draws into the caller's Axes or Figure, leaves the backend and pyplot alone and writes no file.

Each scenario runs in a fresh interpreter (pytest's own process may have imported pyplot), in an
empty working folder, with a backend chosen first as a notebook's ``%matplotlib inline`` does.
"""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

ROOT = Path(__file__).resolve().parents[2]

#: analysis modules whose plotting functions follow the convention of fieldnet.analysis.plots
MODULES = ("confusion", "embedding", "equivariance", "filters", "rg", "saliency", "uncertainty", "tc_figures")


def plot_cases() -> dict[str, tuple]:
    """Plotting function name -> (function, args, kwargs, single_panel), on small inputs made here."""
    from fieldnet.analysis import (
        confusion,
        embedding,
        equivariance,
        filters,
        rg,
        saliency,
        tc_figures,
        uncertainty,
    )
    from fieldnet.analysis.curves import Curves
    from fieldnet.analysis.tc import Estimate, Measurement

    from fieldnet.engine.layers import Conv2d, Dense, Dropout, GlobalAvgPool, MaxPool2d
    from fieldnet.engine.model import Sequential
    from fieldnet.io.importers import from_arrays

    rng = np.random.default_rng(0)
    temps = np.repeat([1.5, 2.0, 2.6, 3.4], 4)
    spins = rng.choice(np.array([-1, 1], np.int8), size=(temps.size, 1, 8, 8))
    ds = from_arrays(spins, temps, Tc=2.269)
    small = from_arrays(spins[:, :, :4, :4], temps, Tc=2.269)
    model = Sequential([Conv2d(4, 3, activation="relu"), MaxPool2d(2), Conv2d(4, 3, activation="relu"),
                        GlobalAvgPool(), Dropout(0.3), Dense(2)], input_shape=(1, 8, 8), seed=0)
    x = spins.astype(np.float32)
    grid = np.linspace(1.2, 3.7, 6)
    curve = xr.DataArray(np.array([1.0, 0.7, 0.9, 0.6, 0.8, 1.0]), dims="proposed_Tc",
                         coords={"proposed_Tc": grid, "stderr": ("proposed_Tc", np.full(6, 0.05)),
                                 "trivial": ("proposed_Tc", np.array([True, False, False, False, False, True]))},
                         attrs={"L": 8})
    kernels = model.layers[0].params["kernel"]
    sim = filters.kernel_similarity(kernels)
    report = equivariance.equivariance_report(model, x[:2], shifts=[(0, 0), (0, 1), (1, 1)])
    flow = rg.rg_flow(ds, b=2)
    t_eff = rg.effective_temperature(flow, {4: small})
    grid = np.linspace(2.0, 2.6, 13)
    step = 1 / (1 + np.exp((grid - 2.27) * 8))
    tc_curves = {L: Curves(L, grid, step, step * (1 - step), -step * (1 - step), blocked_mean=step, blocked_slope=-step,
                           binder=0.3 + 0.3 * step, binder_slope=-step, susceptibility=step * (1 - step) + 0.1,
                           log_m_slope=-step) for L in (4, 8)}
    pair = Measurement(Estimate("rg_matching", np.array([[8, 4]]), np.array([2.27]), np.array([1.0]), 2.27, 1.0),
                       np.array([0.01]), np.array([0.05]), 0.01, 0.05)
    placements = [{"band_shift": s, "rg_matching": [2.27, 0.01], "network_peaks": [2.27 + s / 3, 0.01]} for s in (0.0, 0.1)]
    return {
        "tc_figures.plot_rg_matching": (tc_figures.plot_rg_matching, (tc_curves, pair), {"reference": 2.269}, True),
        "tc_figures.plot_binder": (tc_figures.plot_binder, (tc_curves, pair), {"reference": 2.269}, True),
        "tc_figures.plot_fluctuation": (tc_figures.plot_fluctuation, (tc_curves,), {}, True),
        "tc_figures.plot_training_range": (tc_figures.plot_training_range, (placements,), {"reference": 2.269}, True),
        "confusion.plot_confusion": (confusion.plot_confusion, (curve,), {"peak": (2.3, 0.1), "tc_reference": 2.269}, True),
        "embedding.plot_embedding": (embedding.plot_embedding, (embedding.embedding(model, ds, use_tsne=False),),
                                     {"tc": 2.269}, False),
        "equivariance.plot_translation_maps": (equivariance.plot_translation_maps, (report,), {}, False),
        "equivariance.plot_symmetry_table": (equivariance.plot_symmetry_table, (report,), {}, False),
        "filters.plot_filter_grid": (filters.plot_filter_grid, (kernels, sim), {}, False),
        "filters.plot_similarity": (filters.plot_similarity, (sim,), {}, True),
        "filters.plot_activation_maps": (filters.plot_activation_maps,
                                         (model, {"low": (1.5, x[:1]), "high": (3.4, x[-1:])}), {"max_channels": 2}, False),
        "rg.plot_flow": (rg.plot_flow, (flow, "majority"), {"tc": 2.3}, False),
        "rg.plot_temperature_map": (rg.plot_temperature_map, (t_eff,), {"tc": 2.269}, True),
        "saliency.plot_saliency": (saliency.plot_saliency, (saliency.saliency_maps(model, ds.isel(sample=[0, -1])),),
                                   {}, False),
        "uncertainty.plot_uncertainty": (uncertainty.plot_uncertainty, (uncertainty.mc_dropout(model, ds, n_passes=3),),
                                         {"tc": 2.269}, False),
    }


def run_scenario(scenario: str) -> dict:
    """In this (fresh) process: choose a backend as a notebook does, plot everything, report."""
    import matplotlib

    matplotlib.use("svg")  # stands in for the notebook's inline backend: anything but fieldnet's choice
    user_pyplot = scenario == "pyplot"
    if user_pyplot:
        import matplotlib.pyplot as plt

        _, user_axes = plt.subplots(1, 2)
        open_before = plt.get_fignums()
    from matplotlib.figure import Figure, SubFigure

    cases = plot_cases()
    returned, into_caller = {}, {}
    for name, (fn, args, kwargs, single) in cases.items():
        fig = fn(*args, **kwargs)
        returned[name] = isinstance(fig, Figure)
        if single:
            host = user_axes[1] if user_pyplot else Figure().subplots()
            into_caller[name] = fn(*args, **kwargs, ax=host) is host.figure and len(host.lines + host.images) > 0
        else:
            host = Figure().subfigures(1, 2)[1]  # the right half of a figure of the caller's
            out = fn(*args, **kwargs, fig=host)
            into_caller[name] = out is host and isinstance(out, SubFigure) and len(host.axes) > 0
    report = {"backend": matplotlib.rcParams["backend"], "returned": returned, "into_caller": into_caller,
              "files": sorted(p.name for p in Path.cwd().iterdir()),
              "pyplot_imported": "matplotlib.pyplot" in sys.modules}
    if user_pyplot:
        report["fignums_unchanged"] = plt.get_fignums() == open_before
        report["user_axes_drawn"] = len(user_axes[1].lines + user_axes[1].images) > 0
    return report


_SCRIPT = """
import json, sys
sys.path.insert(0, {root!r})
from tests.analysis.test_figures_notebook import run_scenario
print("REPORT " + json.dumps(run_scenario({scenario!r})))
"""


@pytest.mark.parametrize("scenario", ["no pyplot", "pyplot"])
def test_every_plot_returns_a_figure_and_leaves_the_notebook_alone(scenario, tmp_path):
    res = subprocess.run([sys.executable, "-c", _SCRIPT.format(root=str(ROOT), scenario=scenario)],
                         cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    report = json.loads(next(ln for ln in res.stdout.splitlines() if ln.startswith("REPORT "))[7:])
    assert report["backend"] == "svg"
    assert report["files"] == []
    assert all(report["returned"].values()) and len(report["returned"]) == 15, report["returned"]
    assert all(report["into_caller"].values()), report["into_caller"]
    assert report["pyplot_imported"] is (scenario == "pyplot")
    if scenario == "pyplot":
        assert report["fignums_unchanged"] and report["user_axes_drawn"]


def test_every_plotting_function_is_covered_and_has_no_path_argument():
    from importlib import import_module

    cases = plot_cases()
    for module in MODULES:
        mod = import_module(f"fieldnet.analysis.{module}")
        for name, fn in inspect.getmembers(mod, inspect.isfunction):
            if name.startswith("plot_") and fn.__module__ == mod.__name__:
                assert f"{module}.{name}" in cases, f"{module}.{name} has no notebook test case"
                params = inspect.signature(fn).parameters
                assert "path" not in params, f"{module}.{name} still takes a path"
                assert ("ax" in params) != ("fig" in params), f"{module}.{name} takes neither ax= nor fig="
