"""Learning by confusion (van Nieuwenburg, Liu and Huber, Nature Physics 13, 435 (2017)).

For a model whose critical temperature is unknown: propose a critical temperature T', label the
samples with T < T' "ordered" and the rest "disordered", train a fresh small network, and
record its test accuracy P(T').  At the two ends of the temperature range every sample gets the
same label and P = 1 trivially.  At the true Tc the labels agree with the physics and the network
separates them well, so P has a local maximum there; in between, the labels contradict what the
configurations show and P dips.  The resulting W-shaped curve's central peak estimates Tc.

Each proposal trains from scratch on the same train/test split (per temperature, so every T is in
both), with the same seed, so the curve's wiggles come from the labels, not the split.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np
import xarray as xr
from fieldnet.analysis import samples

from fieldnet.errors import FieldnetError
from fieldnet.io.cf import temperature_attrs

#: train_fn(x_train (n, d) float32, y_train (n,) int {0,1}, x_test (m, d) float32, seed) -> (m,) predicted class
TrainFn = Callable[[np.ndarray, np.ndarray, np.ndarray, int], np.ndarray]


# -- inputs ----------------------------------------------------------------------------------


def load_configurations(data: str | os.PathLike | xr.Dataset, L: int | None = None) -> xr.Dataset:
    """The ``config`` and ``temperature`` of one lattice size of a ``fieldnet simulate`` file (in memory)."""
    return samples.load_configurations(data, L, optional=())


def features(config: np.ndarray, kind: str = "config") -> np.ndarray:
    """Per-sample input vectors for the confusion network.

    Args:
        config: (N, C, *spatial) configurations (int8 spins or float fields).
        kind: ``"config"`` -- the flattened configuration, (N, C * prod(spatial)), which leaves
            all the learning to the network (the method's spirit); ``"summary"`` -- per channel the
            absolute mean and the mean nearest-neighbour product along each axis (periodic),
            (N, C * (1 + ndim)): much cheaper for large lattices, but it presumes what the order
            looks like.

    Returns:
        float32 array (N, d).
    """
    x = np.asarray(config, dtype=np.float32)
    if kind == "config":
        return x.reshape(x.shape[0], -1)
    if kind == "summary":
        axes = tuple(range(2, x.ndim))
        cols = [np.abs(x.mean(axis=axes))]
        for ax in axes:
            cols.append((x * np.roll(x, 1, axis=ax)).mean(axis=axes))
        return np.concatenate(cols, axis=1).astype(np.float32)
    raise FieldnetError(f"unknown feature kind {kind!r}; choose 'config' or 'summary'")


# -- the default trainer: a small Dense network --------------------------------------------


def mlp_trainer(hidden: int = 16, epochs: int = 60, batch_size: int = 64, learning_rate: float = 1e-2) -> TrainFn:
    """A trainer for :func:`confusion_curve`: Dense(hidden) - ReLU - Dense(2), softmax cross-entropy, Adam,
    built with the fieldnet engine.  Inputs are standardised with the training set's mean and
    standard deviation.

    Args:
        hidden: hidden units.
        epochs: passes over the training set.
        batch_size: mini-batch size.
        learning_rate: Adam step size.
    """

    def train(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, seed: int) -> np.ndarray:
        mu = x_train.mean(axis=0)
        sd = x_train.std(axis=0) + 1e-6
        xt, xs = (x_train - mu) / sd, (x_test - mu) / sd
        return _dense_classifier(xt, y_train, xs, seed, hidden, epochs, batch_size, learning_rate)

    return train


def _dense_classifier(x, y, x_test, seed, hidden, epochs, batch_size, lr):
    """Dense-ReLU-Dense trained by Adam on softmax cross-entropy with the shared training loop
    (:func:`fieldnet.training.trainer.fit`: seeded shuffling, no augmentation, no validation
    split, a constant learning rate); returns the predicted classes of x_test."""
    from fieldnet.engine.layers import Dense
    from fieldnet.engine.model import Sequential
    from fieldnet.training.trainer import fit

    model = Sequential([Dense(hidden, activation="relu"), Dense(2)], input_shape=(x.shape[1],), seed=seed)
    fit(model, np.asarray(x, np.float32), np.asarray(y), epochs=epochs, batch_size=batch_size, optimizer="adam",
        lr=lr, schedule="constant", val_fraction=0.0, patience=0, augment=False, seed=seed)
    return np.argmax(model.predict(np.asarray(x_test, np.float32)), axis=1)


# -- the curve -------------------------------------------------------------------------------


def split_per_temperature(T: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks (train, test) that put ``test_fraction`` of each temperature's samples in the test set."""
    rng = np.random.default_rng(seed)
    test = np.zeros(T.size, dtype=bool)
    for t in np.unique(T):
        idx = np.flatnonzero(T == t)
        k = max(1, int(round(test_fraction * idx.size))) if idx.size > 1 else 0
        test[rng.choice(idx, size=k, replace=False)] = True
    return ~test, test


def default_grid(temperatures: np.ndarray) -> np.ndarray:
    """Proposed critical temperatures: the midpoints between consecutive data temperatures, plus
    one proposal below and one above the range (the trivial ends).  Every proposal then gives a
    different labelling; proposals between the same two data temperatures would repeat one."""
    t = np.unique(np.asarray(temperatures, dtype=np.float64))
    if t.size < 2:
        raise FieldnetError("learning by confusion needs samples at 3 or more temperatures")
    mids = 0.5 * (t[1:] + t[:-1])
    return np.concatenate([[t[0] - 0.5 * (t[1] - t[0])], mids, [t[-1] + 0.5 * (t[-1] - t[-2])]])


def confusion_curve(
    data: str | os.PathLike | xr.Dataset,
    proposed_Tc_grid: Sequence[float] | np.ndarray | None = None,
    train_fn: TrainFn | None = None,
    *,
    L: int | None = None,
    feature_kind: str = "config",
    test_fraction: float = 0.3,
    seed: int = 0,
    n_repeats: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> xr.DataArray:
    """The confusion accuracy P(T') for each proposed critical temperature T'.

    Args:
        data: a data file written by ``fieldnet simulate`` (one lattice size is used), or a Dataset
            with ``config (sample, channel, ...)`` and ``temperature (sample)`` (J/k_B).
        proposed_Tc_grid: proposed critical temperatures T', shape (P,), J/k_B; default
            :func:`default_grid` (midpoints between the data temperatures).  Proposals between the
            same two data temperatures give the same labels and share one training.
        train_fn: trains a fresh classifier and predicts the test set (see :data:`TrainFn`);
            default :func:`mlp_trainer` ().
        L: the lattice size to read from a file holding several.
        feature_kind: network input, see :func:`features`.
        test_fraction: share of each temperature's samples held out to measure the accuracy.
        seed: seed of the split and of every training (the same for every T').
        n_repeats: independent repeats (split and initialisation seeded seed, seed+1, ...); the
            curve is their mean, which averages out training noise.
        progress: called as progress(done, total) after each training.

    Returns:
        DataArray ``accuracy (proposed_Tc)`` (test accuracy, in [0, 1]) with coordinates
        ``proposed_Tc`` (J/k_B), ``stderr`` (binomial standard error sqrt(P(1-P)/n_test) for one
        repeat; with repeats, the larger of that/sqrt(R) and the spread of the repeats/sqrt(R)),
        ``trivial`` (True where every sample carries the same label, so P = 1 without training)
        Attribute ``repeat_peaks``: the peak estimate of each repeat on its own (NaN where a
        repeat has none), used by :func:`peak_estimate` for the error.
        Attributes: ``n_train``, ``n_test``, ``L``, ``feature_kind``.
    """
    ds = load_configurations(data, L)
    T = np.asarray(ds["temperature"].values, dtype=np.float64)
    x = features(ds["config"].values, feature_kind)
    grid = default_grid(T) if proposed_Tc_grid is None else np.sort(np.asarray(proposed_Tc_grid, dtype=np.float64))
    if grid.ndim != 1 or grid.size < 3:
        raise FieldnetError("give at least 3 proposed critical temperatures")
    if np.unique(T).size < 3:
        raise FieldnetError("learning by confusion needs samples at 3 or more temperatures")
    if n_repeats < 1:
        raise FieldnetError("n_repeats must be at least 1")
    trainer = train_fn or mlp_trainer()
    temps = np.unique(T)
    runs = np.empty((n_repeats, grid.size))
    trivial = np.zeros(grid.size, dtype=bool)
    total, count = n_repeats * grid.size, 0
    for r in range(n_repeats):
        train, test = split_per_temperature(T, test_fraction, seed + r)
        done: dict[int, float] = {}  # proposals between the same two data temperatures label alike
        for i, t_prop in enumerate(grid):
            y = (T < t_prop).astype(np.int64)  # 1 = "ordered" below the proposed Tc
            key = int(np.searchsorted(temps, t_prop, side="left"))
            if y.min() == y.max():
                runs[r, i], trivial[i] = 1.0, True
            elif key in done:
                runs[r, i] = done[key]
            else:
                pred = np.asarray(trainer(x[train], y[train], x[test], seed + r))
                runs[r, i] = done[key] = float(np.mean(pred == y[test]))
            count += 1
            if progress is not None:
                progress(count, total)
    acc = runs.mean(axis=0)
    n_test = int(test.sum())
    stderr = np.sqrt(acc * (1 - acc) / max(n_test, 1) / n_repeats)
    if n_repeats > 1:
        stderr = np.maximum(stderr, runs.std(axis=0, ddof=1) / np.sqrt(n_repeats))
    L_attr = ds.attrs.get("L", L if L is not None else -1)
    curve = xr.DataArray(
        acc,
        dims=("proposed_Tc",),
        coords={
            "proposed_Tc": ("proposed_Tc", grid, temperature_attrs("proposed critical temperature")),
            "stderr": ("proposed_Tc", stderr, {"long_name": "standard error of the test accuracy", "units": "1"}),
            "trivial": ("proposed_Tc", trivial, {"long_name": "every sample carries the same label"}),
        },
        name="accuracy",
        attrs={
            "long_name": "test accuracy of a network trained with labels T < T' -> ordered",
            "units": "1",
            "n_train": int(train.sum()),
            "n_test": n_test,
            "L": int(np.ravel(L_attr)[0]),
            "feature_kind": feature_kind,
            "seed": int(seed),
            "n_repeats": int(n_repeats),
        },
    )
    if n_repeats > 1:
        peaks = []
        for r in range(n_repeats):
            single = curve.copy(data=runs[r]).assign_coords(
                stderr=("proposed_Tc", np.sqrt(runs[r] * (1 - runs[r]) / max(n_test, 1))))
            try:
                peaks.append(peak_estimate(single)[0])
            except FieldnetError:
                peaks.append(np.nan)
        curve.attrs["repeat_peaks"] = np.asarray(peaks)
    return curve


def peak_estimate(curve: xr.DataArray) -> tuple[float, float]:
    """The central peak of a W-shaped confusion curve: (Tc, error), J/k_B.

    The trivial end points (every label the same) are ignored.  Among the remaining proposals,
    the two dips are the minima of the left and right halves, and the peak is the maximum
    strictly between them, refined by a parabola through it and its two neighbours.  The error
    is the half-width of the contiguous run of proposals around the peak whose accuracy is within
    one combined standard error of the maximum (those are statistically as good), at least half
    the grid spacing, and, for a curve averaged over repeats, at least the standard error of the
    peaks of the single repeats.

    Raises:
        FieldnetError: too few non-trivial proposals, or no peak between the two dips (the grid
            may not cover the transition, or the network cannot tell the phases apart).
    """
    keep = ~np.asarray(curve["trivial"].values, dtype=bool) if "trivial" in curve.coords else np.ones(curve.size, bool)
    T = np.asarray(curve["proposed_Tc"].values, dtype=np.float64)[keep]
    P = np.asarray(curve.values, dtype=np.float64)[keep]
    se = np.asarray(curve["stderr"].values, dtype=np.float64)[keep] if "stderr" in curve.coords else np.zeros_like(P)
    if T.size < 5:
        raise FieldnetError(f"a confusion peak needs at least 5 non-trivial proposals, got {T.size}; use a finer --T-grid")
    half = T.size // 2
    i_lo = int(np.argmin(P[:half]))
    i_hi = half + int(np.argmin(P[half:]))
    if i_hi - i_lo < 2:
        raise FieldnetError("the confusion curve has no central peak between its two dips; widen or refine the grid")
    i_pk = i_lo + 1 + int(np.argmax(P[i_lo + 1 : i_hi]))
    if P[i_pk] <= max(P[i_lo], P[i_hi]):
        raise FieldnetError("the confusion curve has no central peak above its dips; the network may not see the transition")
    tc = T[i_pk]
    if 0 < i_pk < T.size - 1:
        y0, y1, y2 = P[i_pk - 1 : i_pk + 2]
        denom = y0 - 2 * y1 + y2
        if denom < 0:
            shift = 0.5 * (y0 - y2) / denom
            if abs(shift) <= 1:
                step = (T[i_pk + 1] - T[i_pk - 1]) / 2
                tc = T[i_pk] + shift * step
    def as_good(j: int) -> bool:  # statistically indistinguishable from the maximum
        return P[j] >= P[i_pk] - np.hypot(se[j], se[i_pk])

    lo = i_pk
    while lo - 1 > i_lo and as_good(lo - 1):
        lo -= 1
    hi = i_pk
    while hi + 1 < i_hi and as_good(hi + 1):
        hi += 1
    spacing = float(np.median(np.diff(T)))
    err = max(0.5 * (T[hi] - T[lo]), 0.5 * spacing)
    peaks = np.asarray(curve.attrs.get("repeat_peaks", []), dtype=np.float64).ravel()
    peaks = peaks[np.isfinite(peaks)]
    if peaks.size > 1:
        err = max(err, float(np.std(peaks, ddof=1) / np.sqrt(peaks.size)))
    return float(tc), float(err)


def plot_confusion(curve: xr.DataArray, *, peak: tuple[float, float] | None = None, tc_reference: float | None = None,
                   title: str | None = None, ax=None):
    """Accuracy against the proposed Tc, with the peak estimate and a reference Tc marked.

    Args:
        curve: :func:`confusion_curve` output.
        peak: (Tc, error) from :func:`peak_estimate`, drawn with a band.
        tc_reference: known Tc, dashed (skipped when None/NaN).
        title: the panel title (default: "Learning by confusion, L = ...").
        ax: the Axes to draw into (default: a new figure).

    Returns:
        The Figure drawn on.
    """
    from fieldnet.analysis import plots

    fig, ax = plots.panel(ax, size=(6.4, 5.0))
    T = curve["proposed_Tc"].values
    se = curve["stderr"].values if "stderr" in curve.coords else None
    ax.errorbar(T, curve.values, yerr=se, marker="o", color="tab:blue", label="test accuracy")
    if "trivial" in curve.coords and curve["trivial"].values.any():
        tr = curve["trivial"].values.astype(bool)
        ax.plot(T[tr], curve.values[tr], "o", mfc="white", color="tab:blue", markersize=7, zorder=5,
                label="trivial end (one label only)")
    if peak is not None:
        plots.mark_vertical(ax, peak[0], rf"central peak $T_c$ = {peak[0]:.3f} ± {peak[1]:.3f}", color="tab:red",
                            style="-", err=peak[1])
    if tc_reference is not None and np.isfinite(tc_reference):
        plots.mark_vertical(ax, tc_reference, rf"reference $T_c$ = {tc_reference:.4f}", color="k", style="--")
    ax.set_xlabel(r"proposed critical temperature $T'$ ($J/k_B$)")
    ax.set_ylabel("test accuracy")
    L = curve.attrs.get("L", -1)
    ax.set_title(title or ("Learning by confusion" + (f", L = {L}" if L and L > 0 else "")))
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncols=2)
    return fig
