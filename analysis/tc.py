"""The critical temperature from a classifier's predictions: where p(ordered) crosses 1/2.

Input is a predictions data set (``fieldnet predict`` output): ``probability (sample, class)``
with ``class = ["disordered", "ordered"]`` and per-sample coordinates ``temperature`` (J/k_B)
and ``L``.

Estimator.  For each L the per-temperature mean of p(ordered), m(T), is computed, and Tc(L) is
where m(T) crosses 1/2, found by a *local logistic fit*: a weighted straight line through
logit(m) at the two bracketing temperatures and one neighbour on each side.  A finite-size
p(T) is close to a logistic/tanh step, for which logit(m) is linear in T, so this is exact for
the ideal curve (plain linear interpolation of m is biased on a coarse grid unless the crossing
sits midway); it is closed-form weighted least squares, so it needs no starting values and never
fails to converge -- which matters inside a bootstrap of 1000 replicas -- and the neighbours
make it less sensitive to a fluctuation of one bracketing point than two-point interpolation.

Several crossings (statistical noise near 1/2, or a non-monotone network output): the
reported crossing is the one closest to where the *monotone (isotonic) regression* of m(T)
crosses 1/2; the isotonic fit is the least-squares non-increasing (or non-decreasing, following
the overall trend) curve, so its crossing locates the centre of the transition region
irrespective of local wiggles.  The number of raw crossings is reported as ``n_crossings``.

Errors: two independent sources, added in quadrature.

* *Samples* (the finite Monte Carlo data): a bootstrap.  Each replica resamples, with
  replacement, the samples within each temperature, recomputes m(T) and the crossing (the same
  rule as above); the standard deviation and the 16/84 percentiles of the replicas are reported.
* *Training* (the network is one draw from what its random initialisation, training/validation
  split, shuffling and augmentation can give): measured when the predictions come from an
  ensemble of K networks (``member_probability (network, sample, class)``, see
  :mod:`fieldnet.io.predictions`).  Then m(T)
  is the ensemble mean, each network's own crossing Tc_k(L) is found by the same rule, and the
  error of the ensemble's crossing is std_k(Tc_k) / sqrt(K).  For the 2D Ising model with the
  r1 network this is the larger of the two (a single network's crossing moves by ~0.01 J/k_B
  from seed to seed, 3-4 times the sample bootstrap's error at 200 samples per temperature), so
  a single network's error bar understates the real uncertainty: train several.
"""

from __future__ import annotations

import os

import numpy as np
import xarray as xr

from fieldnet.errors import DataFileError, FieldnetError

ORDERED = "ordered"
ONSAGER_TC = 2.0 / np.log(1.0 + np.sqrt(2.0))  # 2D Ising, J/k_B
_LOGIT_CLIP = 1e-6


# -- reading ---------------------------------------------------------------------------------


def load_predictions(path: str | os.PathLike) -> xr.Dataset:
    """Open and validate a predictions file written by ``fieldnet predict``.

    Uses :func:`fieldnet.io.predictions.open_predictions` when available, otherwise reads with
    xarray and checks the layout itself.

    Returns:
        Dataset with ``probability (sample, class)`` and coordinates ``temperature``, ``L``
        (and ``label``) on ``sample``; loaded into memory.

    Raises:
        DataFileError: the file is missing, unreadable or not a predictions file.
    """
    try:
        from fieldnet.io.predictions import open_predictions  # written by the trainer engineer
    except ImportError:
        open_predictions = None
    if open_predictions is not None:
        pred = open_predictions(path)
        check_predictions(pred, str(path))
        return pred.load()
    if not os.path.exists(path):
        raise DataFileError(f"{path}: no such file; give a predictions file written by 'fieldnet predict'")
    try:
        pred = xr.open_dataset(path, engine="h5netcdf", phony_dims="sort").load()
    except Exception as exc:  # h5py/h5netcdf raise a variety of types for foreign files
        raise DataFileError(
            f"{path} is not a readable netCDF/HDF5 file ({type(exc).__name__}); "
            "give a predictions file written by 'fieldnet predict'"
        ) from exc
    check_predictions(pred, str(path))
    return pred


