"""Symmetries of a trained network, layer by layer: translations, the square's point group, spin flip.

For a symmetry g acting on the input and the same symmetry g' acting on a layer's output, the
relative equivariance error of layer output f is

    ||f(g x) - g' f(x)|| / ||f(x)||          (norms over all samples, channels and sites).

Translations: g = T_a shifts the lattice by a = (a_y, a_x) sites (periodically).  After layers of
cumulative stride s, a feature-map site is s lattice sites wide, so g' = T_{a/s} when s divides
a; periodic convolutions are then exactly equivariant (error 0 to float precision: every output
site sums the same products in the same order), pooling is equivariant under stride multiples
only, and zero padding breaks equivariance at the border.  For a shift that is not a multiple of
s, no feature-map shift can match: the reported error is the smallest over all feature-map shifts,
and it is flagged ``stride_multiple = False`` (equivariance broken by the stride).  Layers whose
output has no spatial axes (after global pooling or Dense) are compared with f(x) itself:
invariance.

Point group: the 8 symmetries of the square (rotations by 0, 90, 180, 270 degrees and the four
mirrors) act on the input and on every spatial feature map by the same array operation.  Learned
filters are not symmetric in general, so this measures how nearly the network learned the symmetry.

Spin flip x -> -x: a layer is odd when f(-x) = -f(x) and even when f(-x) = f(x).  Max pooling is
neither for a general input: maxpool(-x) = -minpool(x), which the report checks directly
(``maxpool_minpool_error`` ~ 0 while ``maxpool_odd_error`` is not).

Periodic and zero padding are compared on the same weights: the model is rebuilt from its
configuration with every periodic/zero convolution switched, and its weights are copied.
"""

from __future__ import annotations

import copy

import numpy as np
import xarray as xr

from fieldnet.errors import FieldnetError

POINT_GROUP = ("identity", "rot90", "rot180", "rot270", "mirror_x", "mirror_y", "transpose", "antitranspose")
"""Names of the square's 8 symmetries, in the order of the ``symmetry`` dimension."""

_TINY = 1e-30


def apply_point_group(a: np.ndarray, name: str) -> np.ndarray:
    """One of :data:`POINT_GROUP` applied to the last two (spatial y, x) axes of ``a``."""
    ops = {
        "identity": lambda v: v,
        "rot90": lambda v: np.rot90(v, 1, axes=(-2, -1)),
        "rot180": lambda v: np.rot90(v, 2, axes=(-2, -1)),
        "rot270": lambda v: np.rot90(v, 3, axes=(-2, -1)),
        "mirror_x": lambda v: v[..., :, ::-1],
        "mirror_y": lambda v: v[..., ::-1, :],
        "transpose": lambda v: np.swapaxes(v, -2, -1),
        "antitranspose": lambda v: np.rot90(np.swapaxes(v, -2, -1), 2, axes=(-2, -1)),
    }
    if name not in ops:
        raise FieldnetError(f"unknown point-group symmetry {name!r}; choose from {', '.join(POINT_GROUP)}")
    return np.ascontiguousarray(ops[name](a))


def cumulative_strides(model) -> list[int]:
    """The spatial down-sampling factor of each layer's output relative to the input lattice."""
    strides, s = [], 1
    for layer in model.layers:
        s *= int(layer.spatial_stride())
        strides.append(s)
    return strides


def with_padding(model, padding: str):
    """A copy of ``model`` whose periodic and zero-padded convolutions all use ``padding``, same weights."""
    from fieldnet.engine.model import Sequential

    if padding not in ("periodic", "zero"):
        raise FieldnetError(f"padding must be 'periodic' or 'zero', got {padding!r}")
    config = copy.deepcopy(model.get_config())

    def switch(spec):
        if isinstance(spec, dict):
            cfg = spec.get("config")
            if isinstance(cfg, dict) and str(spec.get("type", "")).startswith("Conv") and cfg.get("padding") in ("periodic", "zero"):
                cfg["padding"] = padding
            for value in spec.values():
                switch(value)
        elif isinstance(spec, list):
            for item in spec:
                switch(item)

    switch(config["layers"])
    rebuilt = Sequential.from_config(config)
    rebuilt.build(model.input_shape)
    rebuilt.set_weights(model.get_weights())
    return rebuilt


