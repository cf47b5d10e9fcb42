"""`fieldnet analyze filters MODEL DATA`: learned filters, physics-kernel likeness, activation maps, dead filters."""

from __future__ import annotations

import argparse

from fieldnet.app.commands import analyze

HELP = "first-layer filters vs physics kernels, activation maps at low/critical/high T, dead filters"
DESCRIPTION = (
    "Draw the first convolution's filters, compare each with the nearest-neighbour sum, Laplacian, uniform "
    "and checkerboard kernels (cosine similarity), show the activation maps of one configuration at the "
    "lowest, the critical and the highest temperature layer by layer, and list filters whose output is zero "
    "on every input. Writes filters.nc, filters.json and PNGs into OUTDIR."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    analyze.add_model_data_arguments(parser, "filters")
    analyze.add_per_T_argument(parser, 50,
                               help="configurations per temperature searched for dead filters (default 50)")
    parser.add_argument("--channels", type=int, default=4, help="channels shown per layer in the activation maps (default 4)")
    analyze.add_seed_argument(parser)


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import xarray as xr

    from fieldnet.analysis import plots
    from fieldnet.analysis.filters import (
        dead_filters,
        first_conv,
        kernel_similarity,
        plot_activation_maps,
        plot_filter_grid,
        plot_similarity,
    )
    from fieldnet.analysis.samples import representative_temperatures, write_json, write_netcdf
    from fieldnet.errors import FieldnetError

    analyze.output_dir_for(args, "filters", create=False)  # refuse before the work
    analyze.require_at_least_one(args.channels, "--channels")
    model, ds, x = analyze.model_and_samples(args, args.per_T)
    analyze.require_2d(x, "filters")
    index, conv = first_conv(model)
    kernels = np.asarray(conv.params["kernel"])
    if kernels.ndim != 4 or kernels.shape[-1] != kernels.shape[-2]:
        raise FieldnetError(f"layer {index} has filters of shape {kernels.shape}; only square 2D filters are compared")
    sim = kernel_similarity(kernels)
    dead = dead_filters(model, x)
    T = np.asarray(ds["temperature"].values)
    chosen = {}
    for name, t in representative_temperatures(ds).items():
        chosen[name] = (t, x[np.flatnonzero(T == t)[:1]])
    outdir = analyze.output_dir_for(args, "filters")
    result_ds = xr.Dataset(
        {"filter_weights": (("filter", "in_channel", "ky", "kx"), kernels), "similarity": sim,
         "dead": dead.rename(layer="spatial_layer")},
        attrs={"fieldnet_format": "filters", **analyze.provenance(args), "conv_layer": index},
    )
    write_netcdf(result_ds.reset_coords(["best_kernel"]).assign(best_kernel=lambda d: d.best_kernel.astype(str)),
                 outdir / "filters.nc")
    dead_list = {str(lab): [int(c) for c in np.flatnonzero(dead.sel(layer=lab).values)] for lab in dead["layer"].values}
    result = {
        **analyze.provenance(args), "first_conv_layer": index,
        "filters": [{"filter": int(f), "best_kernel": str(sim["best_kernel"].values[f]),
                     "similarity": {str(k): sim.values[f, j] for j, k in enumerate(sim["kernel"].values)}}
                    for f in range(kernels.shape[0])],
        "dead_filters": dead_list,
        "n_configurations_searched": int(x.shape[0]),
        "activation_temperatures": {k: v[0] for k, v in chosen.items()},
    }
    write_json(result, outdir / "filters.json")
    figs = [plots.save(plot_filter_grid(kernels, sim), outdir / "filters.png"),
            plots.save(plot_similarity(sim), outdir / "filter_similarity.png"),
            plots.save(plot_activation_maps(model, chosen, max_channels=args.channels), outdir / "activations.png")]
    for row in result["filters"]:
        sims = ", ".join(f"{k} {v:+.2f}" for k, v in row["similarity"].items() if np.isfinite(v))
        print(f"filter {row['filter']:3d}: most like {row['best_kernel'] or '-':12s} ({sims})")
    n_dead = sum(len(v) for v in dead_list.values())
    print(f"dead filters (zero on all {x.shape[0]} configurations): "
          + (", ".join(f"{k}: {v}" for k, v in dead_list.items() if v) if n_dead else "none"))
    analyze.print_written(outdir / "filters.nc", outdir / "filters.json", *figs)
    return 0
