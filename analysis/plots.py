"""Shared matplotlib helpers for analysis figures: one style, PNG output, no pyplot.

Every analysis figure goes through :func:`figure` and :func:`save`, so figures look alike and
are written atomically.  Figures are made with matplotlib's object interface
(``matplotlib.figure.Figure``), never through pyplot: fieldnet neither chooses nor changes the
user's backend, batch jobs on clusters need no display, and a notebook shows a returned Figure
inline as usual.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.figure import Figure

T_LABEL = r"$T$ ($J/k_B$)"
"""Axis label for temperatures (units of the coupling over Boltzmann's constant)."""

STYLE = {
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "legend.fontsize": 9,
    "legend.framealpha": 0.85,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "lines.linewidth": 1.5,
    "lines.markersize": 4,
    "errorbar.capsize": 2,
}


def figure(nrows: int = 1, ncols: int = 1, size: tuple[float, float] = (6.4, 4.4), **kwargs):
    """A new figure in the shared style; returns ``(fig, ax)`` like ``plt.subplots``."""
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=size, layout="constrained")
        ax = fig.subplots(nrows, ncols, **kwargs)
    return fig, ax


def series_colors(n: int, cmap: str = "viridis") -> list:
    """``n`` distinguishable colours ordered along a colormap (e.g. one per lattice size)."""
    if n <= 0:
        return []
    colormap = matplotlib.colormaps[cmap]
    return [colormap(v) for v in np.linspace(0.0, 0.85, n)] if n > 1 else [colormap(0.0)]


def add_colorbar(fig, ax, values: Sequence[float], label: str, cmap: str = "viridis"):
    """A colour bar for a colour that encodes ``values`` (range min..max) on ``ax``."""
    norm = matplotlib.colors.Normalize(vmin=float(np.min(values)), vmax=float(np.max(values)))
    sm = matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap)
    return fig.colorbar(sm, ax=ax, label=label)


def mark_vertical(ax, x: float, label: str, *, color: str = "k", style: str = "--", err: float | None = None):
    """A labelled vertical line at ``x`` (e.g. a critical temperature), with an optional band ±err."""
    if x is None or not np.isfinite(x):
        return
    ax.axvline(x, color=color, linestyle=style, linewidth=1.2, label=label)
    if err is not None and np.isfinite(err) and err > 0:
        ax.axvspan(x - err, x + err, color=color, alpha=0.12, linewidth=0)


def save(fig, path: str | os.PathLike) -> Path:
    """Write ``fig`` as PNG to ``path`` atomically (temp file, then rename); returns the path."""
    import io

    from fieldnet.io.atomic import write_file_atomically

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image = io.BytesIO()
    with matplotlib.rc_context(STYLE):
        fig.savefig(image, format="png")
    return write_file_atomically(path, image.getvalue())
