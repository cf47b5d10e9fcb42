"""`fieldnet pipeline [CONFIG.toml]`: the main job, simulate -> train -> predict -> Tc -> report."""

from __future__ import annotations

import argparse

DESCRIPTION = (
    "Simulate a lattice model at several L, train a classifier with the critical window held out, "
    "predict every temperature, estimate Tc and nu with errors, and write a report folder "
    "(summary.json, report.md, PNG figures). With no CONFIG the built-in default runs (2D Ising, a "
    "few minutes on 2 cores); --print-config shows it as a starting point."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", nargs="?", default=None, metavar="CONFIG.toml", help="settings (default: built in)")
    parser.add_argument("-o", "--output", default="fieldnet-report", help="work and report folder (default: fieldnet-report)")
    parser.add_argument("--print-config", action="store_true", help="print the default configuration and exit")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted pipeline in the same folder")
    parser.add_argument("--overwrite", action="store_true", help="start afresh in a folder that holds an earlier run")
    parser.add_argument("--threads", type=int, default=None, help="numba threads (default: NUMBA_NUM_THREADS or all cores)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars or stage lines")


def run(args: argparse.Namespace) -> int:
    import sys

    from fieldnet.app.pipeline import default_config_text, load_config, run_pipeline

    if args.print_config:
        sys.stdout.write(default_config_text())
        return 0
    config = load_config(args.config)
    args._resume_hint = f"rerun with --resume (-o {args.output})"
    log = (lambda *_: None) if args.quiet else (lambda line: print(line, file=sys.stderr))
    summary = run_pipeline(config, args.output, resume=args.resume, overwrite=args.overwrite,
                           progress=not args.quiet and sys.stderr.isatty(), log=log)
    tc, err = summary.get("Tc"), summary.get("Tc_err")
    ref = summary.get("Tc_reference")
    line = f"Tc = {tc:.4f} ± {err:.4f} ({summary['Tc_source']})" if tc is not None else "Tc: not determined"
    if ref is not None and tc is not None:
        line += f"; reference {ref:.6f}, deviation {100 * summary['Tc_relative_deviation']:+.2f}%"
    if summary.get("nu") is not None:
        line += f"; nu = {summary['nu']:.3f} ± {summary['nu_err']:.3f}"
    print(line)
    print(f"report: {args.output}/report.md")
    return 0
