"""`fieldnet analyze uncertainty MODEL DATA`: Monte Carlo dropout mean and spread of p(ordered) against T."""

from __future__ import annotations

import argparse

from fieldnet.app.commands import analyze

HELP = "Monte Carlo dropout: predictive mean and spread of p(ordered) against T"
DESCRIPTION = (
    "Run MODEL many times with its Dropout layers sampling masks (everything else in evaluation mode) on "
    "configurations at every temperature, and report the mean of p(ordered) and its spread over passes "
    "(the model's uncertainty) and over configurations. Writes uncertainty.nc, uncertainty.json and "
    "uncertainty.png into OUTDIR."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    analyze.add_model_data_arguments(parser, "uncertainty", " (with Dropout)")
    parser.add_argument("--passes", type=int, default=30, help="stochastic forward passes (default 30)")
    analyze.add_per_T_argument(parser, 50)
    analyze.add_seed_argument(parser, help="seed of the dropout masks and the choice of configurations")


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from fieldnet.analysis import plots
    from fieldnet.analysis.samples import reference_tc, write_json, write_netcdf
    from fieldnet.analysis.uncertainty import dropout_layers, mc_dropout, plot_uncertainty

    analyze.output_dir_for(args, "uncertainty", create=False)  # refuse before the work
    model, ds, _ = analyze.model_and_samples(args, args.per_T, check=dropout_layers)
    result = mc_dropout(model, ds, n_passes=args.passes, seed=args.seed)
    tc = reference_tc(ds)
    outdir = analyze.output_dir_for(args, "uncertainty")
    write_netcdf(result.assign_attrs(fieldnet_format="uncertainty", **analyze.provenance(args), Tc_reference=tc),
                 outdir / "uncertainty.nc")
    peak = float(result["temperature"].values[int(np.argmax(result["mc_std"].values))])
    write_json({**analyze.provenance(args), "passes": args.passes, "seed": args.seed,
                "temperature": result["temperature"].values, "mean": result["mean"].values,
                "mc_std": result["mc_std"].values, "sample_std": result["sample_std"].values,
                "deterministic": result["deterministic"].values, "T_max_uncertainty": peak, "Tc_reference": tc},
               outdir / "uncertainty.json")
    fig = plots.save(plot_uncertainty(result, tc=tc), outdir / "uncertainty.png")
    print(f"{'T':>8s} {'mean p':>8s} {'MC std':>8s} {'sample std':>10s} {'no dropout':>10s}")
    for i, t in enumerate(result["temperature"].values):
        print(f"{t:8.4f} {result['mean'].values[i]:8.3f} {result['mc_std'].values[i]:8.3f} "
              f"{result['sample_std'].values[i]:10.3f} {result['deterministic'].values[i]:10.3f}")
    print(f"largest model uncertainty at T = {peak:.4f} J/k_B")
    analyze.print_written(outdir / "uncertainty.nc", outdir / "uncertainty.json", fig)
    return 0
