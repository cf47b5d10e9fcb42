"""`fieldnet analyze uncertainty MODEL DATA`: Monte Carlo dropout predictive mean and spread against T."""

from __future__ import annotations

import argparse

HELP = "MC-dropout predictive mean and spread of p(ordered) against temperature (model needs Dropout)"
DESCRIPTION = (
    "Runs --passes stochastic forward passes of MODEL with its Dropout layers on (everything else in "
    "inference mode) over --per-T configurations per temperature of DATA, and reports per configuration "
    "and per temperature the mean and standard deviation of p(ordered), the predictive entropy and the "
    "mutual information. Writes uncertainty.nc, uncertainty.json and uncertainty.png into OUTDIR."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL", help="model file written by 'fieldnet train' (with a Dropout layer)")
    parser.add_argument("data", metavar="DATA", help="data file written by 'fieldnet simulate'")
    parser.add_argument("-o", "--output", metavar="OUTDIR", default=None,
                        help="output folder (default: <MODEL>_uncertainty beside the model file)")
    parser.add_argument("--L", type=int, default=None, help="lattice size to use (needed when DATA holds several)")
    parser.add_argument("--per-T", type=int, default=50, dest="per_T",
                        help="configurations per temperature (default 50)")
    parser.add_argument("--passes", type=int, default=30, help="stochastic passes per configuration (default 30)")
    parser.add_argument("--batch-size", type=int, default=256, dest="batch_size", help="batch size (default 256)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the configuration choice and the dropout masks (default 0)")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    import numpy as np

    from analysis.samples import (
        check_model_fits,
        load_configurations,
        output_folder,
        per_temperature_subset,
        write_json,
        write_netcdf,
    )
    from analysis.uncertainty import (
        mc_dropout,
        most_uncertain_temperature,
        plot_uncertainty,
        require_dropout,
        uncertainty_by_temperature,
    )
    from fieldnet.errors import FieldnetError
    from fieldnet.modelfile import load_model

    if args.passes < 2:
        raise FieldnetError(f"--passes must be at least 2 to measure a spread, got {args.passes}")
    model = load_model(args.model)
    require_dropout(model)  # fail before reading any data
    full = load_configurations(args.data, args.L)
    ds = per_temperature_subset(full, args.per_T, args.seed)
    check_model_fits(model, ds)
    per_sample = mc_dropout(model, ds, n_passes=args.passes, seed=args.seed, batch_size=args.batch_size)
    by_T = uncertainty_by_temperature(per_sample)
    tc = float(np.ravel(full.attrs.get("Tc", np.nan))[0]) if "Tc" in full.attrs else float("nan")
    t_peak = most_uncertain_temperature(by_T)

    src = Path(args.model)
    outdir = output_folder(args.output if args.output else src.with_name(src.stem + "_uncertainty"))
    nc = outdir / "uncertainty.nc"
    per_T_nc = by_T.rename({name: f"{name}_by_T" for name in by_T.data_vars})
    write_netcdf(xr_merge(per_sample, per_T_nc).assign_attrs(
        fieldnet_format="uncertainty", model=str(args.model), data=str(args.data)), nc)
    summary = {
        "model": str(args.model), "data": str(args.data), "n_passes": args.passes, "seed": args.seed,
        "dropout_rates": per_sample.attrs["dropout_rates"], "Tc_reference": tc,
        "T_largest_std": t_peak,
        "by_temperature": [
            {"temperature": float(t), **{k: float(by_T[k].sel(temperature=t)) for k in
                                         ("p_mean", "p_std", "p_deterministic", "p_mean_spread",
                                          "entropy", "mutual_information")},
             "n_samples": int(by_T["n_samples"].sel(temperature=t))}
            for t in by_T["temperature"].values
        ],
    }
    js = write_json(summary, outdir / "uncertainty.json")
    png = plot_uncertainty(per_sample, by_T, outdir / "uncertainty.png", tc=tc)
    print(f"MC dropout over {per_sample.sizes['sample']} configurations, {args.passes} passes: "
          f"largest spread at T = {t_peak:.4g} (Tc reference {tc:.4g})")
    print(f"{'T':>8} {'p_mean':>8} {'p_std':>8} {'MI/nat':>8}")
    for row in summary["by_temperature"]:
        print(f"{row['temperature']:8.4g} {row['p_mean']:8.4f} {row['p_std']:8.4f} {row['mutual_information']:8.4f}")
    print(f"wrote {nc}, {js}, {png}")
    return 0


def xr_merge(per_sample, by_T):
    """One data set holding both the per-sample (dim sample) and per-temperature (dim temperature) tables."""
    import xarray as xr

    per_sample = per_sample.rename({"temperature": "sample_temperature"})
    return xr.merge([per_sample, by_T], combine_attrs="override")
