"""Real-space renormalisation of lattice configurations: block spins and the flow of observables.

Two coarse-graining maps with block size b (a b x b block of spins becomes one spin):

* majority rule: the sign of the block sum; a tied block (even b) gets +1 or -1 at random, from a
  seeded generator, so the map has no preferred direction and reruns agree;
* max pooling: the block maximum, which is what a CNN's MaxPool layer does to a spin field; it
  is not spin-flip symmetric (maxpool(-s) = -minpool(s)) and flows to "all up" at every T.

Applied repeatedly (L -> L/b -> L/b^2 ...), the flow of |m|, the nearest-neighbour energy and the
Binder cumulant shows the fixed points of the 2D Ising model: below Tc the flow goes to the
ordered fixed point (|m| -> 1, energy -> -2 J, U -> 2/3), above Tc to the disordered one
(energy -> 0, U -> its value for independent spins), and at Tc the observables stay put:
Tc is the unstable fixed point between them.  Comparing the statistics of coarse-grained L
configurations with direct simulations at L/b gives the effective temperature map T -> T'.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from fieldnet.errors import FieldnetError
from fieldnet.io.cf import temperature_attrs

METHODS = ("majority", "maxpool")


# -- the maps --------------------------------------------------------------------------------


def _blocks(config: np.ndarray, b: int) -> np.ndarray:
    """(N, C, *spatial) -> (N, C, *spatial/b, b^d): the sites of each block along the last axis
    (any number d of lattice axes)."""
    n, c, *spatial = config.shape
    if any(s % b for s in spatial):
        shape = "x".join(str(s) for s in spatial)
        raise FieldnetError(f"block size {b} does not divide the lattice {shape}; choose b dividing L")
    d = len(spatial)
    split = [n, c] + [v for s in spatial for v in (s // b, b)]
    order = [0, 1] + [2 + 2 * i for i in range(d)] + [3 + 2 * i for i in range(d)]
    return config.reshape(split).transpose(order).reshape([n, c] + [s // b for s in spatial] + [b**d])


def majority_rule(config: np.ndarray, b: int = 2, rng: np.random.Generator | None = None) -> np.ndarray:
    """Block spins by majority rule, on lattices of any dimension.

    Args:
        config: spins (N, C, *spatial), values +-1 (any numeric dtype).
        b: block size (divides L).
        rng: breaks ties (even blocks) at random; default ``np.random.default_rng(0)``.

    Returns:
        int8 spins (N, C, *spatial/b): sign of each block sum, a random +-1 where the sum is 0.
    """
    rng = np.random.default_rng(0) if rng is None else rng
    sums = _blocks(np.asarray(config, dtype=np.float32), b).sum(axis=-1)
    # one draw per block whatever the number of ties, so the stream does not depend on the data
    tie_break = np.where(rng.random(sums.shape) < 0.5, -1, 1).astype(np.int8)
    return np.where(sums == 0, tie_break, np.sign(sums)).astype(np.int8)


def plurality_rule(config: np.ndarray, b: int, q: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """Block Potts states by plurality: each block takes its most frequent state, ties at random.

    Args:
        config: states (N, 1, *spatial) with values 0..q-1, or one-hot (N, q, *spatial).
        b: block size (divides L).  q: number of states.
        rng: breaks ties; default ``np.random.default_rng(0)``.

    Returns:
        The blocked configurations in the input's layout and dtype.
    """
    rng = np.random.default_rng(0) if rng is None else rng
    config = np.asarray(config)
    onehot = config.shape[1] == q and q > 1
    blocks = _blocks(config, b)  # (N, C, *spatial/b, b^d)
    if onehot:
        counts = np.moveaxis(blocks.sum(axis=-1, dtype=np.float64), 1, -1)  # (N, *spatial/b, q)
    else:
        states = blocks[:, 0].astype(np.int64)  # (N, *spatial/b, b^d)
        counts = np.stack([(states == k).sum(axis=-1) for k in range(q)], axis=-1).astype(np.float64)
    # the most frequent state; a uniform jitter below 1 breaks ties without changing a strict maximum
    winner = np.argmax(counts + rng.random(counts.shape), axis=-1)
    if onehot:
        return np.moveaxis(np.eye(q, dtype=config.dtype)[winner], -1, 1)
    return winner[:, None].astype(config.dtype)


def max_pool_blocks(config: np.ndarray, b: int = 2) -> np.ndarray:
    """The maximum of each b x b block: (N, C, L, L) -> (N, C, L/b, L/b), dtype kept."""
    config = np.asarray(config)
    return _blocks(config, b).max(axis=-1)


def coarse_grain(config: np.ndarray, method: str, b: int = 2, rng: np.random.Generator | None = None) -> np.ndarray:
    """One coarse-graining step with ``method`` in :data:`METHODS`."""
    if method == "majority":
        return majority_rule(config, b, rng)
    if method == "maxpool":
        return max_pool_blocks(config, b)
    raise FieldnetError(f"unknown coarse-graining {method!r}; choose one of {', '.join(METHODS)}")


# -- observables -----------------------------------------------------------------------------


def abs_magnetization(config: np.ndarray) -> np.ndarray:
    """|m| per sample: absolute mean spin over sites (first channel), shape (N,)."""
    s = np.asarray(config, dtype=np.float64)[:, 0]
    return np.abs(s.mean(axis=(1, 2)))


def magnetization(config: np.ndarray) -> np.ndarray:
    """m per sample: mean spin over sites (first channel), shape (N,)."""
    return np.asarray(config, dtype=np.float64)[:, 0].mean(axis=(1, 2))


def nn_energy(config: np.ndarray) -> np.ndarray:
    """Nearest-neighbour energy per site in units of J, -(1/N) sum_<ij> s_i s_j (periodic), shape (N,)."""
    s = np.asarray(config, dtype=np.float64)[:, 0]
    bonds = s * np.roll(s, 1, axis=1) + s * np.roll(s, 1, axis=2)
    return -bonds.mean(axis=(1, 2))


def binder_cumulant(m: np.ndarray) -> float:
    """U = 1 - <m^4> / (3 <m^2>^2) of magnetisations ``m`` (N,): 2/3 ordered, 0 for Gaussian m."""
    m2 = float(np.mean(np.asarray(m, dtype=np.float64) ** 2))
    return float("nan") if m2 == 0 else 1.0 - float(np.mean(np.asarray(m, dtype=np.float64) ** 4)) / (3.0 * m2 * m2)


def _per_temperature(config: np.ndarray, T: np.ndarray, temps: np.ndarray) -> tuple[np.ndarray, ...]:
    m = magnetization(config)
    e = nn_energy(config)
    rows = [(np.abs(m[T == t]).mean(), e[T == t].mean(), binder_cumulant(m[T == t])) for t in temps]
    return tuple(np.array(col) for col in zip(*rows, strict=True))


# -- the flow --------------------------------------------------------------------------------


def rg_flow(data: xr.Dataset, b: int = 2, steps: int | None = None, methods=METHODS, seed: int = 0) -> xr.Dataset:
    """Observables under repeated coarse-graining, per temperature.

    Args:
        data: ``config (sample, channel, y, x)`` spins +-1 and ``temperature (sample)`` (J/k_B).
        b: block size.
        steps: coarse-graining steps (default: while the lattice stays at least 2 x 2).
        methods: any of :data:`METHODS`.
        seed: seeds the majority rule's tie breaks (one stream per method).

    Returns:
        Dataset with ``abs_m``, ``energy`` (J per site) and ``binder`` of dims
        (rule, step, temperature); coordinates ``step`` (0 = the data), ``L_step`` (step),
        ``temperature`` (J/k_B).
    """
    config = np.asarray(data["config"].values)
    if config.ndim != 4 or config.shape[2] != config.shape[3]:
        raise FieldnetError(f"RG needs square 2D configurations (sample, channel, L, L), got shape {config.shape}")
    if b < 2:
        raise FieldnetError(f"block size must be at least 2, got {b}")
    if config.shape[1] != 1 or not np.isin(config, (-1, 1)).all():
        raise FieldnetError(
            "RG block spins need one channel of Ising spins +-1; this data set holds "
            f"{config.shape[1]} channel(s) of other values (simulate an Ising model for 'analyze rg')"
        )
    L = config.shape[2]
    max_steps = 0
    while L // b ** (max_steps + 1) >= 2 and L % b ** (max_steps + 1) == 0:
        max_steps += 1
    if max_steps == 0:
        raise FieldnetError(f"block size {b} does not divide L={L} into at least 2 x 2 blocks; choose b dividing L/2")
    steps = max_steps if steps is None else int(steps)
    if not 0 <= steps <= max_steps:
        raise FieldnetError(f"L={L} allows at most {max_steps} coarse-graining steps with b={b}, asked for {steps}")
    T = np.asarray(data["temperature"].values, dtype=np.float64)
    temps = np.unique(T)
    shape = (len(methods), steps + 1, temps.size)
    out = {name: np.full(shape, np.nan) for name in ("abs_m", "energy", "binder")}
    for i, method in enumerate(methods):
        rng = np.random.default_rng([seed, i])
        c = config
        for k in range(steps + 1):
            if k:
                c = coarse_grain(c, method, b, rng)
            out["abs_m"][i, k], out["energy"][i, k], out["binder"][i, k] = _per_temperature(c, T, temps)
    dims = ("rule", "step", "temperature")
    return xr.Dataset(
        {
            "abs_m": (dims, out["abs_m"], {"long_name": "mean |m|", "units": "1"}),
            "energy": (dims, out["energy"], {"long_name": "nearest-neighbour energy per site", "units": "J"}),
            "binder": (dims, out["binder"], {"long_name": "Binder cumulant 1 - <m^4>/(3<m^2>^2)", "units": "1"}),
        },
        coords={
            "rule": list(methods),
            "step": np.arange(steps + 1),
            "L_step": ("step", np.array([L // b**k for k in range(steps + 1)]), {"long_name": "coarse lattice size"}),
            "temperature": ("temperature", temps, temperature_attrs()),
        },
        attrs={"block_size": b, "L": L, "seed": seed},
    )


def unstable_temperature(flow: xr.Dataset, method: str = "majority") -> float:
    """Where the Binder cumulant does not change under one coarse-graining step (NaN if nowhere).

    Below it U grows towards the ordered value, above it U shrinks: the crossing of U(T) at L and
    at L/b is the unstable fixed point, an estimate of Tc.  Deep in the ordered phase U sits at 2/3
    at every step and its change is sampling noise that can change sign too, so of several
    crossings the one with the largest drop of the change is taken.
    """
    if flow.sizes["step"] < 2:
        return float("nan")
    d = (flow["binder"].sel(rule=method).isel(step=1) - flow["binder"].sel(rule=method).isel(step=0)).values
    T = flow["temperature"].values
    crossings = [j for j in range(d.size - 1)
                 if np.isfinite(d[j]) and np.isfinite(d[j + 1]) and d[j] > 0 >= d[j + 1]]
    if not crossings:
        return float("nan")
    j = max(crossings, key=lambda i: d[i] - d[i + 1])
    return float(T[j] + (T[j + 1] - T[j]) * d[j] / (d[j] - d[j + 1]))


def effective_temperature(flow: xr.Dataset, direct: dict[int, xr.Dataset], observable: str = "abs_m") -> xr.DataArray:
    """The map T -> T' from matching coarse-grained statistics to direct simulations.

    For each step k whose lattice size L/b^k is in ``direct``, T' is the temperature at which the
    directly simulated mean |m| (or another flow observable) at L/b^k equals the coarse-grained
    one at T (linear interpolation of the direct curve, made monotone in T; NaN outside its range).

    Args:
        flow: output of :func:`rg_flow`.
        direct: lattice size -> data set (``config``, ``temperature``) simulated at that size.
        observable: ``"abs_m"`` (default; falls with T) or ``"energy"`` (rises with T).

    Returns:
        ``T_eff (rule, step, temperature)`` in J/k_B, NaN where no direct data match.
    """
    t_eff = np.full((flow.sizes["rule"], flow.sizes["step"], flow.sizes["temperature"]), np.nan)
    for k, Lk in enumerate(flow["L_step"].values):
        if k == 0 or int(Lk) not in direct:
            continue
        ref = rg_flow(direct[int(Lk)], steps=0, methods=("majority",))
        T_ref = ref["temperature"].values
        y_ref = ref[observable].isel(rule=0, step=0).values
        # |m| decreases with T, energy increases: make the curve increasing and monotone
        sign = -1.0 if observable == "abs_m" else 1.0
        y_mono = np.maximum.accumulate(sign * y_ref)
        for i in range(flow.sizes["rule"]):
            y = sign * flow[observable].isel(rule=i, step=k).values
            inside = (y >= y_mono[0]) & (y <= y_mono[-1])
            # np.interp needs strictly increasing x: drop plateaus of the monotone curve
            keep = np.concatenate([[True], np.diff(y_mono) > 0])
            t_eff[i, k] = np.where(inside, np.interp(y, y_mono[keep], T_ref[keep]), np.nan)
    return xr.DataArray(
        t_eff,
        dims=("rule", "step", "temperature"),
        coords={"rule": flow["rule"], "step": flow["step"], "temperature": flow["temperature"]},
        name="T_eff",
        attrs=temperature_attrs(f"effective temperature matching {observable} at L/b^step"),
    )


def map_fixed_point(t_eff: xr.DataArray, rule: str = "majority", step: int = 1) -> float:
    """The temperature where T' = T on the effective temperature map (NaN if it never crosses).

    Where T' - T changes sign from negative (flows to lower T, order) to positive (flows to higher
    T, disorder) is the unstable fixed point of the map, the RG estimate of Tc.
    """
    if step >= t_eff.sizes["step"]:
        return float("nan")
    T = t_eff["temperature"].values
    d = t_eff.sel(rule=rule, step=step).values - T
    for j in range(d.size - 1):
        if np.isfinite(d[j]) and np.isfinite(d[j + 1]) and d[j] < 0 <= d[j + 1]:
            return float(T[j] + (T[j + 1] - T[j]) * -d[j] / (d[j + 1] - d[j]))
    return float("nan")


# -- figures ---------------------------------------------------------------------------------


def plot_flow(flow: xr.Dataset, method: str, tc: float | None = None, *, fig=None):
    """Three panels (|m|, energy, Binder cumulant) against the coarse-graining step, a line per T;
    returns the Figure (``fig``: an empty Figure or SubFigure to draw in, default a new one)."""
    import matplotlib
    from fieldnet.analysis import plots

    f = flow.sel(rule=method)
    temps = f["temperature"].values
    fig, axes = plots.figure(1, 3, size=(13.5, 4.2), fig=fig)
    cmap = "coolwarm"
    colors = [matplotlib.colormaps[cmap](v) for v in np.linspace(0, 1, temps.size)] if temps.size > 1 else ["k"]
    labels = {"abs_m": r"$\langle|m|\rangle$", "energy": r"energy per site ($J$)", "binder": r"Binder cumulant $U$"}
    Ls = f["L_step"].values
    for ax, name in zip(axes, ("abs_m", "energy", "binder"), strict=True):
        for j in range(temps.size):
            ax.plot(f["step"].values, f[name].values[:, j], "o-", color=colors[j])
        ax.set_xlabel(r"coarse-graining step $k$ (lattice $L/b^k$)")
        ax.set_ylabel(labels[name])
        ax.set_xticks(f["step"].values, [f"{k}\n({L})" for k, L in zip(f["step"].values, Ls, strict=True)])
    axes[2].axhline(2 / 3, color="gray", ls=":", lw=1)
    axes[2].annotate("ordered fixed point 2/3", (0, 2 / 3), xytext=(2, -12), textcoords="offset points",
                     fontsize=8, color="gray")
    plots.add_colorbar(fig, axes, temps, plots.T_LABEL, cmap=cmap)
    title = f"RG flow, {method} rule, b={int(flow.attrs['block_size'])}, L={int(flow.attrs['L'])}"
    if tc is not None and np.isfinite(tc):
        title += f" (Binder cumulant unchanged by one step at T ≈ {tc:.3f})"
    fig.suptitle(title)
    return fig


def plot_temperature_map(t_eff: xr.DataArray, tc: float | None = None, *, ax=None):
    """T' against T for every step and method that has direct data, with the diagonal; drawn into
    ``ax`` (default: a new figure); returns the Figure."""
    from fieldnet.analysis import plots

    fig, ax = plots.panel(ax)
    T = t_eff["temperature"].values
    ax.plot(T, T, color="gray", ls=":", label="T' = T")
    styles = {"majority": "o-", "maxpool": "s--"}
    for method in t_eff["rule"].values:
        for k in t_eff["step"].values:
            y = t_eff.sel(rule=method, step=k).values
            if np.isfinite(y).any():
                ax.plot(T, y, styles.get(str(method), "^-"), label=f"{method}, step {k}")
    if tc is not None and np.isfinite(tc):
        plots.mark_vertical(ax, tc, f"Tc = {tc:.3f}", color="k", style="--")
        ax.axhline(tc, color="k", ls="--", lw=0.8)
    ax.set_xlabel(r"temperature $T$ of the coarse-grained configurations ($J/k_B$)")
    ax.set_ylabel(r"effective temperature $T'$ at $L/b^k$ ($J/k_B$)")
    ax.set_title("effective temperature map (matching ⟨|m|⟩)")
    ax.legend()
    return fig
