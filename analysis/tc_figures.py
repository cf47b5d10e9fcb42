"""Figures of the Tc analysis.  Each function draws on ``ax`` when given (single panel) or makes
a new figure, and returns the Figure; none writes a file or touches the backend."""

from __future__ import annotations

import numpy as np
from fieldnet.analysis import plots
from fieldnet.analysis.curves import Curves
from fieldnet.analysis.tc import Measurement


def _axes(ax, size=(6.4, 4.4)):
    if ax is None:
        return plots.figure(size=size)
    return ax.figure, ax


def _reference_line(ax, value: float | None, label: str) -> None:
    if value is not None and np.isfinite(value):
        ax.axvline(value, color="0.35", linestyle=":", linewidth=1.2, label=label)


def plot_rg_matching(curves: dict[int, Curves], result: Measurement | None, *, reference: float | None = None, ax=None):
    """<p> of each size (solid) and the curves the result matches, in the colour of the smaller size
    of each pair: L coarse-grained by one block step (dashed) against L/b, or, for matching at two
    steps, L coarse-grained twice (dashed) against L/b coarse-grained once (dotted).  Their
    crossings are the RG-matching Tc(L)."""
    fig, ax = _axes(ax)
    sizes = sorted(curves)
    colors = dict(zip(sizes, plots.series_colors(len(sizes)), strict=True))
    for L in sizes:
        c = curves[L]
        ax.plot(c.temperature, c.p_mean, color=colors[L], label=f"L = {L}")
    if result is not None:
        for (L, small), tx, err in zip(result.estimate.pairs, result.estimate.T_L, result.T_L_err, strict=True):
            c, d = curves[int(L)], curves[int(small)]
            if result.estimate.level == 2:
                ax.plot(d.temperature, d.blocked_mean, ":", color=colors[int(small)], label=f"L = {small} blocked once")
                ax.plot(c.temperature, c.twice_blocked_mean, "--", color=colors[int(small)], label=f"L = {L} blocked twice")
            else:
                ax.plot(c.temperature, c.blocked_mean, "--", color=colors[int(small)], label=f"L = {L} blocked to {small}")
            if np.isfinite(tx):
                ax.axvspan(tx - err, tx + err, color=colors[int(small)], alpha=0.15, linewidth=0)
        steps = "two block steps" if result.estimate.level == 2 else "one block step"
        ax.set_title(f"RG matching ({steps}): Tc = {result.Tc:.4f} ± {result.Tc_err:.4f}, nu = {result.nu:.3f} ± {result.nu_err:.3f}",
                     fontsize=10)
    _reference_line(ax, reference, "known Tc (reference only)")
    ax.set_xlabel(plots.T_LABEL)
    ax.set_ylabel("mean network output <p(ordered)>")
    ax.legend(fontsize=8)
    return fig


def plot_binder(curves: dict[int, Curves], result: Measurement | None, *, reference: float | None = None, ax=None):
    """The Binder cumulant of each size; crossings of the pairs are the baseline's Tc(L)."""
    fig, ax = _axes(ax)
    sizes = sorted(curves)
    for L, color in zip(sizes, plots.series_colors(len(sizes)), strict=True):
        ax.plot(curves[L].temperature, curves[L].binder, color=color, label=f"L = {L}")
    if result is not None:
        for tx, err in zip(result.estimate.T_L, result.T_L_err, strict=True):
            if np.isfinite(tx):
                ax.axvspan(tx - err, tx + err, color="tab:red", alpha=0.12, linewidth=0)
        ax.set_title(f"Binder baseline: Tc = {result.Tc:.4f} ± {result.Tc_err:.4f}, nu = {result.nu:.3f} ± "
                     f"{result.nu_err:.3f}", fontsize=10)
    _reference_line(ax, reference, "known Tc (reference only)")
    ax.set_xlabel(plots.T_LABEL)
    ax.set_ylabel("Binder cumulant U = 1 - <m^4>/(3<m^2>^2)")
    ax.legend(fontsize=8)
    return fig


def plot_fluctuation(curves: dict[int, Curves], *, ax=None):
    """The variance of the network output over configurations, per size: its peak is each
    network's own pseudo-critical point, which follows where the training bands were."""
    fig, ax = _axes(ax)
    sizes = sorted(curves)
    for L, color in zip(sizes, plots.series_colors(len(sizes)), strict=True):
        ax.plot(curves[L].temperature, curves[L].p_var, color=color, label=f"L = {L}")
    ax.set_xlabel(plots.T_LABEL)
    ax.set_ylabel("variance of p over configurations")
    ax.legend(fontsize=8)
    return fig


def plot_training_range(placements: list[dict], *, reference: float | None = None, ax=None):
    """Tc against the shift of the training bands (J/k_B), for RG matching and for the network's
    own fluctuation peaks: the slope is each estimator's sensitivity to the training range.

    Args:
        placements: per placement ``{"band_shift", "rg_matching": (Tc, err), "network_peaks": (Tc, err)}``.
    """
    fig, ax = _axes(ax)
    x = np.array([p["band_shift"] for p in placements])
    order = np.argsort(x)
    for key, label, style in (("rg_matching", "RG matching of the output", "o-"),
                              ("network_peaks", "the network's own fluctuation peaks", "s--")):
        y = np.array([np.nan if key not in p or p[key][0] is None else p[key][0] for p in placements], dtype=float)
        e = np.array([np.nan if key not in p or p[key][1] is None else p[key][1] for p in placements], dtype=float)
        if np.any(np.isfinite(y)):
            ax.errorbar(x[order], y[order], yerr=e[order], fmt=style, label=label)
    base = placements[0].get("rg_matching", [None])[0] if placements else None
    if base is not None:
        ax.plot(x[order], base + x[order], color="0.7", linewidth=1, label="an estimate that follows the bands (slope 1)")
    if reference is not None and np.isfinite(reference):
        ax.axhline(reference, color="0.35", linestyle=":", label="known Tc (reference only)")
    ax.set_xlabel(r"shift of the training bands ($J/k_B$)")
    ax.set_ylabel(r"estimated $T_c$ ($J/k_B$)")
    ax.legend(fontsize=8)
    return fig
