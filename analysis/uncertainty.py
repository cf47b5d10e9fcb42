"""Monte Carlo dropout: how sure a network is of its phase, configuration by configuration, across T.

A network trained with Dropout defines, with the dropout masks kept on at prediction time, a
distribution of networks (Gal & Ghahramani 2016).  ``n_passes`` stochastic passes over the same
configuration give ``n_passes`` values of p(ordered); their mean is the predictive probability and
their spread the model's own (epistemic) uncertainty.  Every other layer stays in inference mode
(BatchNorm uses its running statistics), so a prediction never depends on the other samples in its
batch.

Per configuration:

* ``p_mean``, ``p_std``: mean and standard deviation of p(ordered) over the passes;
* ``p_deterministic``: p(ordered) with dropout off (the usual prediction);
* ``entropy``: binary entropy of ``p_mean`` (nats) -- total predictive uncertainty;
* ``mutual_information``: entropy of the mean minus the mean entropy of the passes (nats, BALD) --
  the part of the uncertainty that comes from the network, not from the configuration itself.

Near Tc both spread and mutual information peak: configurations there look like neither phase.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import xarray as xr

from analysis.samples import ORDERED_INDEX
from fieldnet.errors import FieldnetError


def _leaves(layers) -> Iterator:
    for layer in layers:
        subs = layer.sublayers() if hasattr(layer, "sublayers") else []
        if subs:
            yield from _leaves(subs)
        else:
            yield layer


def dropout_layers(model) -> list:
    """The model's Dropout layers with a positive rate (also inside residual blocks), in order."""
    from fieldnet.layers.regularization import Dropout

    return [leaf for leaf in _leaves(model.layers) if isinstance(leaf, Dropout) and leaf.rate > 0]


def require_dropout(model) -> list:
    """:func:`dropout_layers`, or a one-line error saying how to get a model that has one."""
    drops = dropout_layers(model)
    if not drops:
        raise FieldnetError(
            "the model has no Dropout layer (with rate > 0), so MC dropout has nothing to sample; "
            'train one from an --architecture file with e.g. {"type": "Dropout", "rate": 0.2} before the last Dense'
        )
    return drops


@contextmanager
def dropout_on(model, seed: int):
    """Keep every Dropout layer stochastic while the rest of ``model`` predicts in inference mode.

    The mask streams are reseeded from ``seed`` (one independent stream per Dropout layer) and
    restored afterwards, so the model object is left as it was found.
    """
    drops = require_dropout(model)
    saved = [d.rng_state for d in drops]
    streams = np.random.SeedSequence(seed).spawn(len(drops))
    try:
        for d, ss in zip(drops, streams, strict=True):
            d.rng_state = np.random.default_rng(ss).bit_generator.state
            # Sequential.forward(x, training=False) calls layer.forward(x, False): this instance
            # attribute makes the call sample a mask regardless
            d.forward = lambda x, training=False, _layer=d: type(_layer).forward(_layer, x, True)
        yield drops
    finally:
        for d, state in zip(drops, saved, strict=True):
            d.__dict__.pop("forward", None)
            d.rng_state = state


def mc_dropout_passes(model, x: np.ndarray, n_passes: int = 30, seed: int = 0, batch_size: int = 256) -> np.ndarray:
    """p(ordered) of every configuration in every stochastic pass.

    Args:
        model: a built ``Sequential`` with at least one Dropout layer.
        x: configurations (N, C, *spatial), float32.
        n_passes: number of stochastic forward passes.
        seed: seeds the dropout masks (same seed, same result).

    Returns:
        (n_passes, N) float32 probabilities in [0, 1].
    """
    if n_passes < 2:
        raise FieldnetError(f"MC dropout needs at least 2 passes to measure a spread, got {n_passes}")
    out = np.empty((n_passes, len(x)), np.float32)
    with dropout_on(model, seed):
        for k in range(n_passes):
            out[k] = model.predict_proba(x, batch_size)[:, ORDERED_INDEX]
    return out


