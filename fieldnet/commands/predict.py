"""`fieldnet predict MODEL DATA -o PRED.nc`: per-sample class probabilities."""

from __future__ import annotations

import argparse

DESCRIPTION = (
    "Per-sample probabilities of the disordered and ordered phases for every configuration of a "
    "data file, with temperature, L and label as coordinates, in a netCDF file that xarray opens."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL", help="model file written by 'fieldnet train'")
    parser.add_argument("data", metavar="DATA", help="data file written by 'fieldnet simulate'")
    parser.add_argument("-o", "--output", default="predictions.nc", help="netCDF file to write (default: predictions.nc)")
    parser.add_argument("--L", type=int, nargs="+", default=None, help="lattice sizes to predict (default: all)")
    parser.add_argument("--batch-size", type=int, default=256, help="samples per forward pass (default: 256)")
    parser.add_argument("--threads", type=int, default=None, help="numba threads (default: NUMBA_NUM_THREADS or all cores)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    import sys

    from fieldnet.atomic import check_output_path
    from fieldnet.errors import FieldnetError
    from fieldnet.modelfile import load_model
    from fieldnet.predictions import predict_dataset, write_predictions

    if args.batch_size < 1:
        raise FieldnetError(f"--batch-size must be positive, got {args.batch_size}")
    out = check_output_path(args.output, overwrite=args.overwrite)
    model = load_model(args.model)
    model.attrs["source_path"] = str(args.model)
    pred = predict_dataset(model, args.data, sizes=args.L, batch_size=args.batch_size,
                           progress=not args.quiet and sys.stderr.isatty())
    write_predictions(pred, out)
    print(f"wrote {out}: {pred.sizes['sample']} samples, L = {sorted(set(pred.L.values.tolist()))}")
    return 0
