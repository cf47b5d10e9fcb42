"""What a network's filters learned: the first-layer kernels, their likeness to physics kernels,
activation maps across the transition, and dead filters.

Physics kernels (k x k, centred; odd k for the centred ones):

* ``nn_sum``: the four nearest neighbours of the centre, weight 1 -- convolved with spins it is the
  local field, so s_i * (nn_sum * s)_i is the bond energy;
* ``laplacian``: the nearest-neighbour sum minus 4 at the centre (the lattice Laplacian, domain walls);
* ``uniform``: all ones, the block magnetisation;
* ``checkerboard``: (-1)^(i+j), the staggered (antiferromagnetic) magnetisation.

Similarity is the cosine of the angle between the flattened filter and the kernel, in [-1, 1]
(the kernel repeated over input channels): 1 means the filter is the kernel up to a positive
scale, -1 up to a negative one.  Cosine, not Pearson correlation, since the uniform kernel has no
variance to correlate with.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from fieldnet.errors import FieldnetError

PHYSICS_KERNELS = ("nn_sum", "laplacian", "uniform", "checkerboard")


def physics_kernels(k: int) -> dict[str, np.ndarray]:
    """The kernels of :data:`PHYSICS_KERNELS` as (k, k) float64 arrays (NaN-filled when undefined: even k)."""
    if k < 2:
        raise FieldnetError(f"filters of size {k} x {k} cannot be compared with lattice kernels; need k >= 2")
    ii, jj = np.indices((k, k))
    kernels = {"uniform": np.ones((k, k)), "checkerboard": ((-1.0) ** (ii + jj))}
    if k % 2:
        c = k // 2
        nn = np.zeros((k, k))
        nn[c - 1, c] = nn[c + 1, c] = nn[c, c - 1] = nn[c, c + 1] = 1.0
        lap = nn.copy()
        lap[c, c] = -4.0
        kernels["nn_sum"], kernels["laplacian"] = nn, lap
    else:  # no centre site: the centred kernels are not defined
        kernels["nn_sum"] = kernels["laplacian"] = np.full((k, k), np.nan)
    return {name: kernels[name] for name in PHYSICS_KERNELS}


def first_conv(model):
    """(index, layer) of the model's first convolution; a one-line error when it has none."""
    for i, layer in enumerate(model.layers):
        if type(layer).__name__.startswith("Conv") and "kernel" in layer.params:
            return i, layer
    raise FieldnetError("the model has no convolution layer; 'analyze filters' needs a convolutional network")