def check_predictions(pred: xr.Dataset, where: str = "predictions") -> None:
    """Raise :class:`DataFileError` unless ``pred`` has the predictions layout."""
    fmt = pred.attrs.get("fieldnet_format")
    if isinstance(fmt, bytes):
        fmt = fmt.decode()
    if fmt is not None and str(np.ravel(fmt)[0]) != "predictions":
        raise DataFileError(
            f"{where} is a fieldnet '{np.ravel(fmt)[0]}' file, not predictions; run 'fieldnet predict MODEL DATA' first"
        )
    missing = [n for n in ("probability", "temperature", "L") if n not in pred.variables]
    if missing or "class" not in pred.dims:
        raise DataFileError(
            f"{where} is not a predictions file (missing {', '.join(missing) or 'class dimension'}); "
            "give the output of 'fieldnet predict'"
        )
    classes = [str(c) for c in np.asarray(pred["class"].values)]
    if ORDERED not in classes:
        raise DataFileError(f"{where} has classes {classes}; expected one named '{ORDERED}'")


def reference_tc(pred: xr.Dataset) -> float:
    """The reference critical temperature stored in the file (``Tc_reference``), NaN when unknown."""
    value = pred.attrs.get("Tc_reference", np.nan)
    try:
        return float(np.ravel(value)[0])
    except (TypeError, ValueError):
        return float("nan")


def _p_ordered(pred: xr.Dataset) -> xr.DataArray:
    return pred["probability"].sel({"class": ORDERED}).astype(np.float64)