def _activations(model, x: np.ndarray, batch_size: int) -> list[np.ndarray]:
    return [np.asarray(h, dtype=np.float64) for _, h in model.activations(np.ascontiguousarray(x, dtype=np.float32), batch_size)]


def _relative(diff_sq: float, ref_sq: float) -> float:
    return float(np.sqrt(diff_sq) / np.sqrt(max(ref_sq, _TINY))) if ref_sq > 0 or diff_sq > 0 else 0.0


def translation_errors(model, x: np.ndarray, shifts: list[tuple[int, int]] | None = None, batch_size: int = 256) -> xr.DataArray:
    """Relative translation-equivariance error of every layer for every lattice shift.

    Args:
        model: a built Sequential taking (N, C, L, L).
        x: configurations (n, C, L, L).
        shifts: lattice shifts (a_y, a_x); default every shift of the L x L torus.
        batch_size: forward-pass batch size.

    Returns:
        ``translation_error (layer, shift_y, shift_x)`` (dimensionless, NaN for shifts not
        computed), with coordinates ``stride_multiple (layer, shift_y, shift_x)`` and
        ``cumulative_stride (layer)``.
    """
    x = np.asarray(x, dtype=np.float32)
    L = x.shape[-1]
    shifts = [(ay, ax) for ay in range(L) for ax in range(L)] if shifts is None else [(int(a) % L, int(b) % L) for a, b in shifts]
    n = x.shape[0]
    base = _activations(model, x, batch_size)
    shifted_inputs = np.concatenate([np.roll(x, (ay, ax), axis=(-2, -1)) for ay, ax in shifts])
    shifted = _activations(model, shifted_inputs, batch_size)
    strides = cumulative_strides(model)
    err = np.full((len(base), L, L), np.nan)
    multiple = np.zeros((len(base), L, L), dtype=bool)
    for i, (h, hs_all) in enumerate(zip(base, shifted, strict=True)):
        ref_sq = float(np.sum(h * h))
        s = strides[i]
        for j, (ay, ax) in enumerate(shifts):
            hs = hs_all[j * n : (j + 1) * n]
            if h.ndim < 4:  # no spatial axes left: invariance, expected under stride multiples only
                err[i, ay, ax] = _relative(float(np.sum((hs - h) ** 2)), ref_sq)
                multiple[i, ay, ax] = ay % s == 0 and ax % s == 0
            elif ay % s == 0 and ax % s == 0:
                err[i, ay, ax] = _relative(float(np.sum((hs - np.roll(h, (ay // s, ax // s), axis=(-2, -1))) ** 2)), ref_sq)
                multiple[i, ay, ax] = True
            else:  # no feature-map shift corresponds: the best match shows how badly it breaks
                best = min(float(np.sum((hs - np.roll(h, (by, bx), axis=(-2, -1))) ** 2))
                           for by in range(h.shape[-2]) for bx in range(h.shape[-1]))
                err[i, ay, ax] = _relative(best, ref_sq)
    labels = model.layer_labels()
    return xr.DataArray(
        err,
        dims=("layer", "shift_y", "shift_x"),
        coords={
            "layer": labels,
            "shift_y": np.arange(L),
            "shift_x": np.arange(L),
            "stride_multiple": (("layer", "shift_y", "shift_x"), multiple),
            "cumulative_stride": ("layer", np.array(strides)),
        },
        name="translation_error",
        attrs={"long_name": "||f(T_a x) - T_a' f(x)|| / ||f(x)||", "units": "1"},
    )


def point_group_errors(model, x: np.ndarray, batch_size: int = 256) -> xr.DataArray:
    """``pointgroup_error (layer, symmetry)``: ||f(g x) - g f(x)|| / ||f(x)|| for the square's 8 symmetries."""
    x = np.asarray(x, dtype=np.float32)
    if x.shape[-1] != x.shape[-2]:
        raise FieldnetError(f"the point group of the square needs square lattices, got {x.shape[-2:]}")
    n = x.shape[0]
    base = _activations(model, x, batch_size)
    moved = _activations(model, np.concatenate([apply_point_group(x, g) for g in POINT_GROUP]), batch_size)
    err = np.zeros((len(base), len(POINT_GROUP)))
    for i, (h, hg_all) in enumerate(zip(base, moved, strict=True)):
        ref_sq = float(np.sum(h * h))
        for j, g in enumerate(POINT_GROUP):
            target = apply_point_group(h, g) if h.ndim >= 4 else h
            err[i, j] = _relative(float(np.sum((hg_all[j * n : (j + 1) * n] - target) ** 2)), ref_sq)
    return xr.DataArray(err, dims=("layer", "symmetry"), coords={"layer": model.layer_labels(), "symmetry": list(POINT_GROUP)},
                        name="pointgroup_error", attrs={"long_name": "||f(g x) - g f(x)|| / ||f(x)||", "units": "1"})


def _min_pool(h: np.ndarray, pool: tuple[int, ...], stride: tuple[int, ...]) -> np.ndarray:
    """Min pooling (valid windows) computed independently of the engine, (N, C, H, W)."""
    from numpy.lib.stride_tricks import sliding_window_view

    windows = sliding_window_view(h, pool, axis=(-2, -1))[..., :: stride[0], :: stride[1], :, :]
    return windows.min(axis=(-2, -1))


def spin_flip_errors(model, x: np.ndarray, batch_size: int = 256) -> xr.Dataset:
    """Spin-flip behaviour of every layer.

    Returns:
        Dataset over ``layer`` with ``odd_error`` = ||f(-x) + f(x)|| / ||f(x)||, ``even_error`` =
        ||f(-x) - f(x)|| / ||f(x)||, and for max-pooling layers (NaN elsewhere), on the layer's own
        input h: ``maxpool_odd_error`` = ||maxpool(-h) + maxpool(h)|| / ||maxpool(h)|| (not 0: max
        pooling is not odd) and ``maxpool_minpool_error`` = ||maxpool(-h) + minpool(h)|| / ||maxpool(h)||
        (0: the identity maxpool(-x) = -minpool(x)).
    """
    from fieldnet.engine.layers import MaxPool2d

    x = np.asarray(x, dtype=np.float32)
    base = _activations(model, x, batch_size)
    flipped = _activations(model, -x, batch_size)
    n_layers = len(base)
    odd, even = np.zeros(n_layers), np.zeros(n_layers)
    mp_odd, mp_min = np.full(n_layers, np.nan), np.full(n_layers, np.nan)
    for i, (h, hf) in enumerate(zip(base, flipped, strict=True)):
        ref_sq = float(np.sum(h * h))
        odd[i] = _relative(float(np.sum((hf + h) ** 2)), ref_sq)
        even[i] = _relative(float(np.sum((hf - h) ** 2)), ref_sq)
        layer = model.layers[i]
        if isinstance(layer, MaxPool2d):
            h_in = np.asarray(x if i == 0 else base[i - 1], dtype=np.float32)
            up = np.asarray(layer.forward(h_in), dtype=np.float64).copy()
            down = np.asarray(layer.forward(np.ascontiguousarray(-h_in)), dtype=np.float64).copy()
            low = _min_pool(h_in.astype(np.float64), layer.kernel_size, layer.stride)
            up_sq = float(np.sum(up * up))
            mp_odd[i] = _relative(float(np.sum((down + up) ** 2)), up_sq)
            mp_min[i] = _relative(float(np.sum((down + low) ** 2)), up_sq)
    return xr.Dataset(
        {
            "odd_error": ("layer", odd, {"long_name": "||f(-x) + f(x)|| / ||f(x)||"}),
            "even_error": ("layer", even, {"long_name": "||f(-x) - f(x)|| / ||f(x)||"}),
            "maxpool_odd_error": ("layer", mp_odd, {"long_name": "||maxpool(-h) + maxpool(h)|| / ||maxpool(h)||"}),
            "maxpool_minpool_error": ("layer", mp_min, {"long_name": "||maxpool(-h) + minpool(h)|| / ||maxpool(h)||"}),
        },
        coords={"layer": model.layer_labels()},
    )


def equivariance_report(model, x: np.ndarray, paddings=("periodic", "zero"), shifts=None, batch_size: int = 256) -> xr.Dataset:
    """Translation, point-group and spin-flip errors per layer, for the model with each padding.

    Args:
        model: a built Sequential.
        x: configurations (n, C, L, L) (a few per temperature suffice: the errors are exact identities).
        paddings: rebuild the model with these paddings (same weights) and analyse each.
        shifts: lattice shifts; default every shift of the torus.

    Returns:
        Dataset with ``translation_error (padding, layer, shift_y, shift_x)``,
        ``pointgroup_error (padding, layer, symmetry)``, ``odd_error``, ``even_error``,
        ``maxpool_odd_error``, ``maxpool_minpool_error`` (padding, layer), and the coordinates
        ``stride_multiple`` and ``cumulative_stride``.
    """
    parts = []
    for padding in paddings:
        variant = with_padding(model, padding)
        t = translation_errors(variant, x, shifts, batch_size)
        stride_multiple = t["stride_multiple"]  # a property of the architecture, the same for every padding
        t = t.reset_coords("stride_multiple", drop=True)
        part = xr.merge([t.to_dataset(), point_group_errors(variant, x, batch_size), spin_flip_errors(variant, x, batch_size)])
        parts.append(part.expand_dims(padding=[padding]))
    out = xr.concat(parts, dim="padding", coords="minimal", compat="override")
    out = out.assign_coords(stride_multiple=stride_multiple)
    paddings_used = sorted({str(getattr(layer, "padding", "")) for layer in model.layers if hasattr(layer, "padding")})
    return out.assign_attrs(model_paddings=",".join(paddings_used) or "none", n_samples=int(np.asarray(x).shape[0]))


def summary_table(report: xr.Dataset) -> list[dict]:
    """One row per (padding, layer): worst errors for stride-multiple and other shifts, point group, spin flip."""
    rows = []
    for padding in report["padding"].values:
        r = report.sel(padding=padding)
        mult = r["stride_multiple"].values
        for i, label in enumerate(r["layer"].values):
            t = r["translation_error"].values[i]
            done = np.isfinite(t)  # shifts that were analysed
            same, other = t[mult[i] & done], t[~mult[i] & done]
            rows.append({
                "padding": str(padding),
                "layer": str(label),
                "cumulative_stride": int(r["cumulative_stride"].values[i]),
                "translation_max_error": float(same.max()) if same.size else None,
                "translation_non_multiple_min_error": float(other.min()) if other.size else None,
                "pointgroup_max_error": float(r["pointgroup_error"].values[i, 1:].max()),
                "spinflip_odd_error": float(r["odd_error"].values[i]),
                "spinflip_even_error": float(r["even_error"].values[i]),
                "maxpool_odd_error": float(r["maxpool_odd_error"].values[i]),
                "maxpool_minpool_error": float(r["maxpool_minpool_error"].values[i]),
            })
    return rows


def format_table(rows: list[dict]) -> str:
    """The summary as fixed-width text."""
    head = f"{'padding':9s} {'layer':18s} {'stride':>6s} {'T_a (a=ks)':>11s} {'T_a other':>10s} {'D4 max':>9s} {'flip odd':>9s} {'flip even':>9s}"
    lines = [head, "-" * len(head)]
    for r in rows:
        same = "-" if r["translation_max_error"] is None else f"{r['translation_max_error']:.2e}"
        other = "-" if r["translation_non_multiple_min_error"] is None else f"{r['translation_non_multiple_min_error']:.2e}"
        lines.append(
            f"{r['padding']:9s} {r['layer'][:18]:18s} {r['cumulative_stride']:6d} {same:>11s} "
            f"{other:>10s} {r['pointgroup_max_error']:9.2e} {r['spinflip_odd_error']:9.2e} {r['spinflip_even_error']:9.2e}"
        )
        if np.isfinite(r["maxpool_odd_error"]):
            lines.append(f"{'':9s}   max pool: ||maxpool(-h)+maxpool(h)||/||.|| = {r['maxpool_odd_error']:.2e}, "
                         f"||maxpool(-h)+minpool(h)||/||.|| = {r['maxpool_minpool_error']:.2e}")
    return "\n".join(lines)


# -- figures ---------------------------------------------------------------------------------

_FLOOR = 1e-9  # errors below this (exact to float precision) share the lowest colour


def plot_translation_maps(report: xr.Dataset, *, fig=None):
    """Heat maps of the translation error over (a_y, a_x): a row per padding, a panel per layer;
    returns the Figure (``fig``: an empty Figure or SubFigure to draw in, default a new one)."""
    import matplotlib.colors as mcolors
    from fieldnet.analysis import plots

    n_pad, n_layers = report.sizes["padding"], report.sizes["layer"]
    fig, axes = plots.figure(n_pad, n_layers, size=(2.3 * n_layers + 1.2, 2.5 * n_pad + 0.6), squeeze=False, fig=fig)
    vmax = max(1.0, float(np.nanmax(report["translation_error"].values)))
    norm = mcolors.LogNorm(vmin=_FLOOR, vmax=vmax)
    image = None
    for p, padding in enumerate(report["padding"].values):
        for i, label in enumerate(report["layer"].values):
            ax = axes[p, i]
            e = np.clip(report["translation_error"].sel(padding=padding).values[i], _FLOOR, None)
            image = ax.imshow(e, origin="lower", cmap="magma", norm=norm, interpolation="nearest")
            broken = ~report["stride_multiple"].values[i]
            if broken.any():  # mark the shifts a stride forbids
                yy, xx = np.nonzero(broken)
                ax.plot(xx, yy, "x", color="cyan", ms=3, mew=0.6)
            s = int(report["cumulative_stride"].values[i])
            ax.set_title(f"{label}\n(stride {s})", fontsize=8)
            ax.grid(False)
            ax.tick_params(labelsize=7)
            if i == 0:
                ax.set_ylabel(f"{padding} padding\nshift $a_y$ (sites)", fontsize=8)
            if p == n_pad - 1:
                ax.set_xlabel("shift $a_x$ (sites)", fontsize=8)
    fig.colorbar(image, ax=axes, label=r"relative error $\|f(T_a x) - T_{a/s} f(x)\| / \|f(x)\|$ (black: $< 10^{-9}$)",
                 shrink=0.9)
    fig.suptitle("translation equivariance per layer (x: shift not a multiple of the stride; best feature-map shift)",
                 fontsize=9)
    return fig


def plot_symmetry_table(report: xr.Dataset, *, fig=None):
    """Heat map of point-group and spin-flip errors: rows = layers, columns = symmetries, a panel per
    padding; returns the Figure (``fig``: an empty Figure or SubFigure to draw in, default a new one)."""
    import matplotlib.colors as mcolors
    from fieldnet.analysis import plots

    cols = list(POINT_GROUP[1:]) + ["flip odd", "flip even"]
    n_pad, n_layers = report.sizes["padding"], report.sizes["layer"]
    fig, axes = plots.figure(1, n_pad, size=(5.2 * n_pad + 1.2, 0.45 * n_layers + 2.4), squeeze=False, fig=fig)
    norm = mcolors.LogNorm(vmin=_FLOOR, vmax=max(1.0, float(np.nanmax(report["pointgroup_error"].values)),
                                                  float(np.nanmax(report["even_error"].values))))
    image = None
    for p, padding in enumerate(report["padding"].values):
        r = report.sel(padding=padding)
        table = np.column_stack([r["pointgroup_error"].values[:, 1:], r["odd_error"].values, r["even_error"].values])
        ax = axes[0, p]
        image = ax.imshow(np.clip(table, _FLOOR, None), cmap="magma", norm=norm, aspect="auto", interpolation="nearest")
        for (i, j), v in np.ndenumerate(table):
            ax.text(j, i, f"{v:.0e}" if v >= _FLOOR else "0", ha="center", va="center", fontsize=6,
                    color="white" if v < 1e-2 else "black")
        ax.set_xticks(range(len(cols)), cols, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(n_layers), [str(v) for v in r["layer"].values], fontsize=8)
        ax.set_title(f"{padding} padding")
        ax.grid(False)
    fig.colorbar(image, ax=axes, label=r"relative error $\|f(g x) - g f(x)\| / \|f(x)\|$ (black: $< 10^{-9}$)")
    fig.suptitle("point group of the square and spin flip, per layer", fontsize=10)
    return fig
