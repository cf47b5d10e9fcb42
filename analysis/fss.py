"""Finite-size scaling: Tc and nu from the crossings Tc(L) and from a data collapse of p(T, L).

Two independent estimates:

* :func:`fit_tc_infinite` fits the crossings, Tc(L) = Tc + a L^(-1/nu), by weighted least
  squares with the errors of Tc(L) (the bootstrap over samples, and for an ensemble of networks
  their spread; nu fixed, or free when there are >= 3 sizes).
* :func:`data_collapse` finds (Tc, nu) such that the curves p(T, L) plotted against
  x = (T - Tc) L^(1/nu) fall on one curve, scored by the Houdayer-Hartmann quality function S
  (PRB 70, 014418 (2004)) and minimised with Nelder-Mead.  :func:`analyze_tc` collapses, by
  default, the fraction of configurations classified ordered rather than the mean probability:
  the latter's width also holds each network's confidence, which does not scale with L.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from scipy import optimize

from fieldnet.errors import FieldnetError

#: what a data collapse can collapse (see :func:`analyze_tc`)
COLLAPSE_OF = ("decisions", "probability")

# -- Tc(L) = Tc + a L^(-1/nu) ----------------------------------------------------------------


def _model(L: np.ndarray, tc: float, a: float, inv_nu: float) -> np.ndarray:
    return tc + a * np.power(L, -inv_nu)


def fit_tc_infinite(tc_L: xr.Dataset, nu: float | None = None) -> xr.Dataset:
    """Extrapolate the crossings to infinite size: Tc(L) = Tc + a L^(-1/nu).

    Weighted least squares with weights 1/Tc_err(L)^2 (``scipy.optimize.curve_fit``).  Parameter
    errors come from the covariance matrix; when chi^2/dof > 1 the covariance is scaled by
    chi^2/dof (the scatter is then larger than the error bars say, and the errors should grow
    with it); it is never scaled down.  With nu free the fit is done in 1/nu, and needs at least
    three sizes (with exactly three it interpolates: chi^2 = 0 and the errors are those
    propagated from the Tc(L) errors).

    Args:
        tc_L: output of :func:`fieldnet.analysis.tc.tc_crossing`: ``Tc (L)`` and ``Tc_err (L)`` in J/k_B.
        nu: the correlation-length exponent to hold fixed (e.g. 1 for the 2D Ising model), or
            None to fit it.

    Returns:
        Dataset of scalars: ``Tc``, ``Tc_err`` (J/k_B), ``a``, ``a_err`` (J/k_B), ``nu``,
        ``nu_err`` (0 when fixed), ``chi2``, ``dof``; attributes ``nu_fixed`` (0/1) and
        ``warning`` (non-empty when free 1/nu ran to its bounds [0.05, 20]: nu undetermined).
    """
    L = np.asarray(tc_L["L"].values, dtype=np.float64)
    y = np.asarray(tc_L["Tc"].values, dtype=np.float64)
    err = np.asarray(tc_L["Tc_err"].values, dtype=np.float64) if "Tc_err" in tc_L else np.full_like(y, np.nan)
    ok = np.isfinite(y)
    L, y, err = L[ok], y[ok], err[ok]
    if not np.all(np.isfinite(err) & (err > 0)):
        # no usable error bars (no bootstrap): unweighted fit, errors from the scatter
        err = np.ones_like(y)
        absolute = False
    else:
        absolute = True
    n_par = 2 if nu is not None else 3
    if L.size < n_par:
        raise FieldnetError(
            f"fitting Tc(L) = Tc + a L^(-1/nu) with nu {'fixed' if nu is not None else 'free'} needs at least "
            f"{n_par} lattice sizes, got {L.size}" + ("; fix nu with --nu" if nu is None and L.size == 2 else "")
        )
    if nu is not None:
        inv_nu = 1.0 / float(nu)
        x = np.power(L, -inv_nu)
        # linear in (Tc, a): solve directly, no starting values needed
        A = np.stack([np.ones_like(x), x], axis=1) / err[:, None]
        coef, *_ = np.linalg.lstsq(A, y / err, rcond=None)
        cov = np.linalg.pinv(A.T @ A)
        params = np.array([coef[0], coef[1], inv_nu])
        resid = (y - _model(L, *params)) / err
        dof = L.size - 2
        cov_full = np.zeros((3, 3))
        cov_full[:2, :2] = cov
    else:
        # start from the nu=1 linear fit
        x = 1.0 / L
        A = np.stack([np.ones_like(x), x], axis=1) / err[:, None]
        c0, *_ = np.linalg.lstsq(A, y / err, rcond=None)
        try:
            params, cov_full = optimize.curve_fit(
                _model, L, y, p0=[c0[0], c0[1], 1.0], sigma=err, absolute_sigma=True,
                bounds=([-np.inf, -np.inf, 0.05], [np.inf, np.inf, 20.0]), maxfev=20000,
            )
        except (RuntimeError, ValueError) as exc:
            raise FieldnetError(f"the fit of Tc(L) with nu free did not converge ({exc}); fix nu with --nu") from exc
        resid = (y - _model(L, *params)) / err
        dof = L.size - 3
    chi2 = float(np.sum(resid**2))
    if not absolute:
        scale = chi2 / dof if dof > 0 else np.nan
    else:
        scale = max(1.0, chi2 / dof) if dof > 0 else 1.0
    cov_full = cov_full * scale
    perr = np.sqrt(np.clip(np.diag(cov_full), 0, None))
    tc, a, inv_nu = params
    nu_val = 1.0 / inv_nu
    nu_err = 0.0 if nu is not None else float(perr[2] / inv_nu**2)
    units = {"units": "J/k_B"}
    warning = ""
    if nu is None and (inv_nu <= 0.05 * 1.001 or inv_nu >= 20.0 * 0.999):
        warning = (
            f"1/nu ran to its bound ({inv_nu:.3g}): the sizes do not determine nu; fix it (--nu) "
            "or add lattice sizes"
        )
    return xr.Dataset(
        {
            "Tc": ((), float(tc), {**units, "long_name": "infinite-size critical temperature"}),
            "Tc_err": ((), float(perr[0]), units),
            "a": ((), float(a), units),
            "a_err": ((), float(perr[1]), units),
            "nu": ((), float(nu_val), {"long_name": "correlation-length exponent"}),
            "nu_err": ((), nu_err),
            "chi2": ((), chi2),
            "dof": ((), int(dof)),
        },
        attrs={"nu_fixed": int(nu is not None), "model": "Tc(L) = Tc + a L^(-1/nu)", "warning": warning},
    )


# -- data collapse ---------------------------------------------------------------------------

_ERR_FLOOR = 1e-3  # added in quadrature to the standard errors: p near 0 or 1 has ~zero error
_WINDOW = (0.02, 0.98)  # only points with p inside this range enter S: the transition region


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-3, 1 - 1e-3)
    return np.log(p / (1 - p))


def _curves(curve: xr.DataArray) -> list[tuple[float, np.ndarray, np.ndarray, np.ndarray]]:
    out = []
    for L in curve["L"].values:
        c = curve.sel(L=L)
        T = np.asarray(c["temperature"].values, dtype=np.float64)
        y = np.asarray(c.values, dtype=np.float64)
        dy = np.asarray(c["stderr"].values, dtype=np.float64) if "stderr" in c.coords else np.zeros_like(y)
        dy = np.sqrt(np.nan_to_num(dy) ** 2 + _ERR_FLOOR**2)
        ok = np.isfinite(y)
        out.append((float(L), T[ok], y[ok], dy[ok]))
    return out


def quality(curves, tc: float, nu: float) -> tuple[float, int]:
    """Houdayer-Hartmann collapse quality S(Tc, nu) and the number of terms N.

    For each point j of size L inside the window, and for each other size L' whose scaled
    points bracket x_j, the master curve Y, dY is the linear interpolation of L' at x_j;
    S = (1/N) sum (y_j - Y)^2 / (dy_j^2 + dY^2).  Y is interpolated linearly in logit(p)
    (p clipped to [1e-3, 1 - 1e-3]), dY linearly.  S ~ 1 for a collapse consistent with the errors.

    Args:
        curves: list of (L, T (n,), y (n,), dy (n,)) as made from an ordered-probability curve.
        tc: trial critical temperature, J/k_B.
        nu: trial exponent (> 0).
    """
    if not np.isfinite(nu) or nu <= 0.05:
        return np.inf, 0
    scaled = [(L, (T - tc) * L ** (1.0 / nu), y, dy) for L, T, y, dy in curves]
    total, n = 0.0, 0
    for i, (_, x, y, dy) in enumerate(scaled):
        inside = (y >= _WINDOW[0]) & (y <= _WINDOW[1])
        xs, ys, dys = x[inside], y[inside], dy[inside]
        for k, (_, x2, y2, dy2) in enumerate(scaled):
            if k == i or x2.size < 2:
                continue
            j = np.searchsorted(x2, xs)  # x2 ascending since T is
            ok = (j > 0) & (j < x2.size)
            if not ok.any():
                continue
            jj = j[ok]
            x0, x1 = x2[jj - 1], x2[jj]
            t = (xs[ok] - x0) / (x1 - x0)
            # interpolate in logit(p): exact for a logistic master curve, so a coarse grid does not
            # bias the collapse (linear interpolation of p across a steep step does)
            g0, g1 = _logit(y2[jj - 1]), _logit(y2[jj])
            Y = 1.0 / (1.0 + np.exp(-(g0 + t * (g1 - g0))))
            dY2 = ((1 - t) * dy2[jj - 1]) ** 2 + (t * dy2[jj]) ** 2
            total += float(np.sum((ys[ok] - Y) ** 2 / (dys[ok] ** 2 + dY2)))
            n += int(ok.sum())
    return (total / n, n) if n else (np.inf, 0)


def _hessian(f, p: np.ndarray, h: np.ndarray) -> np.ndarray:
    n = p.size
    H = np.empty((n, n))
    f0 = f(p)
    for i in range(n):
        for j in range(i, n):
            ei, ej = np.eye(n)[i] * h[i], np.eye(n)[j] * h[j]
            if i == j:
                H[i, i] = (f(p + ei) - 2 * f0 + f(p - ei)) / h[i] ** 2
            else:
                H[i, j] = H[j, i] = (f(p + ei + ej) - f(p + ei - ej) - f(p - ei + ej) + f(p - ei - ej)) / (4 * h[i] * h[j])
    return H


def _minimise(curves, start: np.ndarray, nu: float | None, T_span: float, nu0: float, restarts: int = 3, xatol: float = 1e-6):
    def objective(p):
        return quality(curves, p[0], p[1] if nu is None else nu)[0]

    if nu is None:
        simplex = np.array([start, start + [0.02 * T_span, 0.0], start + [0.0, 0.2 * nu0]])
    else:
        simplex = np.array([start, start + 0.02 * T_span])
    best = None
    for _ in range(restarts):  # restarts: S is piecewise smooth, Nelder-Mead can stall
        res = optimize.minimize(
            objective, start, method="Nelder-Mead",
            options={"initial_simplex": simplex, "xatol": xatol, "fatol": 1e-8, "maxiter": 4000},
        )
        if best is not None and abs(res.fun - best.fun) < 1e-9:
            best = res
            break
        best = res if best is None or res.fun < best.fun else best
        start = best.x
        simplex = np.vstack([start, start + (simplex[1:] - simplex[0]) * 0.5])
    return best


def data_collapse(
    pred_or_curve: xr.Dataset | xr.DataArray,
    tc0: float,
    nu0: float,
    *,
    nu: float | None = None,
    n_bootstrap: int = 100,
    seed: int = 0,
) -> xr.Dataset:
    """Tc and nu from the collapse of p(T, L) against x = (T - Tc) L^(1/nu).

    Minimises the Houdayer-Hartmann quality S (see :func:`quality`) with Nelder-Mead from
    (tc0, nu0).  Errors (``Tc_err``, ``nu_err``): the standard deviation over ``n_bootstrap``
    replicas in which every point p(T, L) is redrawn from a normal distribution with its
    standard error and the minimisation is repeated.  The curvature of N*S at the minimum
    (N the number of terms; covariance 2 H^-1 of N*S, i.e. the half-width where N*S rises by 1,
    scaled up by S_min when S_min > 1) is also reported (``*_err_curvature``), but it
    underestimates the errors -- by a factor ~2.5 on synthetic data -- because each point enters
    several terms of S, which are then not independent; so the bootstrap is the default.  Points with p outside [0.02, 0.98]
    are left out of S (they carry no information on the scaling variable), and standard
    errors get a 1e-3 floor.

    Args:
        pred_or_curve: a predictions data set, or the output of
            :func:`fieldnet.analysis.tc.ordered_probability_curve` ``(L, temperature)``.
        tc0: starting Tc, J/k_B (e.g. the extrapolated crossing).
        nu0: starting nu.
        nu: hold nu fixed at this value and fit Tc only.
        n_bootstrap: bootstrap replicas for the errors (0: curvature errors only).
        seed: seed of the bootstrap.

    Returns:
        Dataset with scalars ``Tc``, ``Tc_err`` (J/k_B), ``nu``, ``nu_err``, ``S_min``, ``n_terms``,
        and the collapsed curves ``x (L, temperature)`` = (T - Tc) L^(1/nu) (J/k_B),
        ``p_ordered (L, temperature)`` and ``stderr (L, temperature)``.
    """
    from fieldnet.analysis.tc import ordered_probability_curve

    curve = pred_or_curve if isinstance(pred_or_curve, xr.DataArray) else ordered_probability_curve(pred_or_curve)
    if curve.sizes["L"] < 2:
        raise FieldnetError("a data collapse needs at least two lattice sizes")
    curves = _curves(curve)
    T_span = float(np.ptp(curve["temperature"].values)) or 1.0

    start = np.array([tc0, nu0] if nu is None else [tc0], dtype=np.float64)
    best = _minimise(curves, start, nu, T_span, nu0)
    p_opt = best.x
    s_min, n_terms = quality(curves, p_opt[0], p_opt[1] if nu is None else nu)

    def chi2(p):
        return quality(curves, p[0], p[1] if nu is None else nu)[0] * n_terms

    steps = np.array([1e-3 * T_span, 0.02 * (p_opt[1] if nu is None else 1.0)])[: p_opt.size]
    errs = np.full(2, np.nan)
    try:
        H = _hessian(chi2, p_opt, steps)
        cov = 2.0 * np.linalg.inv(H) * max(1.0, s_min)
        d = np.diag(cov)
        errs[: p_opt.size] = np.where(d > 0, np.sqrt(np.abs(d)), np.nan)
    except np.linalg.LinAlgError:
        pass
    boot = np.full((n_bootstrap, p_opt.size), np.nan)
    rng = np.random.default_rng(seed)
    for b in range(n_bootstrap):
        replica = [(L, T, np.clip(y + dy * rng.standard_normal(y.size), 0.0, 1.0), dy) for L, T, y, dy in curves]
        rb = _minimise(replica, p_opt.copy(), nu, T_span, nu0, restarts=1, xatol=1e-5)
        if np.isfinite(rb.fun):
            boot[b] = rb.x
    curv_errs = errs.copy()
    good = boot[np.all(np.isfinite(boot), axis=1)]
    if good.shape[0] >= 2:
        errs[: p_opt.size] = good.std(axis=0, ddof=1)
    tc = float(p_opt[0])
    nu_val = float(p_opt[1]) if nu is None else float(nu)
    nu_err = float(errs[1]) if nu is None else 0.0
    Ls = curve["L"].values.astype(np.float64)
    x = (curve["temperature"].values[None, :] - tc) * Ls[:, None] ** (1.0 / nu_val)
    return xr.Dataset(
        {
            "Tc": ((), tc, {"units": "J/k_B"}),
            "Tc_err": ((), float(errs[0]), {"units": "J/k_B"}),
            "nu": ((), nu_val),
            "nu_err": ((), nu_err),
            "Tc_err_curvature": ((), float(curv_errs[0]), {"units": "J/k_B"}),
            "nu_err_curvature": ((), float(curv_errs[1]) if nu is None else 0.0),
            "n_bootstrap": ((), int(good.shape[0])),
            "S_min": ((), float(s_min), {"long_name": "Houdayer-Hartmann quality at the minimum"}),
            "n_terms": ((), int(n_terms)),
            "x": (("L", "temperature"), x, {"long_name": "(T - Tc) L^(1/nu)", "units": "J/k_B"}),
            "p_ordered": (("L", "temperature"), curve.values),
            "stderr": (("L", "temperature"), curve["stderr"].values if "stderr" in curve.coords else np.zeros(curve.shape)),
        },
        coords={"L": curve["L"].values, "temperature": curve["temperature"].values},
        attrs={"nu_fixed": int(nu is not None), "method": "Houdayer-Hartmann S, Nelder-Mead, parametric bootstrap errors"},
    )


# -- figures ---------------------------------------------------------------------------------


def plot_collapse(collapse: xr.Dataset, *, path=None, title: str | None = None):
    """The collapsed curves p against (T - Tc) L^(1/nu), one series per L.

    Args:
        collapse: :func:`data_collapse` output.
        path: write a PNG there and return the path; otherwise return the figure.
    """
    from fieldnet.analysis import plots

    fig, ax = plots.figure()
    colors = plots.series_colors(collapse.sizes["L"])
    for color, L in zip(colors, collapse["L"].values, strict=True):
        c = collapse.sel(L=L)
        ok = np.isfinite(c.p_ordered.values)
        ax.errorbar(c.x.values[ok], c.p_ordered.values[ok], yerr=c.stderr.values[ok], color=color, marker="o",
                    linestyle="-", label=f"L = {int(L)}")
    ax.axvline(0.0, color="k", linestyle="--", linewidth=1)
    ax.axhline(0.5, color="0.4", linewidth=1, linestyle=":")
    x_in = collapse.x.values[(collapse.p_ordered.values > 0.02) & (collapse.p_ordered.values < 0.98)]
    if x_in.size:
        span = max(np.ptp(x_in), 1e-9)
        ax.set_xlim(x_in.min() - 0.6 * span, x_in.max() + 0.6 * span)
    nu_txt = "fixed" if collapse.attrs.get("nu_fixed") else f"± {float(collapse.nu_err):.3f}"
    ax.set_xlabel(r"$(T - T_c)\,L^{1/\nu}$ ($J/k_B$)")
    ax.set_ylabel("fraction classified ordered" if collapse.attrs.get("collapse_of") == "decisions"
                  else "mean probability of the ordered phase")
    ax.set_title(title or (rf"Data collapse: $T_c$ = {float(collapse.Tc):.4f} ± {float(collapse.Tc_err):.4f}, "
                           rf"$\nu$ = {float(collapse.nu):.3f} {nu_txt}"))
    ax.set_ylim(-0.03, 1.03)
    ax.legend(loc="upper right", title=f"S = {float(collapse.S_min):.2f}")
    return plots.save(fig, path) if path is not None else fig


def plot_tc_vs_L(tc_L: xr.Dataset, fit: xr.Dataset, *, tc_reference: float | None = None, path=None,
                 title: str | None = None):
    """Tc(L) against L^(-1/nu) with the fitted line Tc + a L^(-1/nu), extrapolated to L = infinity.

    Args:
        tc_L: :func:`fieldnet.analysis.tc.tc_crossing` output.
        fit: :func:`fit_tc_infinite` output (its nu sets the abscissa).
        tc_reference: a reference Tc marked at L^(-1/nu) = 0.
        path: write a PNG there and return the path; otherwise return the figure.
    """
    from fieldnet.analysis import plots

    nu = float(fit.nu)
    fig, ax = plots.figure()
    L = tc_L["L"].values.astype(float)
    x = L ** (-1.0 / nu)
    ax.errorbar(x, tc_L.Tc.values, yerr=tc_L.Tc_err.values, marker="o", linestyle="none", color="tab:blue",
                label=r"$T_c(L)$ (crossings, bootstrap errors)" if tc_L.attrs.get("n_networks", 1) == 1
                else rf"$T_c(L)$ ({tc_L.attrs['n_networks']} networks; errors: samples and training)")
    for xi, yi, Li in zip(x, tc_L.Tc.values, L, strict=True):
        ax.annotate(f"L={int(Li)}", (xi, yi), textcoords="offset points", xytext=(6, 4), fontsize=8)
    xx = np.linspace(0.0, x.max() * 1.05, 100)
    nu_txt = "fixed" if fit.attrs.get("nu_fixed") else f"± {float(fit.nu_err):.2f}"
    ax.plot(xx, float(fit.Tc) + float(fit.a) * xx, color="tab:red",
            label=rf"fit $T_c + a L^{{-1/\nu}}$, $\nu$ = {nu:.3f} {nu_txt}")
    ax.errorbar([0.0], [float(fit.Tc)], yerr=[float(fit.Tc_err)], marker="s", color="tab:red", capsize=4,
                label=rf"$T_c(\infty)$ = {float(fit.Tc):.4f} ± {float(fit.Tc_err):.4f}")
    if tc_reference is not None and np.isfinite(tc_reference):
        ax.axhline(tc_reference, color="k", linestyle="--", linewidth=1, label=rf"reference $T_c$ = {tc_reference:.4f}")
    ax.set_xlabel(rf"$L^{{-1/\nu}}$ ($\nu$ = {nu:.3f})")
    ax.set_ylabel(r"$T_c(L)$ ($J/k_B$)")
    ax.set_xlim(left=-0.02 * x.max())
    ax.set_title(title or "Finite-size extrapolation of the crossing")
    ax.legend(loc="best")
    return plots.save(fig, path) if path is not None else fig


# -- the whole analysis, as the command line and the pipeline run it --------------------------


def analyze_tc(
    pred: xr.Dataset,
    outdir,
    *,
    nu: float | None = None,
    n_bootstrap: int = 1000,
    collapse_bootstrap: int = 100,
    collapse_of: str = "decisions",
    seed: int = 0,
    figures: bool = True,
) -> dict:
    """Crossings, extrapolation, collapse, figures: what ``fieldnet analyze tc`` does.

    Writes into ``outdir``: ``tc.json`` (the numbers), ``tc.nc`` (the curves:
    ``p_ordered``/``stderr``/``count`` (L, temperature), ``Tc``/``Tc_err`` (L), the collapse
    variable ``collapse_x`` (L, temperature)) and, with ``figures``, ``p_ordered.png``,
    ``tc_vs_L.png`` and ``collapse.png``.  Steps that the data cannot support (an extrapolation
    with too few sizes, a collapse with one size) are recorded in tc.json with the reason
    instead of failing the whole analysis; a missing crossing fails (FieldnetError).

    Args:
        pred: predictions data set (see :mod:`fieldnet.analysis.tc`).
        outdir: output folder (created).
        nu: fix nu in the Tc(L) extrapolation (the collapse always fits nu).
        n_bootstrap: bootstrap replicas for Tc(L).
        collapse_bootstrap: bootstrap replicas for the collapse errors.
        collapse_of: what is collapsed: ``"decisions"`` (default), the fraction of configurations
            the network classifies ordered, or ``"probability"``, the mean p(ordered).  The mean
            probability's width in T adds the network's own confidence width, which the per-L
            networks learn independently and which does not scale as L^(-1/nu); measured on the
            2D Ising model (L = 16..64, 4 networks per L, three exclusion windows) the decisions
            gave nu 1.11, 0.92, 0.93 where the probabilities gave 1.17, 0.84, 0.87.
        seed: seed of both bootstraps.
        figures: write the PNG figures.

    Returns:
        The tc.json content as a dict.
    """
    import json
    from pathlib import Path

    from fieldnet.analysis import tc as tcmod

    from fieldnet.io.atomic import atomic_output

    out = Path(outdir)
    if collapse_of not in COLLAPSE_OF:
        raise FieldnetError(f"collapse_of must be one of {', '.join(COLLAPSE_OF)}, got {collapse_of!r}")
    curve = tcmod.ordered_probability_curve(pred)
    collapse_curve = curve if collapse_of == "probability" else tcmod.ordered_probability_curve(tcmod.classified(pred))
    tc_L = tcmod.tc_crossing(pred, n_bootstrap=n_bootstrap, seed=seed)
    ref = tcmod.reference_tc(pred)

    def num(x):
        x = float(x)
        return x if np.isfinite(x) else None

    fit = None
    fit_info: dict = {}
    try:
        fit = fit_tc_infinite(tc_L, nu=nu)
        fit_info = {k: num(fit[k]) for k in ("Tc", "Tc_err", "a", "a_err", "nu", "nu_err", "chi2")}
        fit_info.update(dof=int(fit.dof), nu_fixed=bool(fit.attrs["nu_fixed"]), warning=fit.attrs["warning"] or None)
    except FieldnetError as exc:
        fit_info = {"error": str(exc)}

    collapse = None
    try:
        # start at the largest size's crossing (the closest to Tc, and never a wild
        # extrapolation) and the best of a few nu's: S has local minima far from the truth
        tc0 = float(tc_L.Tc.isel(L=-1))
        nu_starts = (float(nu),) if nu is not None else (0.7, 1.0, 1.5)
        trial = min((data_collapse(collapse_curve, tc0, n0, n_bootstrap=0) for n0 in nu_starts), key=lambda c: float(c.S_min))
        collapse = data_collapse(collapse_curve, float(trial.Tc), float(trial.nu), n_bootstrap=collapse_bootstrap, seed=seed)
        collapse.attrs["collapse_of"] = collapse_of
        col_info = {k: num(collapse[k]) for k in ("Tc", "Tc_err", "nu", "nu_err", "S_min")}
        col_info["n_terms"] = int(collapse.n_terms)
        col_info["n_bootstrap"] = int(collapse.n_bootstrap)
        col_info["collapse_of"] = collapse_of
    except FieldnetError as exc:
        col_info = {"error": str(exc)}

    def deviation(value, err):
        if value is None or not np.isfinite(ref):
            return None
        d = {"abs": value - ref, "relative": (value - ref) / ref}
        d["sigmas"] = (value - ref) / err if err else None
        return d

    result = {
        "predictions": str(pred.attrs.get("source_path", "")) or None,
        "Tc_reference": num(ref),
        "n_networks": int(tc_L.attrs["n_networks"]),
        "Tc_L": [
            {
                "L": int(L),
                "Tc": num(tc_L.Tc.sel(L=L)),
                "Tc_err": num(tc_L.Tc_err.sel(L=L)),
                "Tc_err_samples": num(tc_L.Tc_err_samples.sel(L=L)),
                "Tc_err_networks": num(tc_L.Tc_err_networks.sel(L=L)),
                **({"Tc_network": [num(v) for v in tc_L.Tc_network.sel(L=L).values]} if "Tc_network" in tc_L else {}),
                "Tc_p16": num(tc_L.Tc_p16.sel(L=L)),
                "Tc_p84": num(tc_L.Tc_p84.sel(L=L)),
                "n_crossings": int(tc_L.n_crossings.sel(L=L)),
                "resolved": bool(tc_L.resolved.sel(L=L)),
            }
            for L in tc_L.L.values
        ],
        "Tc_inf": fit_info.get("Tc"),
        "Tc_inf_err": fit_info.get("Tc_err"),
        "nu": col_info.get("nu") if nu is None else float(nu),
        "nu_err": col_info.get("nu_err") if nu is None else 0.0,
        "nu_source": "fixed (--nu)" if nu is not None else "data collapse",
        "extrapolation": fit_info,
        "collapse": col_info,
        "deviation": {
            "extrapolation": deviation(fit_info.get("Tc"), fit_info.get("Tc_err")),
            "collapse": deviation(col_info.get("Tc"), col_info.get("Tc_err")),
        },
        "settings": {"n_bootstrap": n_bootstrap, "collapse_bootstrap": collapse_bootstrap, "collapse_of": collapse_of,
                     "seed": seed, "nu_fixed": nu},
    }

    out.mkdir(parents=True, exist_ok=True)  # only now: a failed analysis leaves no empty folder
    nc = curve.to_dataset().reset_coords(["stderr", "count"])
    nc = nc.merge(tc_L)
    if collapse is not None:
        nc["collapse_x"] = collapse.x.assign_attrs(Tc=float(collapse.Tc), nu=float(collapse.nu))
    nc.attrs = {"fieldnet_format": "tc_analysis", "Tc_reference": ref if np.isfinite(ref) else np.nan,
                "tc_json": json.dumps(result)}
    with atomic_output(out / "tc.nc") as tmp:
        nc.to_netcdf(tmp, engine="h5netcdf")
    with atomic_output(out / "tc.json") as tmp:
        tmp.write_text(json.dumps(result, indent=2) + "\n")

    if figures:
        tc_inf = (fit_info["Tc"], fit_info["Tc_err"] or 0.0) if fit_info.get("Tc") is not None else None
        tcmod.plot_ordered_probability(curve, tc_L, tc_reference=ref, tc_infinite=tc_inf, path=out / "p_ordered.png")
        if fit is not None:
            plot_tc_vs_L(tc_L, fit, tc_reference=ref, path=out / "tc_vs_L.png")
        if collapse is not None:
            plot_collapse(collapse, path=out / "collapse.png")
    return result


def format_tc_table(result: dict) -> str:
    """A short plain-text table of an :func:`analyze_tc` result."""

    def pm(v, e, nd=4):
        if v is None:
            return "-"
        return f"{v:.{nd}f} ± {e:.{nd}f}" if e is not None else f"{v:.{nd}f}"

    lines = [f"{'L':>6}  {'Tc(L) (J/k_B)':>22}  note"]
    for row in result["Tc_L"]:
        note = [] if row["resolved"] else ["grid too coarse"]
        if row["n_crossings"] > 1:
            note.append(f"{row['n_crossings']} crossings")
        lines.append(f"{row['L']:>6}  {pm(row['Tc'], row['Tc_err']):>22}  {', '.join(note)}")
    ex, co = result["extrapolation"], result["collapse"]
    if "error" in ex:
        lines.append(f"Tc(inf) extrapolation: not done ({ex['error']})")
    else:
        nu_txt = f"{ex['nu']:.3f} (fixed)" if ex["nu_fixed"] else pm(ex["nu"], ex["nu_err"], 3)
        lines.append(f"Tc(inf) extrapolation: {pm(ex['Tc'], ex['Tc_err'])}   nu = {nu_txt}"
                     f"   chi2/dof = {ex['chi2']:.2f}/{ex['dof']}")
        if ex.get("warning"):
            lines.append(f"  warning: {ex['warning']}")
    if "error" in co:
        lines.append(f"data collapse: not done ({co['error']})")
    else:
        lines.append(f"data collapse:         {pm(co['Tc'], co['Tc_err'])}   nu = {pm(co['nu'], co['nu_err'], 3)}"
                     f"   S = {co['S_min']:.2f}")
    ref = result["Tc_reference"]
    if ref is not None:
        dev = result["deviation"]["extrapolation"] or result["deviation"]["collapse"]
        txt = f"reference Tc = {ref:.6f}"
        if dev:
            sig = f", {dev['sigmas']:+.1f} sigma" if dev["sigmas"] is not None else ""
            txt += f"; deviation {dev['abs']:+.4f} ({100 * dev['relative']:+.2f}%{sig})"
        lines.append(txt)
    return "\n".join(lines)
