"""`fieldnet analyze confusion DATA`: the W-shaped accuracy curve of learning by confusion and its peak."""

from __future__ import annotations

import argparse

from fieldnet.app.commands import analyze

HELP = "learning by confusion (van Nieuwenburg et al. 2017): Tc from the W-shaped accuracy curve, no labels needed"
DESCRIPTION = (
    "For each proposed critical temperature T', label samples with T < T' ordered, train a fresh small "
    "network and record its test accuracy; the central peak of the W-shaped curve estimates Tc. "
    "Writes confusion.json, confusion.nc and confusion.png into OUTDIR."
)


def _grid(text: str):
    parts = text.split(":")
    if len(parts) != 3:
        raise argparse.ArgumentTypeError(f"--T-grid takes START:STOP:COUNT, e.g. 1.5:3.0:16, got {text!r}")
    try:
        a, b, n = float(parts[0]), float(parts[1]), int(parts[2])
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--T-grid takes numbers START:STOP:COUNT, got {text!r}") from exc
    if n < 3 or not b > a:
        raise argparse.ArgumentTypeError(f"--T-grid START:STOP:COUNT needs STOP > START and COUNT >= 3, got {text!r}")
    return a, b, n


def add_arguments(parser: argparse.ArgumentParser) -> None:
    analyze.add_data_argument(parser)
    analyze.add_size_argument(parser)
    parser.add_argument("--T-grid", dest="T_grid", type=_grid, default=None, metavar="START:STOP:COUNT",
                        help="proposed critical temperatures (J/k_B); default: midpoints between the data temperatures")
    analyze.add_output_argument(parser, "confusion", source="DATA", beside="the data file")
    parser.add_argument("--features", choices=("config", "summary"), default="config",
                        help="network input: the flattened configuration (default) or per-channel |mean| and "
                             "nearest-neighbour products (cheap for large L)")
    parser.add_argument("--hidden", type=int, default=16, help="hidden units of the Dense network (default 16)")
    parser.add_argument("--epochs", type=int, default=60, help="training epochs per proposal (default 60)")
    parser.add_argument("--test-fraction", type=float, default=0.3, help="held-out share per temperature (default 0.3)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="independent trainings per proposal (split and initialisation), averaged (default 3)")
    analyze.add_seed_argument(parser, help="seed of the split and of every training (default 0)")


def run(args: argparse.Namespace) -> int:
    import json
    import sys
    from pathlib import Path

    from fieldnet.errors import FieldnetError

    if not 0.05 <= args.test_fraction <= 0.9:
        raise FieldnetError(f"--test-fraction must be between 0.05 and 0.9, got {args.test_fraction}")
    if args.hidden < 1 or args.epochs < 1 or args.repeats < 1:
        raise FieldnetError("--hidden, --epochs and --repeats must be at least 1")
    src = Path(args.data)
    analyze.output_dir_for(args, "confusion", source="data", create=False)  # refuse before the work
    import numpy as np

    from fieldnet.analysis import plots
    from fieldnet.analysis.confusion import (
        confusion_curve,
        load_configurations,
        mlp_trainer,
        peak_estimate,
        plot_confusion,
    )
    from fieldnet.analysis.samples import reference_tc, write_netcdf
    from fieldnet.io.atomic import write_text_atomically

    ds = load_configurations(src, args.L)
    grid = None if args.T_grid is None else np.linspace(*args.T_grid)
    bar = None
    if not args.quiet and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(desc="confusion", unit="training", file=sys.stderr, leave=False, dynamic_ncols=True)

    def progress(done: int, total: int) -> None:
        """The trainings done so far (proposals x repeats), on the bar."""
        if bar.total != total:  # known at the first training: show the bar with its length at once
            bar.total = total
            bar.refresh()
        bar.update(done - bar.n)

    try:
        curve = confusion_curve(ds, grid, mlp_trainer(hidden=args.hidden, epochs=args.epochs),
                                feature_kind=args.features, test_fraction=args.test_fraction, seed=args.seed,
                                n_repeats=args.repeats, progress=progress if bar is not None else None)
    finally:
        if bar is not None:
            bar.close()
    try:
        tc, err = peak_estimate(curve)
        peak_error = None
    except FieldnetError as exc:  # the curve is still worth writing and looking at
        tc = err = float("nan")
        peak_error = str(exc)
    ref = reference_tc(ds)
    outdir = analyze.output_dir_for(args, "confusion", source="data")

    def num(x):
        return float(x) if np.isfinite(x) else None

    result = {
        "data": str(src),
        "L": int(curve.attrs["L"]),
        "Tc": num(tc),
        "Tc_err": num(err),
        "peak_error": peak_error,
        "Tc_reference": num(ref),
        "deviation": (tc - ref) if np.isfinite(tc) and np.isfinite(ref) else None,
        "proposed_Tc": curve["proposed_Tc"].values.tolist(),
        "accuracy": curve.values.tolist(),
        "accuracy_stderr": curve["stderr"].values.tolist(),
        "repeat_peaks": [float(p) if np.isfinite(p) else None for p in np.ravel(curve.attrs.get("repeat_peaks", []))],
        "settings": {"features": args.features, "hidden": args.hidden, "epochs": args.epochs,
                     "test_fraction": args.test_fraction, "seed": args.seed, "repeats": args.repeats,
                     "n_train": int(curve.attrs["n_train"]), "n_test": int(curve.attrs["n_test"])},
    }
    write_netcdf(curve.assign_attrs(Tc=tc, Tc_err=err, Tc_reference=ref, fieldnet_format="confusion")
                 .reset_coords(["stderr", "trivial"]).assign(trivial=lambda d: d.trivial.astype("int8")),
                 outdir / "confusion.nc")
    write_text_atomically(outdir / "confusion.json", json.dumps(result, indent=2) + "\n")
    plots.save(plot_confusion(curve, peak=(tc, err) if np.isfinite(tc) else None, tc_reference=ref), outdir / "confusion.png")
    if peak_error:
        print(f"no peak estimate: {peak_error}")
    else:
        line = f"confusion peak: Tc = {tc:.4f} ± {err:.4f} J/k_B (L={result['L']})"
        if np.isfinite(ref):
            line += f"; reference {ref:.4f}, deviation {tc - ref:+.4f}"
        print(line)
    analyze.print_written(outdir / "confusion.json", outdir / "confusion.nc", outdir / "confusion.png")
    return 0
