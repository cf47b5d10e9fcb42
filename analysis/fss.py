"""Finite-size scaling: Tc and nu from the crossings Tc(L) and from a data collapse of p(T, L).

Two independent estimates:

* :func:`fit_tc_infinite` fits the crossings, Tc(L) = Tc + a L^(-1/nu), by weighted least
  squares with the bootstrap errors of Tc(L) (nu fixed, or free when there are >= 3 sizes).
* :func:`data_collapse` finds (Tc, nu) such that the curves p(T, L) plotted against
  x = (T - Tc) L^(1/nu) fall on one curve, scored by the Houdayer-Hartmann quality function S
  (PRB 70, 014418 (2004)) and minimised with Nelder-Mead.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from scipy import optimize

from fieldnet.errors import FieldnetError

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
        tc_L: output of :func:`analysis.tc.tc_crossing`: ``Tc (L)`` and ``Tc_err (L)`` in J/k_B.
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
            :func:`analysis.tc.ordered_probability_curve` ``(L, temperature)``.
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
    from analysis.tc import ordered_probability_curve

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
