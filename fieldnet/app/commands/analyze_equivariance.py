"""`fieldnet analyze equivariance MODEL DATA`: translation, point-group and spin-flip symmetry per layer."""

from __future__ import annotations

import argparse

from fieldnet.app.commands import analyze

HELP = "per-layer equivariance errors under lattice translations, the square's point group and spin flip"
DESCRIPTION = (
    "For every layer of MODEL and every lattice translation a, the relative error "
    "||f(T_a x) - T_{a/s} f(x)|| / ||f(x)|| (s = cumulative stride; shifts that are not multiples of s "
    "are flagged as broken), the same for the 8 symmetries of the square and for spin flip "
    "(with maxpool(-x) = -minpool(x) checked), for the model with periodic and with zero padding on the "
    "same weights. Writes equivariance.nc, equivariance.json and heat-map PNGs into OUTDIR."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    analyze.add_model_data_arguments(parser, "equivariance")
    analyze.add_per_T_argument(parser, 2,
                               help="configurations per temperature (default 2; the errors are identities, few suffice)")
    parser.add_argument("--shift-step", type=int, default=1, dest="shift_step",
                        help="analyse translations by multiples of this many sites in each direction (default 1: all)")
    analyze.add_seed_argument(parser)


def run(args: argparse.Namespace) -> int:
    from fieldnet.analysis import plots
    from fieldnet.analysis.equivariance import (
        equivariance_report,
        format_table,
        plot_symmetry_table,
        plot_translation_maps,
        summary_table,
    )
    from fieldnet.analysis.samples import write_json, write_netcdf
    from fieldnet.errors import FieldnetError

    analyze.output_dir_for(args, "equivariance", create=False)  # refuse before the work
    analyze.require_at_least_one(args.shift_step, "--shift-step")
    model, _, x = analyze.model_and_samples(args, args.per_T)
    if x.ndim != 4 or x.shape[-1] != x.shape[-2]:
        raise FieldnetError(f"equivariance needs square 2D lattices (sample, channel, L, L), got {x.shape}")
    L = x.shape[-1]
    shifts = [(ay, ax) for ay in range(0, L, args.shift_step) for ax in range(0, L, args.shift_step)]
    report = equivariance_report(model, x, shifts=shifts)
    rows = summary_table(report)
    outdir = analyze.output_dir_for(args, "equivariance")
    write_netcdf(report.assign_attrs(fieldnet_format="equivariance", **analyze.provenance(args)),
                 outdir / "equivariance.nc")
    write_json({**analyze.provenance(args), "L": L, "n_samples": int(x.shape[0]),
                "table": rows}, outdir / "equivariance.json")
    figs = [plots.save(plot_translation_maps(report), outdir / "translation_error.png"),
            plots.save(plot_symmetry_table(report), outdir / "symmetry_error.png")]
    print(format_table(rows))
    analyze.print_written(outdir / "equivariance.nc", outdir / "equivariance.json", *figs)
    return 0