def _binary_entropy(p: np.ndarray) -> np.ndarray:
    """H(p) in nats, 0 at p in {0, 1}."""
    p = np.clip(np.asarray(p, np.float64), 0.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -(p * np.log(p) + (1 - p) * np.log1p(-p))
    return np.nan_to_num(h, nan=0.0)


def mc_dropout(model, data: xr.Dataset, n_passes: int = 30, seed: int = 0, batch_size: int = 256,
               keep_passes: bool = False) -> xr.Dataset:
    """Per-configuration MC-dropout statistics of p(ordered).

    Args:
        model: a built ``Sequential`` with a Dropout layer, two-class output (column 1 = ordered).
        data: ``config (sample, channel, *spatial)`` and ``temperature (sample)`` in units of J/k_B.
        n_passes: stochastic passes per configuration.
        seed: seeds the dropout masks.
        keep_passes: also return every pass as ``p_pass (pass, sample)``.

    Returns:
        Dataset over ``sample`` (coordinate ``temperature``) with ``p_mean``, ``p_std``,
        ``p_deterministic``, ``entropy`` and ``mutual_information`` (nats).
    """
    x = np.asarray(data["config"].values, np.float32)
    passes = mc_dropout_passes(model, x, n_passes, seed, batch_size)
    p_det = model.predict_proba(x, batch_size)[:, ORDERED_INDEX]
    p_mean = passes.mean(axis=0, dtype=np.float64)
    entropy = _binary_entropy(p_mean)
    mutual = np.maximum(entropy - _binary_entropy(passes).mean(axis=0), 0.0)
    T = np.asarray(data["temperature"].values, np.float64)
    out = xr.Dataset(
        {
            "p_mean": ("sample", p_mean, {"long_name": "MC-dropout mean of p(ordered)"}),
            "p_std": ("sample", passes.std(axis=0, dtype=np.float64, ddof=1),
                      {"long_name": "MC-dropout standard deviation of p(ordered)"}),
            "p_deterministic": ("sample", p_det.astype(np.float64), {"long_name": "p(ordered), dropout off"}),
            "entropy": ("sample", entropy, {"long_name": "predictive entropy", "units": "nat"}),
            "mutual_information": ("sample", mutual,
                                   {"long_name": "mutual information (epistemic part)", "units": "nat"}),
        },
        coords={"temperature": ("sample", T, {"units": "J/k_B"})},
        attrs={"n_passes": int(n_passes), "seed": int(seed),
               "dropout_rates": [float(d.rate) for d in dropout_layers(model)]},
    )
    if keep_passes:
        out["p_pass"] = (("pass", "sample"), passes, {"long_name": "p(ordered) of each stochastic pass"})
    return out


def uncertainty_by_temperature(per_sample: xr.Dataset) -> xr.Dataset:
    """Averages of :func:`mc_dropout` over the configurations at each temperature.

    Returns:
        Dataset over ``temperature`` with the means of every per-sample variable, ``p_mean_spread``
        (standard deviation of ``p_mean`` between configurations) and ``n_samples``.
    """
    names = ["p_mean", "p_std", "p_deterministic", "entropy", "mutual_information"]
    grouped = per_sample[names].groupby("temperature")
    means = grouped.mean()
    means["p_mean_spread"] = per_sample["p_mean"].groupby("temperature").std(ddof=0)
    means["p_mean_spread"].attrs["long_name"] = "spread of p_mean between configurations"
    means["n_samples"] = per_sample["p_mean"].groupby("temperature").count()
    for name in names:
        means[name].attrs = dict(per_sample[name].attrs)
    means.attrs = dict(per_sample.attrs)
    return means


def most_uncertain_temperature(by_T: xr.Dataset, variable: str = "p_std") -> float:
    """Temperature (J/k_B) where the mean of ``variable`` over configurations is largest."""
    values = np.asarray(by_T[variable].values, np.float64)
    if values.size == 0 or not np.isfinite(values).any():
        return float("nan")
    return float(by_T["temperature"].values[int(np.nanargmax(values))])


def plot_uncertainty(per_sample: xr.Dataset, by_T: xr.Dataset, path, tc: float | None = None):
    """Two panels against T: p(ordered) (MC mean with +-1 std band, deterministic, single configurations)
    and the uncertainty measures (mean std, spread between configurations, mutual information)."""
    from analysis import plots

    fig, (top, bottom) = plots.figure(2, 1, size=(6.6, 6.4), sharex=True)
    T = by_T["temperature"].values
    mean, std = by_T["p_mean"].values, by_T["p_std"].values
    top.scatter(per_sample["temperature"].values, per_sample["p_mean"].values, s=6, color="0.6", alpha=0.5,
                label="single configurations (MC mean)", zorder=1)
    top.fill_between(T, np.clip(mean - std, 0, 1), np.clip(mean + std, 0, 1), color="C0", alpha=0.25,
                     label=r"MC mean $\pm$ mean MC std", zorder=2)
    top.plot(T, mean, "o-", color="C0", label="MC-dropout mean", zorder=3)
    top.plot(T, by_T["p_deterministic"].values, "s--", color="C1", label="dropout off", zorder=3)
    top.set_ylabel("p(ordered)")
    top.set_ylim(-0.03, 1.03)
    n_lo, n_hi = int(by_T["n_samples"].values.min()), int(by_T["n_samples"].values.max())
    per_T = str(n_lo) if n_lo == n_hi else f"{n_lo}-{n_hi}"
    top.set_title(f"MC dropout: {per_sample.attrs.get('n_passes', '?')} passes, {per_T} configurations per T")
    bottom.plot(T, std, "o-", color="C0", label="MC std of p (mean over configurations)")
    bottom.plot(T, by_T["p_mean_spread"].values, "^-", color="C2", label="std of MC mean between configurations")
    bottom.plot(T, by_T["mutual_information"].values, "d-", color="C3", label="mutual information (nat)")
    t_peak = most_uncertain_temperature(by_T)
    for ax in (top, bottom):
        if tc is not None and np.isfinite(tc):
            plots.mark_vertical(ax, tc, rf"$T_c$ = {tc:.4g}")
        plots.mark_vertical(ax, t_peak, f"largest MC std, T = {t_peak:.3g}", color="C0", style=":")
    bottom.set_xlabel(plots.T_LABEL)
    bottom.set_ylabel("uncertainty (p units; MI in nat)")
    bottom.set_ylim(bottom=0)
    top.legend(loc="best")
    bottom.legend(loc="best")
    return plots.save(fig, path)
