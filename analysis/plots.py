"""Shared matplotlib helpers for analysis figures, and the convention every plotting function follows.

The convention (for every ``plot_*`` function of ``fieldnet.analysis``):

* A single-panel plot takes ``ax=None``: it draws into the caller's Axes (a panel of the user's
  own figure, any backend) or, without one, into a new figure.  A multi-panel plot takes
  ``fig=None``: it lays its panels out in the caller's empty Figure or SubFigure, or in a new
  figure.  Either way the function returns the Figure it drew on, so in a notebook the last
  line of a cell shows it, and ``fig.savefig(...)`` writes it.
* New figures are made with matplotlib's object interface (``matplotlib.figure.Figure``), never
  through pyplot: fieldnet neither chooses nor changes the user's backend, registers no figure
  with pyplot's figure manager (``plt.show()`` shows only the user's own figures), and batch
  jobs on clusters need no display.
* No plotting function writes a file.  Writing PNGs is the command line's job:
  ``fieldnet analyze ...`` calls the plot and then :func:`save` (atomic: temp file, then rename).
* The shared style (:data:`STYLE`) applies to the figures fieldnet makes; panels drawn into the
  caller's Axes keep the caller's style.
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


def figure(nrows: int = 1, ncols: int = 1, size: tuple[float, float] = (6.4, 4.4), *, fig=None, **kwargs):
    """Panels in the shared style; returns ``(fig, ax)`` like ``plt.subplots``.

    Args:
        nrows, ncols, kwargs: the panel grid, as ``Figure.subplots`` takes it.
        size: (width, height) in inches of a new figure.
        fig: an empty Figure or SubFigure of the caller to lay the panels out in (None: a new
            figure, constrained layout).
    """
    with matplotlib.rc_context(STYLE):
        if fig is None:
            fig = Figure(figsize=size, layout="constrained")
        ax = fig.subplots(nrows, ncols, **kwargs)
    return fig, ax


def panel(ax=None, size: tuple[float, float] = (6.4, 4.4)):
    """``(figure, ax)`` for a single-panel plot: the caller's Axes and its figure, or a new figure."""
    if ax is not None:
        return ax.figure, ax
    return figure(size=size)


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
    """Write ``fig`` as PNG to ``path`` atomically; returns the path.

    For the command line (``fieldnet analyze``, the pipeline's report); plotting functions
    return figures and never call it.  The image is rendered in memory and written in one go, so
    a full disk is one FieldnetError line (see :mod:`fieldnet.io.atomic`).
    """
    import io

    from fieldnet.io.atomic import write_file_atomically

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image = io.BytesIO()
    with matplotlib.rc_context(STYLE):
        fig.savefig(image, format="png")
    return write_file_atomically(path, image.getvalue())
