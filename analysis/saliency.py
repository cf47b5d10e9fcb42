"""Where a classifier looks: occlusion maps, gradient saliency and Grad-CAM for p(ordered).

* Occlusion (Zeiler and Fergus 2014): a p x p patch centred on site (y, x), wrapped around the
  periodic lattice, is set to a neutral value (0: neither up nor down); the map is the change of
  p(ordered) it causes, p(occluded) - p(original).  Sites the output does not depend on give
  exactly zero.
* Gradient saliency (Simonyan et al. 2014): d p(ordered) / d x per site, the first-order version
  of the same question (back-propagated through the network).
* Grad-CAM (Selvaraju et al. 2017): the last convolution's feature maps A_c weighted by the
  spatial mean of d score / d A_c, summed over channels and rectified, then enlarged to the
  lattice (each feature-map site covers ``stride`` x ``stride`` lattice sites).  The score is the
  logit of the predicted class (ordered or disordered), so the map shows the evidence for the
  decision the network made.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from fieldnet.analysis.samples import ORDERED_INDEX

from fieldnet.errors import FieldnetError
from fieldnet.io.cf import temperature_attrs


def p_ordered(model, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """p(ordered) per sample, (N,), float64."""
    return model.predict_proba(np.asarray(x, dtype=np.float32), batch_size)[:, ORDERED_INDEX].astype(np.float64)


def _patch_offsets(patch: int) -> np.ndarray:
    """Offsets of a patch centred on a site (odd p exactly; even p one more site below/right)."""
    return np.arange(patch) - (patch - 1) // 2


def occlusion_map(model, x: np.ndarray, patch: int = 3, value: float = 0.0, batch_size: int = 256) -> np.ndarray:
    """Change of p(ordered) when a periodic p x p patch centred on each site is set to ``value``.

    Args:
        model: a built Sequential with outputs [disordered, ordered] (or one sigmoid output).
        x: configurations (N, C, L, L).
        patch: patch side in sites (1 <= patch <= L).
        value: the occluding value (0: no spin).

    Returns:
        (N, L, L) float64: p(occluded at (y, x)) - p(x).
    """
    x = np.asarray(x, dtype=np.float32)
    n, _, H, W = x.shape
    if not 1 <= patch <= min(H, W):
        raise FieldnetError(f"the occlusion patch must be 1..{min(H, W)} sites, got {patch}")
    base = p_ordered(model, x, batch_size)
    off = _patch_offsets(patch)
    # masks[q] marks the patch centred on site q = y * W + x, wrapped around the torus
    ys, xs = np.divmod(np.arange(H * W), W)
    masks = np.zeros((H * W, H, W), dtype=bool)
    masks[np.arange(H * W)[:, None, None], ((ys[:, None] + off) % H)[:, :, None], ((xs[:, None] + off) % W)[:, None, :]] = True
    out = np.empty((n, H * W))
    # every configuration with a chunk of patch positions per batch, a few million values at a time
    chunk = max(1, (1 << 22) // max(1, x[0].size * n))
    for start in range(0, H * W, chunk):
        m = masks[start : start + chunk]
        copies = np.where(m[None, :, None], np.float32(value), x[:, None])  # (n, chunk, C, H, W)
        p = p_ordered(model, copies.reshape((-1,) + x.shape[1:]), batch_size).reshape(n, len(m))
        out[:, start : start + len(m)] = p - base[:, None]
    return out.reshape(n, H, W)


def gradient_saliency(model, x: np.ndarray) -> np.ndarray:
    """d p(ordered) / d x, (N, C, L, L) float64 (chain rule through the softmax or sigmoid)."""
    x = np.asarray(x, dtype=np.float32)
    p = p_ordered(model, x)
    scale = (p * (1 - p))[:, None, None, None]
    out_dim = int(model.output_shape[0]) if model.output_shape else 2
    if out_dim == 1:
        return scale * model.input_gradient(x, 0).astype(np.float64)
    if out_dim != 2:
        raise FieldnetError(f"saliency of p(ordered) needs a model with 1 or 2 outputs, this one has {out_dim}")
    # p = softmax(z)[1] = sigmoid(z1 - z0)
    return scale * (model.input_gradient(x, 1).astype(np.float64) - model.input_gradient(x, 0).astype(np.float64))


def last_conv_index(model) -> int:
    """Index of the last convolution layer; a one-line error when there is none."""
    found = [i for i, layer in enumerate(model.layers) if type(layer).__name__.startswith("Conv")]
    if not found:
        raise FieldnetError("Grad-CAM needs a convolution layer; the model has none")
    return found[-1]


def grad_cam(model, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Grad-CAM of the predicted class on the last convolution, enlarged to the lattice.

    Args:
        model: a built Sequential; x: configurations (N, C, L, L).

    Returns:
        (cam (N, L, L) in [0, 1], each map divided by its maximum (all zero when no evidence),
        predicted class (N,) 1 ordered / 0 disordered).
    """
    x = np.asarray(x, dtype=np.float32)
    k = last_conv_index(model)
    h = x
    for i, layer in enumerate(model.layers):
        h = layer.forward(h, False)
        if i == k:
            feature = np.array(h, dtype=np.float64, copy=True)
    logits = np.asarray(h, dtype=np.float64)
    if logits.shape[1] == 1:
        predicted = (logits[:, 0] >= 0).astype(int)
        dout = np.where(predicted == 1, 1.0, -1.0)[:, None]
    else:
        predicted = (logits[:, ORDERED_INDEX] >= logits[:, 1 - ORDERED_INDEX]).astype(int)
        dout = np.zeros_like(logits)
        dout[np.arange(len(x)), predicted] = 1.0  # the predicted class's logit
    g = dout.astype(h.dtype)
    for layer in reversed(model.layers[k + 1 :]):
        g = layer.backward(g)
    weights = np.asarray(g, dtype=np.float64).mean(axis=(2, 3))  # (N, C)
    cam = np.maximum(np.einsum("nc,nchw->nhw", weights, feature), 0.0)
    peak = cam.max(axis=(1, 2), keepdims=True)
    cam = np.divide(cam, peak, out=np.zeros_like(cam), where=peak > 0)  # each map on its own scale, max 1
    H, W = x.shape[-2:]
    rows = np.arange(H) * cam.shape[1] // H  # each feature site covers H/H' lattice sites
    cols = np.arange(W) * cam.shape[2] // W
    return cam[:, rows[:, None], cols[None, :]], predicted


