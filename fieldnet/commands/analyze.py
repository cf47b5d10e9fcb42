"""`fieldnet analyze WHAT ...`: one sub-verb a module, ``fieldnet/commands/analyze_<what>.py``.

Each sub-verb module provides ``HELP`` (one line), ``add_arguments(parser)`` and ``run(args)``,
imports only the standard library at module level, and writes PNG figures plus netCDF or JSON
numbers into its output folder.
"""

from __future__ import annotations

import argparse
from importlib import import_module

DESCRIPTION = "Analyses of predictions, models and data files, written as figures and numbers."

# sub-verb -> module name under fieldnet.commands
SUBCOMMANDS: dict[str, str] = {
    "tc": "analyze_tc",
    "confusion": "analyze_confusion",
    "equivariance": "analyze_equivariance",
    "filters": "analyze_filters",
    "occlusion": "analyze_occlusion",
    "embedding": "analyze_embedding",
    "rg": "analyze_rg",
    "uncertainty": "analyze_uncertainty",
}


def _available() -> dict[str, object]:
    found = {}
    for verb, module_name in SUBCOMMANDS.items():
        try:
            found[verb] = import_module(f"fieldnet.commands.{module_name}")
        except ModuleNotFoundError as exc:  # a sub-verb not written yet is simply not offered
            if exc.name != f"fieldnet.commands.{module_name}":
                raise
    return found


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="analysis", metavar="WHAT", parser_class=type(parser))
    sub.required = True
    for verb, module in _available().items():
        p = sub.add_parser(verb, help=module.HELP, description=getattr(module, "DESCRIPTION", module.HELP))
        module.add_arguments(p)
        p.set_defaults(_analysis_module=module)


def run(args: argparse.Namespace) -> int:
    return int(args._analysis_module.run(args) or 0)


def add_model_data_arguments(parser: argparse.ArgumentParser, verb: str, model_help: str = "") -> None:
    """The arguments every model-and-data analysis shares: MODEL, DATA, -o OUTDIR, --L."""
    parser.add_argument("model", metavar="MODEL", help=f"model file written by 'fieldnet train'{model_help}")
    parser.add_argument("data", metavar="DATA", help="data file written by 'fieldnet simulate'")
    parser.add_argument("-o", "--output", metavar="OUTDIR", default=None,
                        help=f"output folder (default: <MODEL>_{verb} beside the model file)")
    parser.add_argument("--L", type=int, default=None, help="lattice size to use (needed when DATA holds several)")


def output_dir_for(args: argparse.Namespace, verb: str):
    """The folder ``-o`` names, or ``<MODEL>_<verb>`` beside the model file; created."""
    from pathlib import Path

    from analysis.samples import output_folder

    src = Path(args.model)
    return output_folder(args.output if args.output else src.with_name(f"{src.stem}_{verb}"))
