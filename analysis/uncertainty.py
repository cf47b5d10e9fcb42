"""Monte Carlo dropout (Gal and Ghahramani 2016): the predictive mean and spread of p(ordered).

The trained network is run many times with its Dropout layers sampling masks as in training (and
every other layer, BatchNorm included, in evaluation mode, so no running statistic changes).  Each
pass is a draw from an approximate posterior over networks; the spread of p(ordered) over passes
is the model's own uncertainty, which should peak near Tc where the phases are hard to tell apart.
Masks are drawn here with the Dropout layer's rule (keep with probability 1 - rate, scale by
1/(1 - rate)) from generators seeded by ``seed``, so reruns agree whatever the batch size, and the
model's own dropout streams (part of training checkpoints) are not touched.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from fieldnet.analysis.samples import ORDERED_INDEX

from fieldnet.errors import FieldnetError
from fieldnet.io.cf import temperature_attrs


def dropout_layers(model) -> list:
    """The model's top-level Dropout layers with a positive rate; a one-line error when there are none."""
    from fieldnet.engine.layers import Dropout

    found = [layer for layer in model.layers if isinstance(layer, Dropout) and layer.p > 0]
    if not found:
        raise FieldnetError("the model has no Dropout layer (with rate > 0), so MC dropout has nothing to sample; "
                            "train a model with a Dropout layer, e.g. before its last Dense layer")
    return found


def mc_dropout_probabilities(model, x: np.ndarray, n_passes: int = 30, seed: int = 0, batch_size: int = 256) -> np.ndarray:
    """p(ordered) of every configuration in every stochastic pass.

    Args:
        model: a built Sequential with Dropout; x: configurations (N, C, *spatial).
        n_passes: stochastic forward passes.
        seed: seeds the dropout masks; a sample's masks depend only on (seed, pass, its position).

    Returns:
        (N, n_passes) float64 probabilities.
    """
    from fieldnet.engine.losses import sigmoid, softmax

    if n_passes < 2:
        raise FieldnetError(f"MC dropout needs at least 2 passes to measure a spread, got {n_passes}")
    drops = dropout_layers(model)
    x = np.asarray(x, dtype=np.float32)
    out = np.empty((x.shape[0], n_passes))
    for k in range(n_passes):
        # one mask stream per (pass, Dropout layer), consumed batch after batch in sample order, so a
        # sample's masks do not depend on the batch size or on the samples after it
        streams = {id(layer): np.random.default_rng([seed, k, j]) for j, layer in enumerate(drops)}
        for start in range(0, x.shape[0], batch_size):
            h = x[start : start + batch_size]
            for layer in model.layers:
                if id(layer) in streams:  # the Dropout layer's training-mode rule, with our own masks
                    keep = streams[id(layer)].random(h.shape, dtype=np.float32) >= layer.p
                    h = h * (keep.astype(h.dtype) / h.dtype.type(1.0 - layer.p))
                else:
                    h = layer.forward(h, training=False)
            z = np.asarray(h, dtype=np.float64)
            out[start : start + len(z), k] = sigmoid(z[:, 0]) if z.shape[1] == 1 else softmax(z)[:, ORDERED_INDEX]
    return out


def mc_dropout(model, ds: xr.Dataset, n_passes: int = 30, seed: int = 0) -> xr.Dataset:
    """Predictive mean and spread of p(ordered), per sample and per temperature.

    Args:
        model: a built Sequential with Dropout.
        ds: ``config (sample, ...)`` and ``temperature (sample)`` (J/k_B).

    Returns:
        Dataset with per-sample ``p_mean``, ``p_std`` (over passes) and per-temperature
        ``mean`` (over passes and samples), ``mc_std`` (mean over samples of the spread over
        passes: the model's uncertainty), ``sample_std`` (spread over samples of the per-sample
        mean: configuration-to-configuration variation), ``deterministic`` (mean p(ordered) with
        dropout off).
    """
    x = np.asarray(ds["config"].values, dtype=np.float32)
    T = np.asarray(ds["temperature"].values, dtype=np.float64)
    p = mc_dropout_probabilities(model, x, n_passes, seed)
    det = model.predict_proba(x)[:, ORDERED_INDEX].astype(np.float64)
    temps = np.unique(T)
    p_mean, p_std = p.mean(axis=1), p.std(axis=1, ddof=1)
    per_T = {name: np.empty(temps.size) for name in ("mean", "mc_std", "sample_std", "deterministic")}
    for i, t in enumerate(temps):
        sel = T == t
        per_T["mean"][i] = p[sel].mean()
        per_T["mc_std"][i] = p_std[sel].mean()
        per_T["sample_std"][i] = p_mean[sel].std(ddof=1) if sel.sum() > 1 else np.nan
        per_T["deterministic"][i] = det[sel].mean()
    return xr.Dataset(
        {
            "p_mean": ("sample", p_mean, {"long_name": "MC-dropout mean of p(ordered)"}),
            "p_std": ("sample", p_std, {"long_name": "MC-dropout std of p(ordered) over passes"}),
            "mean": ("temperature", per_T["mean"], {"long_name": "predictive mean of p(ordered)"}),
            "mc_std": ("temperature", per_T["mc_std"], {"long_name": "mean over samples of the std over passes"}),
            "sample_std": ("temperature", per_T["sample_std"], {"long_name": "std over samples of the per-sample mean"}),
            "deterministic": ("temperature", per_T["deterministic"], {"long_name": "mean p(ordered) without dropout"}),
        },
        coords={"sample_temperature": ("sample", T, temperature_attrs("temperature of the configuration")),
                "temperature": ("temperature", temps, temperature_attrs())},
        attrs={"n_passes": n_passes, "seed": seed},
    )


def plot_uncertainty(result: xr.Dataset, tc: float | None = None, *, fig=None):
    """p(ordered) with its MC-dropout band against T (top) and the spreads against T (bottom);
    returns the Figure (``fig``: an empty Figure or SubFigure to draw in, default a new one)."""
    from fieldnet.analysis import plots

    T = result["temperature"].values
    fig, (top, bottom) = plots.figure(2, 1, size=(6.4, 6.4), sharex=True, fig=fig)
    top.fill_between(T, result["mean"] - result["mc_std"], result["mean"] + result["mc_std"], alpha=0.3,
                     label=r"MC dropout mean $\pm$ std over passes")
    top.plot(T, result["mean"], "o-", label=f"MC dropout mean ({int(result.attrs['n_passes'])} passes)")
    top.plot(T, result["deterministic"], "s--", color="gray", label="dropout off")
    top.set_ylabel("p(ordered)")
    top.set_ylim(-0.02, 1.02)
    bottom.plot(T, result["mc_std"], "o-", label="std over passes (model uncertainty)")
    bottom.plot(T, result["sample_std"], "^:", label="std over configurations")
    bottom.set_ylabel("standard deviation of p(ordered)")
    bottom.set_xlabel(plots.T_LABEL)
    for ax in (top, bottom):
        if tc is not None and np.isfinite(tc):
            plots.mark_vertical(ax, tc, f"Tc = {tc:.3f}")
        ax.legend()
    top.set_title("Monte Carlo dropout")
    return fig