def kernel_similarity(kernels: np.ndarray) -> xr.DataArray:
    """Cosine similarity of each filter with each physics kernel.

    Args:
        kernels: (out_channels, in_channels, k, k) filter weights (square kernels).

    Returns:
        ``similarity (filter, kernel)`` in [-1, 1] (NaN for undefined kernels or all-zero filters),
        with the coordinate ``best_kernel (filter)``: the kernel of largest |similarity|.
    """
    w = np.asarray(kernels, dtype=np.float64)
    if w.ndim != 4 or w.shape[-1] != w.shape[-2]:
        raise FieldnetError(f"expected square 2D filters (out, in, k, k), got shape {w.shape}")
    refs = physics_kernels(w.shape[-1])
    flat = w.reshape(w.shape[0], -1)
    norms = np.linalg.norm(flat, axis=1)
    sim = np.full((w.shape[0], len(refs)), np.nan)
    for j, ref in enumerate(refs.values()):
        if np.isnan(ref).any():
            continue
        r = np.broadcast_to(ref, w.shape[1:]).reshape(-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            sim[:, j] = flat @ r / (norms * np.linalg.norm(r))
    sim[norms == 0] = np.nan
    names = np.array(PHYSICS_KERNELS)
    best = np.array([names[np.nanargmax(np.abs(row))] if np.isfinite(row).any() else "" for row in sim])
    return xr.DataArray(sim, dims=("filter", "kernel"),
                        coords={"filter": np.arange(w.shape[0]), "kernel": list(PHYSICS_KERNELS), "best_kernel": ("filter", best)},
                        name="similarity", attrs={"long_name": "cosine similarity of filter and kernel", "units": "1"})


def dead_filters(model, x: np.ndarray, batch_size: int = 256) -> xr.DataArray:
    """Channels of each spatial layer whose output is exactly zero on every input.

    Args:
        model: a built Sequential; x: configurations (N, C, L, L).

    Returns:
        ``dead (layer, channel)`` bool over the layers with spatial output (channels beyond a
        layer's count are False), with the coordinate ``n_channels (layer)``.
    """
    acts = [(label, h) for label, h in model.activations(np.asarray(x, dtype=np.float32), batch_size) if h.ndim == 4]
    if not acts:
        raise FieldnetError("the model has no layer with spatial output; nothing to look at")
    width = max(h.shape[1] for _, h in acts)
    dead = np.zeros((len(acts), width), dtype=bool)
    for i, (_, h) in enumerate(acts):
        dead[i, : h.shape[1]] = np.abs(h).max(axis=(0, 2, 3)) == 0
    return xr.DataArray(dead, dims=("layer", "channel"),
                        coords={"layer": [lab for lab, _ in acts], "channel": np.arange(width),
                                "n_channels": ("layer", [h.shape[1] for _, h in acts])},
                        name="dead", attrs={"long_name": "channel output is zero on every input"})


def activation_maps(model, x: np.ndarray, max_channels: int = 4) -> list[tuple[str, np.ndarray]]:
    """(label, (max_channels, H, W)) for every spatial layer, for one configuration ``x`` (1, C, L, L)."""
    return [(label, h[0, :max_channels]) for label, h in model.activations(np.asarray(x, dtype=np.float32)) if h.ndim == 4]


# -- figures ---------------------------------------------------------------------------------


def plot_filter_grid(kernels: np.ndarray, similarity: xr.DataArray, *, fig=None):
    """The first-layer filters (first input channel) in a grid, one diverging colour scale, with the
    best kernel; returns the Figure (``fig``: an empty Figure or SubFigure to draw in, default a new one).

    Args:
        kernels: (filters, in_channels, k, k) weights.  similarity: :func:`kernel_similarity` output.
    """
    from fieldnet.analysis import plots

    w = np.asarray(kernels)
    n = w.shape[0]
    cols = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    fig, axes = plots.figure(rows, cols, size=(1.9 * cols + 1.4, 2.0 * rows + 0.5), squeeze=False, fig=fig)
    vmax = float(np.abs(w).max()) or 1.0
    image = None
    for f in range(rows * cols):
        ax = axes.flat[f]
        ax.grid(False)
        ax.set_xticks([])
        ax.set_yticks([])
        if f >= n:
            ax.axis("off")
            continue
        image = ax.imshow(w[f, 0], cmap="RdBu_r", vmin=-vmax, vmax=vmax, interpolation="nearest")
        best = str(similarity["best_kernel"].values[f])
        value = similarity.sel(filter=f, kernel=best).item() if best else float("nan")
        ax.set_title(f"filter {f}\n{best} {value:+.2f}" if best else f"filter {f}\n(zero)", fontsize=8)
    fig.colorbar(image, ax=axes, label="weight (input channel 0)", shrink=0.9)
    fig.suptitle("first-layer filters; title: most similar physics kernel (cosine)", fontsize=10)
    return fig


def plot_similarity(similarity: xr.DataArray, *, ax=None):
    """Heat map of the cosine similarity, filters x physics kernels, values written in the cells;
    drawn into ``ax`` (default: a new figure); returns the Figure."""
    from fieldnet.analysis import plots

    s = similarity.values
    fig, ax = plots.panel(ax, size=(5.5, 0.35 * s.shape[0] + 1.8))
    image = ax.imshow(s, cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto", interpolation="nearest")
    for (i, j), v in np.ndenumerate(s):
        ax.text(j, i, "n/a" if np.isnan(v) else f"{v:+.2f}", ha="center", va="center", fontsize=7)
    ax.set_xticks(range(s.shape[1]), [str(k) for k in similarity["kernel"].values])
    ax.set_yticks(range(s.shape[0]), [f"filter {f}" for f in similarity["filter"].values], fontsize=8)
    ax.grid(False)
    ax.set_title("first-layer filters vs physics kernels")
    fig.colorbar(image, ax=ax, label="cosine similarity")
    return fig


def plot_activation_maps(model, configs: dict[str, tuple[float, np.ndarray]], max_channels: int = 4, *, fig=None):
    """Activation maps layer by layer (rows) for configurations at low, critical and high T (column
    groups); returns the Figure.

    Args:
        configs: name -> (temperature, one configuration (1, C, L, L)).
        max_channels: channels shown per layer.
        fig: an empty Figure or SubFigure to draw in (default: a new figure).
    """
    from fieldnet.analysis import plots

    per_T = {name: (t, activation_maps(model, x, max_channels)) for name, (t, x) in configs.items()}
    first = next(iter(per_T.values()))[1]
    n_rows = 1 + len(first)
    n_cols = len(per_T) * max_channels
    fig, axes = plots.figure(n_rows, n_cols, size=(1.35 * n_cols + 1.5, 1.45 * n_rows + 0.8), squeeze=False, fig=fig)
    for ax in axes.flat:
        ax.grid(False)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.axis("off")
    spin_image = None
    act_images = {}
    for g, (name, (t, maps)) in enumerate(per_T.items()):
        x = configs[name][1]
        ax = axes[0, g * max_channels]
        ax.axis("on")
        spin_image = ax.imshow(x[0, 0], cmap="gray", vmin=-1, vmax=1, interpolation="nearest")
        ax.set_title(f"{name} T={t:.3g}\ninput", fontsize=8)
        for r, (label, h) in enumerate(maps, start=1):
            vmax = max(float(np.abs(m).max()) for _, m in _layer_maps(per_T, r - 1)) or 1.0
            for c in range(h.shape[0]):
                ax = axes[r, g * max_channels + c]
                ax.axis("on")
                act_images[r] = ax.imshow(h[c], cmap="RdBu_r", vmin=-vmax, vmax=vmax, interpolation="nearest")
                ax.set_title(f"ch {c}", fontsize=7)
                if g == 0 and c == 0:
                    ax.set_ylabel(label, fontsize=8)
    fig.colorbar(spin_image, ax=axes[0, :].tolist(), label="spin", shrink=0.8)
    for r, image in act_images.items():
        fig.colorbar(image, ax=axes[r, :].tolist(), label="activation", shrink=0.8)
    fig.suptitle("activation maps layer by layer (rows) at low, critical and high T", fontsize=10)
    return fig


def _layer_maps(per_T: dict, row: int) -> list[tuple[str, np.ndarray]]:
    """The ``row``-th spatial layer's maps at every temperature (shared colour scale per layer)."""
    return [maps[row] for _, maps in per_T.values()]
