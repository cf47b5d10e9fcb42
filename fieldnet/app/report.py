"""The pipeline's report folder: summary.json, report.md and the figures it links.

Figures (PNG): ``tc/rg_matching.png`` (the network's output per size and coarse-grained, their
crossings), ``tc/binder.png`` (the baseline), ``tc/fluctuation.png`` (each network's own
pseudo-critical peaks), ``tc/training_range.png`` (the estimates against the shift of the
training bands), ``training.png`` (loss and accuracy per epoch) and ``gallery.png``
(configurations across temperatures); ``tc/confusion.png`` for learning by confusion.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from fieldnet.io.atomic import atomic_output


def plot_training(histories: dict[str, dict]):
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
    fig.suptitle("Training curves (temperature bands deep in each phase)")
    return fig


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


def plot_gallery(data: Path, n_temperatures: int = 6):
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
    fig, axes = plots.figure(1, len(picks), size=(2.1 * len(picks) + 0.8, 2.8))
    axes = np.atleast_1d(axes)
    with h5py.File(data, "r") as f:
        config = f[lat.group]["config"]
        for ax, T in zip(axes, picks, strict=True):
            i = int(np.flatnonzero(lat.temperature == T)[0])
            image, style, label = _display(config[i], names, model)
            im = ax.imshow(image, interpolation="nearest", **style)
            ax.set_title(f"T = {T:.2f}", fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
    fig.colorbar(im, ax=list(axes), shrink=0.8, label=label)
    fig.suptitle(f"Configurations across T (J/k_B), L = {lat.L} ({model})")
    return fig


def _fmt(value, err=None, digits=4) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:.{digits}f} ± {err:.{digits}f}" if err is not None else f"{value:.{digits}f}"


def headline(summary: dict) -> str:
    """The result in one line: Tc and nu with statistical and systematic errors, the baseline,
    and the known values for comparison."""
    if summary.get("Tc") is None:
        return "Tc: not determined" + (f" ({summary['peak_error']})" if summary.get("peak_error") else "")
    syst = f" ± {summary['Tc_syst']:.4f} (syst)" if summary.get("Tc_syst") is not None else ""
    line = f"Tc = {summary['Tc']:.4f} ± {summary['Tc_stat']:.4f} (stat){syst}"
    if summary.get("nu") is not None:
        nu_syst = f" ± {summary['nu_syst']:.3f}" if summary.get("nu_syst") is not None else ""
        line += f", nu = {summary['nu']:.3f} ± {summary['nu_stat']:.3f}{nu_syst}"
    line += f" [{summary.get('headline', summary.get('method'))}]"
    binder = summary.get("methods", {}).get("binder")
    if binder and binder.get("Tc") is not None:
        line += f"; Binder baseline Tc = {binder['Tc']:.4f} ± {binder['Tc_err']:.4f}"
    ref = summary.get("Tc_reference")
    if ref is not None:
        line += f"; known Tc {ref:.6f} ({100 * summary['Tc_relative_deviation']:+.2f}%)"
    return line


def write_report(out: Path, summary: dict) -> None:
    """Write the figures, summary.json and report.md into ``out``."""
    from fieldnet.analysis.plots import save

    data = out / ("measure.h5" if (out / "measure.h5").exists() else "scan.h5")
    if summary.get("training"):
        save(plot_training(summary["training"]), out / "training.png")
    save(plot_gallery(data), out / "gallery.png")
    with atomic_output(out / "summary.json") as tmp:
        tmp.write_text(json.dumps({k: v for k, v in summary.items() if k != "model_summary"}, indent=2, default=float) + "\n")
    with atomic_output(out / "report.md") as tmp:
        tmp.write_text("\n".join(_report_lines(out, summary)) + "\n")


def _report_lines(out: Path, summary: dict) -> list[str]:
    sim = summary["config"]["simulate"]
    ref = summary.get("reference", {})
    params = f" {sim['params']}" if sim.get("params") else ""
    lines = ["# fieldnet pipeline report", "",
             f"Model **{sim['model']}**{params}, L = {sim['L']}; scan T = {sim['T']} "
             f"({sim['scan_samples']} configurations per point), seed {sim['seed']}.", ""]
    window = summary.get("window")
    if window:
        lines += [f"Transition region located on the scan: {window['measurement'][0]:.3f} to {window['measurement'][1]:.3f} "
                  f"({', '.join(f'{k} {v:.3f}' for k, v in window['markers'].items())}); the measurement has "
                  f"{sim['zoom_points']} temperatures there with {sim['samples']} configurations each, from another seed.", ""]
    lines += ["## Result", "", f"**{headline(summary)}**", "", f"Method: {summary['method']}.", ""]
    methods = summary.get("methods", {})
    if methods:
        lines += ["| estimator | Tc | nu |", "|---|---|---|"]
        for key, m in methods.items():
            lines.append(f"| {key} | {_fmt(m['Tc'], m['Tc_err'])} | {_fmt(m['nu'], m['nu_err'], 3)} |")
        lines.append(f"| known value (reference only) | {_fmt(ref.get('Tc'), None, 6)} | {_fmt(ref.get('nu'), None, 4)} |")
        lines += ["", "Statistical errors: bootstrap over configurations, with the ensemble's spread; the "
                      "systematic error adds in quadrature the half-spread over training-range placements and the "
                      "change without the smallest pair of sizes.", ""]
    syst = summary.get("systematics", {})
    if syst:
        lines += ["## Systematics", "", "| estimator | training range | sizes | sensitivity dTc/d(shift) |",
                  "|---|---|---|---|"]
        for key, s in syst.items():
            lines.append(f"| {key} | {_fmt(s['training_range'])} | {_fmt(s['sizes'])} | "
                         f"{_fmt(s['sensitivity'], s['sensitivity_err'], 3)} |")
        lines += ["", "| placement | bands (ordered ≤, disordered ≥) | RG matching Tc | network peaks Tc |", "|---|---|---|---|"]
        for p in summary.get("placements", []):
            rg, pk = p.get("rg_matching", [None, None]), p.get("network_peaks", [None, None])
            lines.append(f"| shift {p['band_shift']:+.3f} | {_fmt(p['ordered_below'], None, 3)}, "
                         f"{_fmt(p['disordered_above'], None, 3)} | {_fmt(rg[0], rg[1])} | {_fmt(pk[0], pk[1])} |")
        lines.append("")
    lines += ["## Figures", ""]
    for name in ("tc/rg_matching.png", "tc/binder.png", "tc/training_range.png", "tc/fluctuation.png",
                 "tc/confusion.png", "training.png", "gallery.png"):
        if (out / name).exists():
            lines.append(f"![{name}]({name})")
    if summary.get("model_summary"):
        lines += ["", "## Network", "", "```", summary["model_summary"], "```"]
    lines += ["", "## Timings (s)", ""] + [f"- {k}: {v}" for k, v in summary.get("timings_seconds", {}).items()]
    return lines