def _per_temperature(p: np.ndarray, T: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    temps = np.unique(T)
    return temps, [p[T == t] for t in temps]


def _member_p_ordered(pred: xr.Dataset) -> np.ndarray | None:
    """Each network's p(ordered), shape (K, N), for an ensemble's predictions; None otherwise."""
    if "member_probability" not in pred.variables:
        return None
    members = pred["member_probability"].sel({"class": ORDERED}).astype(np.float64)
    return members.transpose("network", "sample").values


def _member_means(temps: np.ndarray, T: np.ndarray, members: np.ndarray) -> np.ndarray:
    """Each network's mean p(ordered) per temperature: members (K, n) at temperatures T (n,) ->
    (K, len(temps))."""
    return np.stack([members[:, T == t].mean(axis=1) for t in temps], axis=1)


def n_networks(pred: xr.Dataset) -> int:
    """How many networks the predictions come from (1 without ``member_probability``)."""
    return int(pred.sizes.get("network", 1)) if "member_probability" in pred.variables else 1


def _split_by_L(pred: xr.Dataset):
    """Per lattice size: ``(L, p (n,), T (n,), members (K, n) or None)`` for the finite samples."""
    p_all = _p_ordered(pred).values
    T_all = np.asarray(pred["temperature"].values, dtype=np.float64)
    members = _member_p_ordered(pred)
    # L may also be a scalar coordinate (a single lattice size)
    L_all = np.broadcast_to(np.asarray(pred["L"].values).astype(int), T_all.shape)
    ok = np.isfinite(p_all) & np.isfinite(T_all)
    if members is not None:
        ok &= np.all(np.isfinite(members), axis=0)
    for L in np.unique(L_all[ok]):
        sel = ok & (L_all == L)
        yield int(L), p_all[sel], T_all[sel], None if members is None else members[:, sel]


# -- the curve -------------------------------------------------------------------------------


def classified(pred: xr.Dataset) -> xr.Dataset:
    """The predictions with every probability replaced by the network's decision (1 for the class
    with p > 1/2, else 0).

    Averaged over samples, a decision is *the fraction of configurations classified ordered*,
    P(phi > theta | T, L) for the network's internal feature phi and threshold theta: set by how phi
    is distributed over the configurations at (T, L).  The mean probability also carries the network's
    confidence (the logistic width of its last layer), which each per-L network learns on its
    own and which does not scale with L; that width enters a data collapse as a spurious
    correction to the scaling of the curve's width with L (see :func:`fieldnet.analysis.fss.analyze_tc`).
    For an ensemble, each network decides and ``probability`` is the mean of the decisions.
    """
    def decide(prob: xr.DataArray) -> xr.DataArray:
        ordered = (prob.sel({"class": ORDERED}) > 0.5).astype(np.float32)
        return xr.where(prob["class"] == ORDERED, ordered, 1.0 - ordered).transpose(*prob.dims).astype(np.float32)

    if "member_probability" in pred.variables:
        members = decide(pred["member_probability"])
        return pred.assign(member_probability=members, probability=members.mean("network").astype(np.float32))
    return pred.assign(probability=decide(pred["probability"]))


def ordered_probability_curve(pred: xr.Dataset) -> xr.DataArray:
    """Mean probability of the ordered phase per lattice size and temperature.

    Args:
        pred: predictions data set (see module docstring), N samples.

    Returns:
        DataArray ``p_ordered (L, temperature)`` (dimensionless, in [0, 1]; ``temperature`` in
        J/k_B, the union of all L's temperatures, NaN where an L has no samples), with the
        non-index coordinates ``stderr (L, temperature)`` (standard error of the mean:
        std/sqrt(n) over samples; for an ensemble of K networks, combined in quadrature with the
        networks' spread std_k(m_k)/sqrt(K)) and ``count (L, temperature)`` (samples averaged).
        Attribute ``n_networks``.
    """
    groups = list(_split_by_L(pred))
    if not groups:
        raise FieldnetError("the predictions hold no finite probabilities")
    all_T = np.unique(np.concatenate([g[2] for g in groups]))
    Ls = [g[0] for g in groups]
    mean = np.full((len(Ls), all_T.size), np.nan)
    err = np.full_like(mean, np.nan)
    count = np.zeros(mean.shape, dtype=np.int64)
    for i, (_, p, T, members) in enumerate(groups):
        temps, chunks = _per_temperature(p, T)
        j = np.searchsorted(all_T, temps)
        for jj, c in zip(j, chunks, strict=True):
            mean[i, jj] = c.mean()
            err[i, jj] = c.std(ddof=1) / np.sqrt(c.size) if c.size > 1 else np.nan
            count[i, jj] = c.size
        if members is not None and members.shape[0] > 1:  # the networks' spread, per temperature
            m_k = _member_means(temps, T, members)
            err[i, j] = np.hypot(err[i, j], m_k.std(axis=0, ddof=1) / np.sqrt(m_k.shape[0]))
    return xr.DataArray(
        mean,
        dims=("L", "temperature"),
        coords={
            "L": np.asarray(Ls, dtype=np.int32),
            "temperature": xr.Variable("temperature", all_T, {"units": "J/k_B", "long_name": "temperature"}),
            "stderr": (("L", "temperature"), err, {"long_name": "standard error of the mean"}),
            "count": (("L", "temperature"), count),
        },
        name="p_ordered",
        attrs={"long_name": "mean probability of the ordered phase", "units": "1", "n_networks": n_networks(pred)},
    )


# -- crossings -------------------------------------------------------------------------------


def isotonic_fit(y: np.ndarray, w: np.ndarray | None = None, increasing: bool = False) -> np.ndarray:
    """Weighted least-squares monotone fit (pool-adjacent-violators).

    Args:
        y: values, shape (n,).
        w: positive weights, shape (n,); default 1.
        increasing: fit a non-decreasing curve (default non-increasing).

    Returns:
        The fitted values, shape (n,).
    """
    y = np.asarray(y, dtype=np.float64)
    w = np.ones_like(y) if w is None else np.asarray(w, dtype=np.float64)
    sign = 1.0 if increasing else -1.0
    vals: list[float] = []
    wts: list[float] = []
    sizes: list[int] = []
    for yi, wi in zip(sign * y, w, strict=True):
        vals.append(yi)
        wts.append(wi)
        sizes.append(1)
        while len(vals) > 1 and vals[-2] > vals[-1]:
            wt = wts[-2] + wts[-1]
            v = (vals[-2] * wts[-2] + vals[-1] * wts[-1]) / wt
            sz = sizes[-2] + sizes[-1]
            del vals[-1], wts[-1], sizes[-1]
            vals[-1], wts[-1], sizes[-1] = v, wt, sz
    return sign * np.repeat(vals, sizes)


def _logit(m: np.ndarray, eps: np.ndarray | float = _LOGIT_CLIP) -> np.ndarray:
    m = np.clip(m, eps, 1.0 - eps)
    return np.log(m / (1.0 - m))


def crossings(
    T: np.ndarray,
    m: np.ndarray,
    level: float = 0.5,
    eps: np.ndarray | float = _LOGIT_CLIP,
    n: np.ndarray | None = None,
) -> np.ndarray:
    """All temperatures where the sampled curve m(T) crosses ``level``.

    At each bracketing pair (m - level changes sign, or touches it), the crossing is that of a
    local logistic fit: a weighted straight line through logit(m) at the pair and one
    neighbour on each side (4 points), with weights n m (1 - m), the inverse variance of
    logit of a mean of n Bernoulli samples.  This is exact for a logistic curve, and using the
    neighbours makes it less sensitive to a fluctuation of one bracketing point than the
    two-point interpolation (which it falls back to when the local slope has the wrong sign).

    Args:
        T: increasing temperatures, shape (k,), J/k_B.
        m: curve values in [0, 1], shape (k,).
        level: the crossing level.
        eps: m is clipped to [eps, 1 - eps] before the logit; :func:`tc_crossing` uses 1/(2n) for
            a mean of n samples (its resolution), so a jump from all-0 to all-1 between two
            temperatures crosses at their midpoint.
        n: samples behind each m, shape (k,) (default equal).

    Returns:
        Crossing temperatures, ascending, shape (c,) (c may be 0).
    """
    T = np.asarray(T, dtype=np.float64)
    m = np.asarray(m, dtype=np.float64)
    mc = np.clip(m, eps, 1.0 - eps)
    z = _logit(m, eps) - _logit(np.asarray(level))
    w = (np.ones_like(m) if n is None else np.asarray(n, dtype=np.float64)) * mc * (1.0 - mc)
    out = list(T[np.flatnonzero(z == 0)])
    s = np.sign(z)
    for i in np.flatnonzero(s[:-1] * s[1:] < 0):
        pair = T[i] + (T[i + 1] - T[i]) * z[i] / (z[i] - z[i + 1])
        lo, hi = max(i - 1, 0), min(i + 3, T.size)
        t, zz, ww = T[lo:hi], z[lo:hi], w[lo:hi]
        t0 = np.average(t, weights=ww)
        slope = np.sum(ww * (t - t0) * zz) / np.sum(ww * (t - t0) ** 2)
        local = t0 - np.average(zz, weights=ww) / slope if slope * (z[i + 1] - z[i]) > 0 else np.nan
        # the local fit must stay inside the bracketing interval, else it is not this crossing
        out.append(local if T[i] <= local <= T[i + 1] else pair)
    return np.sort(np.asarray(out, dtype=np.float64))


def select_crossing(
    T: np.ndarray, m: np.ndarray, w: np.ndarray | None = None, eps: np.ndarray | float = _LOGIT_CLIP
) -> tuple[float, int]:
    """The crossing of 1/2 that the estimator reports, and how many raw crossings there are.

    With several crossings the one closest to the crossing of the isotonic (monotone) fit is
    chosen (see module docstring).  Returns ``(nan, 0)`` when m(T) never crosses 1/2.
    """
    cands = crossings(T, m, eps=eps, n=w)
    if cands.size == 0:
        return float("nan"), 0
    if cands.size == 1:
        return float(cands[0]), 1
    increasing = m[-1] > m[0]
    mono = isotonic_fit(m, w, increasing=increasing)
    centre = crossings(T, mono, eps=eps, n=w)
    c = float(np.mean(centre)) if centre.size else float(np.mean(cands))
    return float(cands[np.argmin(np.abs(cands - c))]), int(cands.size)


def tc_crossing(pred: xr.Dataset, n_bootstrap: int = 1000, seed: int = 0) -> xr.Dataset:
    """Tc(L): where the temperature-averaged p(ordered) crosses 1/2, with errors from the samples
    (bootstrap) and, for an ensemble, from the training (the networks' spread).

    Args:
        pred: predictions data set (N samples; see module docstring), optionally with the
            ensemble's ``member_probability (network, sample, class)``.
        n_bootstrap: bootstrap replicas (resampling samples within each temperature); 0 skips
            the bootstrap (sample errors NaN).
        seed: seed of the bootstrap's random generator.

    Returns:
        Dataset indexed by ``L`` (int), all temperatures in J/k_B:
        ``Tc (L)`` the crossing of the full (ensemble-mean) data; ``Tc_err (L)`` its standard
        error, ``Tc_err_samples`` and ``Tc_err_networks`` in quadrature (the latter 0 for a
        single network: not measured); ``Tc_err_samples (L)`` the bootstrap standard deviation;
        ``Tc_err_networks (L)`` std_k(Tc_k) / sqrt(K); ``Tc_network (L, network)`` each
        network's own crossing (ensembles only); ``Tc_p16, Tc_p84 (L)`` bootstrap percentiles;
        ``n_crossings (L)`` raw crossings of the mean curve; ``bootstrap_failures (L)`` replicas
        without a crossing (left out); ``resolved (L)``.
        Attributes: ``Tc_reference``, ``n_bootstrap``, ``n_networks``, ``seed``, ``method``.

    Raises:
        FieldnetError: for an L whose mean curve never crosses 1/2 (the message gives the range
            of p(ordered) seen, which says whether the temperature grid misses the transition).
    """
    rng = np.random.default_rng(seed)
    K = n_networks(pred)
    rows, per_network = [], []
    for L, p, T, members in _split_by_L(pred):
        temps, chunks = _per_temperature(p, T)
        if temps.size < 2:
            raise FieldnetError(f"L={L} has predictions at a single temperature; a crossing needs several")
        m = np.array([c.mean() for c in chunks])
        w = np.array([c.size for c in chunks], dtype=np.float64)
        eps = 0.5 / w
        tc, n_cross = select_crossing(temps, m, w, eps)
        if n_cross == 0:
            raise FieldnetError(
                f"L={L}: the mean p(ordered) never crosses 1/2 (it stays between {m.min():.3f} and {m.max():.3f} "
                f"over T={temps[0]:g}..{temps[-1]:g}); widen the temperature range so it covers the transition"
            )
        boots = np.full(n_bootstrap, np.nan)
        if n_bootstrap > 0:
            # replica means per temperature: (n_bootstrap, n_T)
            mb = np.empty((n_bootstrap, temps.size))
            for j, c in enumerate(chunks):
                idx = rng.integers(0, c.size, size=(n_bootstrap, c.size))
                mb[:, j] = c[idx].mean(axis=1)
            for b in range(n_bootstrap):
                boots[b] = select_crossing(temps, mb[b], w, eps)[0]
        good = boots[np.isfinite(boots)]
        if good.size >= 2:
            err_samples, p16, p84 = float(good.std(ddof=1)), *np.percentile(good, [16, 84])
        else:
            err_samples = p16 = p84 = float("nan")
        tc_k = _network_crossings(temps, T, members, w, eps)
        per_network.append(tc_k)
        found = tc_k[np.isfinite(tc_k)]
        err_networks = float(found.std(ddof=1) / np.sqrt(found.size)) if found.size >= 2 else 0.0
        err = float(np.hypot(err_samples, err_networks)) if np.isfinite(err_samples) else (err_networks or np.nan)
        # a crossing between two saturated points (all samples 0 on one side, all 1 on the
        # other) is only known to lie in that interval: the bootstrap cannot see that, so the
        # error is at least the interval's uniform-distribution width, dT/sqrt(12)
        i = int(np.clip(np.searchsorted(temps, tc), 1, temps.size - 1))
        saturated = (m <= eps) | (m >= 1 - eps)
        resolved = not (saturated[i - 1] and saturated[i])
        if not resolved:
            width = (temps[i] - temps[i - 1]) / np.sqrt(12.0)
            err = width if not np.isfinite(err) else max(err, width)
        rows.append((L, tc, err, err_samples, err_networks, p16, p84, n_cross, n_bootstrap - good.size, resolved))
    if not rows:
        raise FieldnetError("the predictions hold no finite probabilities")
    cols = list(zip(*rows, strict=True))
    units = {"units": "J/k_B"}
    data = {
        "Tc": ("L", np.asarray(cols[1]), {**units, "long_name": "crossing temperature Tc(L)"}),
        "Tc_err": ("L", np.asarray(cols[2]), {**units, "long_name": "standard error of Tc(L): samples and training"}),
        "Tc_err_samples": ("L", np.asarray(cols[3]), {**units, "long_name": "bootstrap standard deviation over samples"}),
        "Tc_err_networks": ("L", np.asarray(cols[4]), {
            **units, "long_name": "standard error from the networks' spread, std(Tc_network)/sqrt(K); 0: one network"}),
        "Tc_p16": ("L", np.asarray(cols[5]), units),
        "Tc_p84": ("L", np.asarray(cols[6]), units),
        "n_crossings": ("L", np.asarray(cols[7], dtype=np.int32)),
        "bootstrap_failures": ("L", np.asarray(cols[8], dtype=np.int32)),
        "resolved": ("L", np.asarray(cols[9], dtype=np.int8), {
            "long_name": "1 when a point next to the crossing has 0 < p < 1; 0: the grid jumps "
            "from all-ordered to all-disordered and Tc_err is the interval width / sqrt(12)"}),
    }
    coords = {"L": np.asarray(cols[0], dtype=np.int32)}
    if K > 1:
        data["Tc_network"] = (("L", "network"), np.stack(per_network), {
            **units, "long_name": "crossing of each network of the ensemble (NaN: that network's curve never crosses)"})
        coords["network"] = np.arange(K, dtype=np.int32)
    return xr.Dataset(
        data,
        coords=coords,
        attrs={
            "Tc_reference": reference_tc(pred),
            "n_bootstrap": int(n_bootstrap),
            "n_networks": K,
            "seed": int(seed),
            "method": "crossing of mean p(ordered) with 1/2, local logistic fit; bootstrap over samples"
            + (f", in quadrature with the spread of {K} networks' crossings" if K > 1 else ""),
        },
    )


def _network_crossings(temps: np.ndarray, T: np.ndarray, members: np.ndarray | None, w: np.ndarray,
                       eps: np.ndarray) -> np.ndarray:
    """Each network's crossing Tc_k, shape (K,) (NaN where its curve never crosses); empty for
    predictions without ensemble members."""
    if members is None:
        return np.empty(0)
    return np.array([select_crossing(temps, m_k, w, eps)[0] for m_k in _member_means(temps, T, members)])


# -- synthetic predictions (tests, demonstrations) -------------------------------------------


def synthetic_predictions(
    L: list[int] | tuple[int, ...] = (8, 16, 32),
    temperatures: np.ndarray | None = None,
    n_per_T: int = 200,
    *,
    tc: float = ONSAGER_TC,
    nu: float = 1.0,
    a: float = 0.3,
    width: float = 0.5,
    n_networks: int = 1,
    network_spread: float = 0.0,
    confidence_width: float = 0.0,
    seed: int = 0,
) -> xr.Dataset:
    """A predictions data set with a known transition, in the ``fieldnet predict`` layout.

    Each sample's p(ordered) is 0 or 1, drawn as a Bernoulli variable with mean
    P(T, L) = 1 / (1 + exp((T - Tc(L)) L^(1/nu) / width)), Tc(L) = tc + a L^(-1/nu), so Tc(L) is
    exactly where the expected curve crosses 1/2 and the sample mean has binomial noise.

    An ensemble (``n_networks`` > 1, or ``network_spread`` > 0) imitates networks trained with
    different seeds: network k sees the same samples (one uniform u per sample, p_k = [u < P_k])
    but its curve is centred at Tc(L) + delta_k, delta_k ~ Normal(0, ``network_spread``) drawn
    per (network, L); ``member_probability`` holds the p_k and ``probability`` their mean.  The
    population's crossing -- what the estimator should cover -- is still Tc(L).

    Soft outputs (``confidence_width`` c > 0, J/k_B) imitate a network's confidence: with the
    sample's latent z = logit(u) the decision is [z < g], g = -(T - Tc(L)) L^(1/nu) / width, and
    the output is p = 1 / (1 + exp(-(g - z) width / (c L^(1/nu)))): a logistic of width c in
    temperature units at every L, which does not scale as L^(-1/nu) (like the last layer of
    independently trained per-L networks); the decisions keep the scaling form exactly.

    Args:
        L: lattice sizes.
        temperatures: grid in J/k_B (default 24 points over 1.6..3.0).
        n_per_T: samples per (L, T).
        tc, nu, a, width: the planted scaling form (tc, a, width in J/k_B).
        n_networks: networks in the ensemble (1: no ``member_probability``).
        network_spread: standard deviation of a network's crossing shift, J/k_B.
        confidence_width: c above, J/k_B (0: outputs are the 0/1 decisions).
        seed: random seed.

    Returns:
        Dataset ``probability (sample, class)`` float32 with coordinates ``temperature``,
        ``L``, ``label`` on ``sample`` (and ``member_probability (network, sample, class)`` for
        an ensemble); attrs ``fieldnet_format="predictions"``, ``Tc_reference=tc``.
    """
    from scipy.special import expit

    rng = np.random.default_rng(seed)
    temps = np.linspace(1.6, 3.0, 24) if temperatures is None else np.asarray(temperatures, dtype=np.float64)
    T_s, L_s, p_s = [], [], []
    for size in L:
        tcL = tc + a * size ** (-1.0 / nu) + network_spread * rng.standard_normal(n_networks)
        g = -(temps[None, :] - tcL[:, None]) * size ** (1.0 / nu) / width  # logit P, (network, T)
        P = expit(g)
        u = rng.random((temps.size, n_per_T))
        if confidence_width > 0:  # u < P iff logit(u) < g
            z = np.log(u / (1.0 - u))
            c = confidence_width * size ** (1.0 / nu) / width  # the width c (J/k_B) in units of the scaled g
            draws = expit((g[:, :, None] - z[None, :, :]) / c)  # (network, T, sample)
        else:
            draws = u[None, :, :] < P[:, :, None]  # (network, T, sample)
        T_s.append(np.repeat(temps, n_per_T))
        L_s.append(np.full(temps.size * n_per_T, size))
        p_s.append(draws.reshape(n_networks, -1).astype(np.float32))
    T_all, L_all, p_members = np.concatenate(T_s), np.concatenate(L_s), np.concatenate(p_s, axis=1)
    members = np.stack([1.0 - p_members, p_members], axis=2).astype(np.float32)  # (network, sample, class)
    ds = xr.Dataset(
        {"probability": (("sample", "class"), members.mean(axis=0).astype(np.float32))},
        coords={
            "class": ["disordered", "ordered"],
            "temperature": ("sample", T_all, {"units": "J/k_B"}),
            "L": ("sample", L_all.astype(np.int32)),
            "label": ("sample", (T_all < tc).astype(np.int8)),
        },
        attrs={"fieldnet_format": "predictions", "Tc_reference": float(tc), "model": "synthetic", "data": "synthetic"},
    )
    if n_networks > 1:
        ds["member_probability"] = (("network", "sample", "class"), members)
        ds = ds.assign_coords(network=np.arange(n_networks, dtype=np.int32))
        ds.attrs["n_networks"] = n_networks
    return ds


# -- figure ----------------------------------------------------------------------------------


def plot_ordered_probability(
    curve: xr.DataArray,
    tc: xr.Dataset | None = None,
    *,
    tc_reference: float | None = None,
    tc_infinite: tuple[float, float] | None = None,
    path: str | os.PathLike | None = None,
    title: str | None = None,
):
    """p(ordered) against T, one series per L with standard-error bars, and the crossings.

    Args:
        curve: :func:`ordered_probability_curve` output ``(L, temperature)``.
        tc: :func:`tc_crossing` output; each Tc(L) is marked on its curve (with its error bar).
        tc_reference: a reference Tc (e.g. Onsager's) drawn as a dashed line; NaN/None skips it.
        tc_infinite: (Tc, error) of an extrapolation, drawn as a dotted line with a band.
        path: write a PNG there (and close the figure); otherwise return the figure.
        title: figure title.

    Returns:
        The matplotlib figure, or the written path when ``path`` is given.
    """
    from fieldnet.analysis import plots

    fig, ax = plots.figure()
    colors = plots.series_colors(curve.sizes["L"])
    T = curve["temperature"].values
    for color, L in zip(colors, curve["L"].values, strict=True):
        c = curve.sel(L=L)
        ok = np.isfinite(c.values)
        err = c["stderr"].values[ok] if "stderr" in c.coords else None
        ax.errorbar(T[ok], c.values[ok], yerr=err, color=color, marker="o", label=f"L = {int(L)}")
        if tc is not None and int(L) in tc["L"].values:
            t = tc.sel(L=L)
            ax.errorbar(float(t.Tc), 0.5, xerr=float(t.Tc_err) if np.isfinite(t.Tc_err) else None, color=color,
                        marker="D", markersize=7, markeredgecolor="k", capsize=4, linestyle="none")
    ax.axhline(0.5, color="0.4", linewidth=1, linestyle=":")
    if tc is not None:
        ax.plot([], [], "D", color="0.5", markeredgecolor="k", label=r"$T_c(L)$: crossing of 1/2")
    if tc_infinite is not None:
        plots.mark_vertical(ax, tc_infinite[0], rf"$T_c(\infty)$ = {tc_infinite[0]:.4f} ± {tc_infinite[1]:.4f}",
                            color="tab:red", style="-.", err=tc_infinite[1])
    if tc_reference is not None and np.isfinite(tc_reference):
        plots.mark_vertical(ax, tc_reference, rf"reference $T_c$ = {tc_reference:.4f}", color="k", style="--")
    ax.set_xlabel(plots.T_LABEL)
    ax.set_ylabel("mean probability of the ordered phase")
    ax.set_ylim(-0.03, 1.03)
    ax.set_title(title or "Ordered-phase probability")
    ax.legend(loc="upper right")
    return plots.save(fig, path) if path is not None else fig
