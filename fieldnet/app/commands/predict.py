"""`fieldnet predict MODEL [MODEL ...] DATA -o PRED.nc`: per-sample class probabilities (of one
network, or of an ensemble and its mean)."""

from __future__ import annotations

import argparse

from fieldnet.app.commands import analyze

DESCRIPTION = (
    "Per-sample probabilities of the disordered and ordered phases for every configuration of a "
    "data file, with temperature, L and label as coordinates, in a netCDF file that xarray opens. "
    "Several MODELs (one architecture trained with several --seed values) form an ensemble: the file "
    "holds each network's probabilities and their mean, and 'fieldnet analyze tc' adds the networks' "
    "spread to the error of Tc(L)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    analyze.add_model_argument(parser, "; several form an ensemble", nargs="+")
    analyze.add_data_argument(parser)
    parser.add_argument("-o", "--output", default="predictions.nc", help="netCDF file to write (default: predictions.nc)")
    parser.add_argument("--L", type=int, nargs="+", default=None, help="lattice sizes to predict (default: all)")
    parser.add_argument("--block", type=int, default=0, metavar="B",
                        help="also predict every configuration coarse-grained by BxB blocks (majority rule; for "
                        "'fieldnet analyze tc' RG matching; needs a size-agnostic network; default 0: no)")
    parser.add_argument("--batch-size", type=int, default=256, help="samples per forward pass (default: 256)")
    parser.add_argument("--threads", type=int, default=None, help="numba threads (default: NUMBA_NUM_THREADS or all cores)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    parser.add_argument("--force", action="store_true",
                        help="predict even when DATA is not of the kind the model was trained on (another lattice "
                        "model, lattice or channel layout); a warning says so")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    import sys

    from fieldnet.app.cli import lock_output
    from fieldnet.app.predictions import predict_with_blocks
    from fieldnet.engine.saving import load_model
    from fieldnet.errors import FieldnetError
    from fieldnet.io.atomic import check_output_path
    from fieldnet.io.predictions import write_predictions

    if args.batch_size < 1:
        raise FieldnetError(f"--batch-size must be positive, got {args.batch_size}")
    if args.block == 1 or args.block < 0:
        raise FieldnetError(f"--block must be 0 (none) or at least 2, got {args.block}")
    out = check_output_path(args.output, overwrite=args.overwrite, inputs=[*args.model, args.data])
    lock_output(args, out)
    models = []
    for path in args.model:
        model = load_model(path)
        model.attrs["source_path"] = str(path)
        models.append(model)

    def warn(text: str) -> None:
        sys.stderr.write(f"fieldnet predict: warning: {text}\n")

    pred = predict_with_blocks(models, args.data, block=args.block, sizes=args.L, batch_size=args.batch_size,
                               progress=not args.quiet and sys.stderr.isatty(), force=args.force, warn=warn)
    write_predictions(pred, out)
    networks = f", an ensemble of {len(models)} networks" if len(models) > 1 else ""
    print(f"wrote {out}: {pred.sizes['sample']} samples, L = {sorted(set(pred.L.values.tolist()))}{networks}")
    return 0
