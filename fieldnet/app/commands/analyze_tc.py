"""`fieldnet analyze tc PRED.nc`: the critical temperature from a classifier's predictions."""

from __future__ import annotations

import argparse

from fieldnet.app.commands import analyze

HELP = "Tc(L) from the p(ordered)=1/2 crossing with bootstrap errors, Tc(inf) and nu by finite-size scaling"
DESCRIPTION = (
    "Estimate the critical temperature from 'fieldnet predict' output: Tc(L) where the mean probability "
    "of the ordered phase crosses 1/2 (bootstrap errors over samples; for the predictions of an ensemble, "
    "'fieldnet predict M1 M2 ... DATA', combined with the networks' spread), the extrapolation "
    "Tc(L) = Tc + a L^(-1/nu), and a data collapse of p(T, L) against (T - Tc) L^(1/nu). "
    "Writes tc.json, tc.nc and PNG figures into OUTDIR."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("predictions", metavar="PRED.nc", help="predictions file written by 'fieldnet predict'")
    analyze.add_output_argument(parser, "tc", source="PRED", beside="the predictions file")
    parser.add_argument("--nu", type=float, default=None, metavar="NU",
                        help="fix nu in the Tc(L) extrapolation (e.g. 1 for the 2D Ising model); default: fitted")
    parser.add_argument("--bootstrap", type=int, default=1000, metavar="N", help="bootstrap replicas for Tc(L) (default 1000)")
    parser.add_argument("--collapse-bootstrap", type=int, default=100, metavar="N",
                        help="bootstrap replicas for the collapse errors (default 100)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (default 0)")
    parser.add_argument("--collapse-of", choices=("decisions", "probability"), default="decisions",
                        help="collapse the fraction of configurations classified ordered (default; free of each "
                        "network's confidence width, which does not scale with L) or the mean probability")
    parser.add_argument("--no-figures", action="store_true", help="write the numbers only")


def run(args: argparse.Namespace) -> int:
    from fieldnet.errors import FieldnetError

    if args.bootstrap < 0 or args.collapse_bootstrap < 0:
        raise FieldnetError("--bootstrap and --collapse-bootstrap must be at least 0")
    if args.nu is not None and not args.nu > 0:
        raise FieldnetError(f"--nu must be positive, got {args.nu}")
    from fieldnet.analysis.fss import analyze_tc, format_tc_table
    from fieldnet.analysis.tc import load_predictions

    pred = load_predictions(args.predictions)
    pred.attrs["source_path"] = str(args.predictions)
    outdir = analyze.output_dir_for(args, "tc", source="predictions", create=False)
    result = analyze_tc(pred, outdir, nu=args.nu, n_bootstrap=args.bootstrap,
                        collapse_bootstrap=args.collapse_bootstrap, collapse_of=args.collapse_of, seed=args.seed,
                        figures=not args.no_figures)
    print(format_tc_table(result))
    print(f"wrote {outdir / 'tc.json'}, {outdir / 'tc.nc'}" + ("" if args.no_figures else " and PNG figures"))
    return 0
