"""The pipeline's report folder: summary.json, report.md and the figures it links.

Figures (PNG): ``tc/p_ordered.png`` (ordered-phase probability against T per L, Tc(L) and the
reference marked), ``tc/tc_vs_L.png`` (the finite-size extrapolation), ``tc/collapse.png`` (the
data collapse), ``training.png`` (loss and accuracy per epoch), ``gallery.png`` (configurations
across temperatures); ``tc/confusion.png`` replaces the first three for unlabelled models.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from fieldnet.io.atomic import atomic_output


def best_estimate(tc: dict) -> tuple[float | None, float | None, str]:
    """(Tc, error, source): the finite-size extrapolation when it was possible, else the collapse."""
    if tc.get("Tc_inf") is not None and tc.get("Tc_inf_err") is not None:
        ex = tc.get("extrapolation", {})
        how = f", nu fixed at {ex['nu']:g}" if ex.get("nu_fixed") else ", nu fitted"
        return tc["Tc_inf"], tc["Tc_inf_err"], f"extrapolation Tc(L) = Tc + a L^(-1/nu){how}"
    collapse = tc.get("collapse", {})
    if collapse.get("Tc") is not None:
        return collapse["Tc"], collapse.get("Tc_err"), "data collapse"
    return None, None, "none"


def plot_training(histories: dict[str, dict], path: Path) -> None:
    """Loss and accuracy per epoch, training (solid) and validation (dashed), one colour per network."""
    from fieldnet.analysis import plots

    fig, (ax1, ax2) = plots.figure(1, 2, size=(9.5, 3.9))
    colors = plots.series_colors(len(histories))
    for color, (name, h) in zip(colors, histories.items(), strict=True):
        epochs = h.get("epoch") or list(range(1, len(h.get("loss", [])) + 1))
        ax1.plot(epochs, h.get("loss", []), "o-", color=color, label=f"{name} training")
        ax1.plot(epochs, h.get("val_loss", []), "s--", color=color, label=f"{name} validation")
        ax2.plot(epochs, h.get("accuracy", []), "o-", color=color, label=f"{name} training")
        ax2.plot(epochs, h.get("val_accuracy", []), "s--", color=color, label=f"{name} validation")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("cross-entropy loss (nats per sample)")
    ax1.set_yscale("log")
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("accuracy (fraction correct)")
    ax2.legend(fontsize=7, ncol=1 if len(histories) < 3 else 2)
    fig.suptitle("Training curves (critical window held out)")
    plots.save(fig, path)


def _display(config: np.ndarray, channel_names: list[str], model: str) -> tuple[np.ndarray, dict, str]:
    """One sample (C, *spatial) as a 2D image, imshow settings and a colour-bar label.

    XY (cos, sin) channels are shown as the spin angle on a cyclic map, Potts states (one channel
    or one-hot) on a discrete map, anything else as its first channel (3D: the middle slice).
    """
    c = np.asarray(config, dtype=np.float32)
    while c.ndim > 3:  # 3D lattices: the middle slice of every channel
        c = c[:, c.shape[1] // 2]
    if tuple(channel_names[:2]) == ("cos_theta", "sin_theta"):
        return np.arctan2(c[1], c[0]), {"cmap": "twilight", "vmin": -np.pi, "vmax": np.pi}, "spin angle θ (rad)"
    if model == "potts":
        states = c.argmax(axis=0) if c.shape[0] > 1 else c[0]
        return states, {"cmap": "tab10", "vmin": -0.5, "vmax": 9.5}, "Potts state"
    image = c[0]
    name = channel_names[0] if channel_names else "channel 0"
    lo, hi = float(image.min()), float(image.max())
    if lo >= -1 and hi <= 1:  # spins: a fixed symmetric scale so that colours compare across T
        lo, hi = -1.0, 1.0
    else:  # fields: symmetric about zero
        lo, hi = -max(abs(lo), abs(hi)), max(abs(lo), abs(hi))
    return image, {"cmap": "coolwarm", "vmin": lo, "vmax": hi}, name


def plot_gallery(data: Path, path: Path, n_temperatures: int = 6) -> None:
    """One configuration per temperature, for the largest lattice (3D: the middle slice)."""
    import h5py

    from fieldnet.analysis import plots
    from fieldnet.training.batches import read_index

    index = read_index(data)
    lat = max(index.lattices, key=lambda la: la.L)
    temps = np.unique(lat.temperature)
    picks = temps[np.linspace(0, len(temps) - 1, min(n_temperatures, len(temps))).round().astype(int)]
    group = index.attrs.get("groups", {}).get(lat.L, {})
    names = group.get("channel_names", [])
    names = [names] if isinstance(names, str) else list(names)
    model = str(index.attrs.get("model", ""))
    tc = group.get("Tc")
    fig, axes = plots.figure(1, len(picks), size=(2.1 * len(picks) + 0.8, 2.8))
    axes = np.atleast_1d(axes)
    with h5py.File(data, "r") as f:
        config = f[lat.group]["config"]
        for ax, T in zip(axes, picks, strict=True):
            i = int(np.flatnonzero(lat.temperature == T)[0])
            image, style, label = _display(config[i], names, model)
            im = ax.imshow(image, interpolation="nearest", **style)
            phase = "" if tc is None or not np.isfinite(float(tc)) else (" (ordered)" if T < float(tc) else " (disordered)")
            ax.set_title(f"T = {T:.2f}{phase}", fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
    fig.colorbar(im, ax=list(axes), shrink=0.8, label=label)
    fig.suptitle(f"Configurations across T (J/k_B), L = {lat.L} ({model})")
    plots.save(fig, path)


def _fmt(value, err=None, digits=4) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:.{digits}f} ± {err:.{digits}f}" if err is not None else f"{value:.{digits}f}"


def write_report(out: Path, summary: dict, *, data: Path) -> None:
    """Write figures, summary.json and report.md into ``out``."""
    tc = summary["tc"]
    ref = summary.get("Tc_reference")
    if summary["method"] == "supervised":
        value, err, source = best_estimate(tc)
        # an ensemble's networks differ only in their seed: the first network of each ("... net 1") stands for it
        histories = summary["training"]
        if summary.get("n_networks", 1) > 1:
            histories = {name: h for name, h in histories.items() if name.endswith(" net 1")}
        plot_training(histories, out / "training.png")
    else:
        value, err, source = tc.get("Tc_inf"), tc.get("Tc_inf_err"), "learning by confusion (peak of the W curve)"
    plot_gallery(data, out / "gallery.png")
    summary["Tc"] = value
    summary["Tc_err"] = err
    summary["Tc_source"] = source
    if value is not None and ref is not None and math.isfinite(ref):
        summary["Tc_relative_deviation"] = (value - ref) / ref
        summary["Tc_reference_covered"] = bool(err is not None and abs(value - ref) <= err)
    if summary["method"] == "supervised":
        collapse = tc.get("collapse", {})
        summary["nu"], summary["nu_err"] = collapse.get("nu"), collapse.get("nu_err")  # fitted, never the fixed one
    with atomic_output(out / "summary.json") as tmp:
        tmp.write_text(json.dumps({k: v for k, v in summary.items() if k != "model_summary"}, indent=2, default=float) + "\n")
    lines = ["# fieldnet pipeline report", ""]
    sim = summary["config"]["simulate"]
    lines += [f"Model **{sim['model']}** {sim.get('params') or ''}, L = {sim['L']}, T = {sim['T']}, "
              f"{sim['samples']} samples per point (seed {sim.get('seed', 0)}).", ""]
    lines += ["| quantity | estimate | reference |", "|---|---|---|"]
    ref_name = tc.get("Tc_reference_name") or "Tc"
    ref_text = _fmt(ref) + (f" ({ref_name}, literature)" if ref_name != "Tc" and ref is not None else "")
    lines.append(f"| Tc ({source}) | {_fmt(value, err)} | {ref_text} |")
    if tc.get("peak_error"):
        lines += ["", f"No Tc estimate: {tc['peak_error']}", ""]
    if summary["method"] == "supervised":
        lines.append(f"| nu (data collapse) | {_fmt(summary['nu'], summary['nu_err'], 3)} | {_fmt(summary.get('nu_reference'), None, 3)} |")
        col = tc.get("collapse", {})
        if col.get("Tc") is not None:
            lines.append(f"| Tc (data collapse) | {_fmt(col['Tc'], col.get('Tc_err'))} | {_fmt(ref)} |")
        K = int(summary.get("n_networks", 1))
        if K > 1:
            lines += ["", f"Tc(L) is the crossing of the mean of {K} networks (seeds {summary['config']['train'].get('seed', 0)}"
                          f"..{summary['config']['train'].get('seed', 0) + K - 1}); its error combines the bootstrap over "
                          "samples with the networks' spread, std/sqrt(K).", "",
                      "| L | Tc(L) | error from samples | error from training |", "|---|---|---|---|"]
            lines += [f"| {row['L']} | {_fmt(row['Tc'], row['Tc_err'])} | {_fmt(row.get('Tc_err_samples'))} | "
                      f"{_fmt(row.get('Tc_err_networks'))} |" for row in tc["Tc_L"]]
        else:
            lines += ["", "| L | Tc(L) |", "|---|---|"]
            lines += [f"| {row['L']} | {_fmt(row['Tc'], row['Tc_err'])} |" for row in tc["Tc_L"]]
            lines += ["", "One network per entry: the error bars are over samples only and leave out how much the "
                          "crossing moves from one training seed to the next; `[train] ensemble = 4` measures that."]
    if "Tc_relative_deviation" in summary:
        covered = "covers" if summary["Tc_reference_covered"] else "does not cover"
        lines += ["", f"Deviation from the reference: {100 * summary['Tc_relative_deviation']:+.2f}% "
                      f"(the error bar {covered} it)."]
    lines += ["", "## Figures", ""]
    figures = (["tc/p_ordered.png", "tc/tc_vs_L.png", "tc/collapse.png", "training.png", "gallery.png"]
               if summary["method"] == "supervised" else ["tc/confusion.png", "gallery.png"])
    lines += [f"![{name}]({name})" for name in figures if (out / name).exists()]
    if summary.get("model_summary"):
        which = "one network per L; the smallest shown" if summary.get("per_size") else "one network for every L"
        lines += ["", f"## Network ({which})", "", "```", summary["model_summary"], "```"]
    lines += ["", "## Timings (s)", ""] + [f"- {k}: {v}" for k, v in summary.get("timings_seconds", {}).items()]
    with atomic_output(out / "report.md") as tmp:
        tmp.write_text("\n".join(lines) + "\n")
