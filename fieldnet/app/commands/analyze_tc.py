"""`fieldnet analyze tc PRED.nc [PRED_SHIFTED.nc ...]`: the critical temperature and nu from predictions."""

from __future__ import annotations

import argparse

from fieldnet.app.commands import analyze

HELP = "Tc and nu measured blind: RG matching of the network output, the Binder baseline, systematics"
DESCRIPTION = (
    "Measure Tc and nu from 'fieldnet predict' output without any known value: the network output is "
    "reweighted over temperature with the data file's energies, the output on configurations "
    "coarse-grained by one block step (predict with --block B) is matched with the output on the L/B "
    "lattice (renormalisation-group matching), and nu comes from the ratio of their slopes; the Binder "
    "cumulant crossings of the same data stand beside it. Give more predictions files, from networks "
    "trained on shifted temperature bands, for the training-range systematic error and the "
    "sensitivity. Writes tc.json, tc.nc and PNG figures into OUTDIR."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from fieldnet.analysis.settings import BOOTSTRAP, BOOTSTRAP_SEED

    parser.add_argument("predictions", metavar="PRED.nc", nargs="+",
                        help="predictions files of one data file; the first gives the estimate, the others (networks "
                        "trained on shifted bands) the training-range systematic")
    parser.add_argument("--data", metavar="DATA.h5", default=None,
                        help="the data file predicted (default: the one named in the predictions)")
    analyze.add_output_argument(parser, "tc", source="PRED", beside="the predictions file")
    parser.add_argument("--bootstrap", type=int, default=BOOTSTRAP, metavar="N",
                        help=f"bootstrap replicas of the statistical errors (default {BOOTSTRAP})")
    parser.add_argument("--seed", type=int, default=BOOTSTRAP_SEED, help=f"seed of the bootstrap (default {BOOTSTRAP_SEED})")
    parser.add_argument("--no-figures", action="store_true", help="write the numbers only")


def run(args: argparse.Namespace) -> int:
    from fieldnet.errors import FieldnetError

    if args.bootstrap < 2:
        raise FieldnetError(f"--bootstrap must be at least 2, got {args.bootstrap}")
    from fieldnet.app.report import headline
    from fieldnet.app.tc_study import analyse_study

    outdir = analyze.output_dir_for(args, "tc", source="predictions", create=False)  # checked before the work
    summary = analyse_study(args.predictions, None, args.data, outdir, n_bootstrap=args.bootstrap, seed=args.seed,
                            figures=not args.no_figures)
    print(headline(summary))
    print(f"wrote {outdir / 'tc.json'}, {outdir / 'tc.nc'}" + ("" if args.no_figures else " and PNG figures"))
    return 0