def saliency_maps(model, ds: xr.Dataset, patch: int = 3, value: float = 0.0) -> xr.Dataset:
    """Occlusion, gradient saliency and Grad-CAM for every configuration of ``ds``.

    Args:
        model: a built Sequential; ds: ``config (sample, channel, y, x)`` and ``temperature (sample)``.

    Returns:
        Dataset over ``sample`` with ``occlusion (sample, y, x)`` (change of p(ordered)),
        ``saliency (sample, channel, y, x)`` (d p/d x), ``gradcam (sample, y, x)`` (in [0, 1];
        NaN when the model has no convolution), ``p_ordered``, ``predicted_class``,
        ``temperature`` and ``config``.
    """
    x = np.asarray(ds["config"].values, dtype=np.float32)
    occ = occlusion_map(model, x, patch, value)
    sal = gradient_saliency(model, x)
    try:
        cam, predicted = grad_cam(model, x)
    except FieldnetError:
        cam = np.full(occ.shape, np.nan)
        predicted = (p_ordered(model, x) >= 0.5).astype(int)
    return xr.Dataset(
        {
            "config": (("sample", "channel", "y", "x"), x),
            "occlusion": (("sample", "y", "x"), occ, {"long_name": "change of p(ordered) by occlusion", "units": "1"}),
            "saliency": (("sample", "channel", "y", "x"), sal, {"long_name": "d p(ordered) / d spin", "units": "1"}),
            "gradcam": (("sample", "y", "x"), cam, {"long_name": "Grad-CAM of the predicted class, max 1 per map", "units": "1"}),
            "p_ordered": ("sample", p_ordered(model, x)),
            "predicted_class": ("sample", predicted.astype(np.int8), {"flag_values": "0 disordered, 1 ordered"}),
        },
        coords={"temperature": ("sample", np.asarray(ds["temperature"].values, dtype=np.float64), temperature_attrs())},
        attrs={"patch": patch, "occlusion_value": value},
    )


def plot_saliency(maps: xr.Dataset, *, fig=None):
    """A row per configuration (T ascending): spins, occlusion change, gradient saliency, Grad-CAM;
    returns the Figure (``fig``: an empty Figure or SubFigure to draw in, default a new one)."""
    from fieldnet.analysis import plots

    n = maps.sizes["sample"]
    fig, axes = plots.figure(n, 4, size=(11.0, 2.4 * n + 1.0), squeeze=False, fig=fig)
    occ_max = float(np.abs(maps["occlusion"].values).max()) or 1e-12
    sal = maps["saliency"].values[:, 0]
    sal_max = float(np.abs(sal).max()) or 1e-12
    cam = maps["gradcam"].values
    images = [None] * 4
    for r in range(n):
        t = float(maps["temperature"].values[r])
        p = float(maps["p_ordered"].values[r])
        panels = [
            (maps["config"].values[r, 0], "gray", -1, 1),
            (maps["occlusion"].values[r], "RdBu_r", -occ_max, occ_max),
            (sal[r], "PuOr_r", -sal_max, sal_max),
            (np.nan_to_num(cam[r]), "inferno", 0, 1),
        ]
        for c, (img, cmap, lo, hi) in enumerate(panels):
            ax = axes[r, c]
            images[c] = ax.imshow(img, cmap=cmap, vmin=lo, vmax=hi, interpolation="nearest")
            ax.grid(False)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r, 0].set_ylabel(f"$T$ = {t:.3g} $J/k_B$\np(ordered) = {p:.2f}", fontsize=8)
    titles = ["configuration", f"occlusion ({int(maps.attrs['patch'])}x{int(maps.attrs['patch'])} patch)",
              "gradient saliency", "Grad-CAM (predicted class)"]
    labels = ["spin", r"$\Delta p$(ordered)", r"$\partial p(\mathrm{ordered}) / \partial s_i$", "Grad-CAM (per map, max 1)"]
    for c in range(4):
        axes[0, c].set_title(titles[c], fontsize=9)
        fig.colorbar(images[c], ax=axes[:, c].tolist(), location="bottom", label=labels[c], shrink=0.9, pad=0.02)
    if not np.isfinite(cam).any():
        axes[0, 3].set_title("Grad-CAM: no convolution", fontsize=9)
    return fig
