"""`fieldnet analyze occlusion MODEL DATA`: occlusion maps, gradient saliency and Grad-CAM across T."""

from __future__ import annotations

import argparse

from fieldnet.app.commands import analyze

HELP = "where the classifier looks: periodic occlusion maps of p(ordered), gradient saliency, Grad-CAM"
DESCRIPTION = (
    "For configurations across the temperature range: slide a periodic occluding patch over each and map "
    "the change of p(ordered); the gradient d p(ordered)/d spin; and Grad-CAM on the last convolution. "
    "Writes saliency.nc, saliency.json and saliency.png into OUTDIR."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    analyze.add_model_data_arguments(parser, "occlusion")
    parser.add_argument("--patch", type=int, default=3, help="occluding patch side in sites (default 3)")
    parser.add_argument("--value", type=float, default=0.0, help="value written into the patch (default 0: no spin)")
    parser.add_argument("--temperatures", type=int, default=5,
                        help="configurations shown: one at each of this many temperatures spread over the range (default 5)")
    analyze.add_seed_argument(parser)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from fieldnet.analysis import plots
    from fieldnet.analysis.saliency import plot_saliency, saliency_maps
    from fieldnet.analysis.samples import write_json, write_netcdf

    analyze.output_dir_for(args, "occlusion", create=False)  # refuse before the work
    analyze.require_at_least_one(args.temperatures, "--temperatures")

    def spread(ds):  # the configurations at args.temperatures temperatures spread over the range
        temps = np.unique(ds["temperature"].values)
        picked = temps[np.unique(np.round(np.linspace(0, temps.size - 1, min(args.temperatures, temps.size))).astype(int))]
        return ds.isel(sample=np.isin(ds["temperature"].values, picked))

    model, ds, x = analyze.model_and_samples(args, 1, pick=spread)
    analyze.require_2d(x, "occlusion")
    maps = saliency_maps(model, ds, patch=args.patch, value=args.value)
    outdir = analyze.output_dir_for(args, "occlusion")
    write_netcdf(maps.assign_attrs(fieldnet_format="saliency", **analyze.provenance(args)),
                 outdir / "saliency.nc")
    rows = [{"temperature": float(t), "p_ordered": float(p), "max_abs_occlusion_change": float(np.abs(o).max()),
             "mean_abs_saliency": float(np.abs(s).mean())}
            for t, p, o, s in zip(maps["temperature"].values, maps["p_ordered"].values, maps["occlusion"].values,
                                  maps["saliency"].values, strict=True)]
    write_json({**analyze.provenance(args), "patch": args.patch, "value": args.value,
                "configurations": rows}, outdir / "saliency.json")
    fig = plots.save(plot_saliency(maps), outdir / "saliency.png")
    for r in rows:
        print(f"T = {r['temperature']:.4g}: p(ordered) = {r['p_ordered']:.3f}, largest occlusion change "
              f"{r['max_abs_occlusion_change']:.3f}, mean |dp/ds| {r['mean_abs_saliency']:.2e}")
    analyze.print_written(outdir / "saliency.nc", outdir / "saliency.json", fig)
    return 0
