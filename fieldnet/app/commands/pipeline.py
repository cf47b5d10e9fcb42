"""`fieldnet pipeline [CONFIG.toml]`: the main job, a blind measurement of Tc and nu with a report."""

from __future__ import annotations

import argparse

DESCRIPTION = (
    "Measure a lattice model's critical temperature and exponent nu without being told them: scan a "
    "wide temperature range, locate the transition, simulate a measurement there, train networks on "
    "temperature bands deep in each phase (at several placements), match their output across a "
    "renormalisation-group block step, and report Tc and nu with statistical and systematic errors "
    "beside the Binder-cumulant baseline (summary.json, report.md, PNG figures). With no CONFIG the "
    "built-in default runs (2D Ising, a few minutes on 2 cores); --print-config shows it."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", nargs="?", default=None, metavar="CONFIG.toml", help="settings (default: built in)")
    parser.add_argument("-o", "--output", default="fieldnet-report", help="work and report folder (default: fieldnet-report)")
    parser.add_argument("--print-config", action="store_true", help="print the default configuration and exit")
    parser.add_argument("--resume", action="store_true",
                        help="continue an interrupted pipeline in the same folder (refused if the settings changed)")
    parser.add_argument("--overwrite", action="store_true", help="start afresh in a folder that holds an earlier run")
    parser.add_argument("--threads", type=int, default=None, help="numba threads (default: NUMBA_NUM_THREADS or all cores)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars or stage lines")
    dist = parser.add_argument_group(
        'distributed (needs: pip install "fieldnet[dist]")',
        "the simulation points, every network and every placement's prediction run as Dask tasks; the "
        "work folder (-o) must be shared storage seen at the same path by every worker. The results are "
        "those of a serial run, bit for bit; a network whose worker dies is retrained from its last checkpoint.")
    dist.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                      help="run the tasks on this Dask scheduler's workers (e.g. a dask-jobqueue SLURMCluster)")
    dist.add_argument("--workers", type=int, default=None, metavar="N",
                      help="run the tasks on N local single-threaded Dask worker processes")


def run(args: argparse.Namespace) -> int:
    import sys

    from fieldnet.app.executors import open_executor
    from fieldnet.app.pipeline import run_pipeline
    from fieldnet.app.pipeline_config import load_config, printable_config
    from fieldnet.app.report import headline

    if args.print_config:
        sys.stdout.write(printable_config())
        return 0
    config = load_config(args.config)
    args._resume_hint = f"rerun with --resume (-o {args.output})"
    log = (lambda *_: None) if args.quiet else (lambda line: print(line, file=sys.stderr))
    with open_executor(args.workers, args.scheduler) as executor:
        summary = run_pipeline(config, args.output, resume=args.resume, overwrite=args.overwrite,
                               progress=not args.quiet and sys.stderr.isatty(), log=log, executor=executor)
    print(headline(summary))
    print(f"report: {args.output}/report.md")
    return 0
