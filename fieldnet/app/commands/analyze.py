"""`fieldnet analyze WHAT ...`: one sub-verb a module, ``fieldnet/commands/analyze_<what>.py``.

Each sub-verb module provides ``HELP`` (one line), ``add_arguments(parser)`` and ``run(args)``,
imports only the standard library and this module at module level, and writes PNG figures plus
netCDF or JSON numbers into its output folder.  What several sub-verbs share is here, so each
declares only its own options: the ``add_*_argument`` helpers (MODEL, DATA, --L, -o, --per-T,
--seed; ``predict``, ``train`` and ``export`` take MODEL and DATA from them too) and the steps of
``run`` (:func:`model_and_samples`, :func:`output_dir_for`, :func:`provenance`, :func:`print_written`).
"""

from __future__ import annotations

import argparse
from importlib import import_module

DESCRIPTION = "Analyses of predictions, models and data files, written as figures and numbers."

#: the sub-verbs take the common options (-q, --threads) themselves
HAS_SUBCOMMANDS = True

#: the files each sub-verb writes into its output folder (an existing one needs --overwrite)
OUTPUT_FILES: dict[str, tuple[str, ...]] = {
    "tc": ("tc.json", "tc.nc"),
    "confusion": ("confusion.json", "confusion.nc", "confusion.png"),
    "equivariance": ("equivariance.nc", "equivariance.json", "translation_error.png", "symmetry_error.png"),
    "filters": ("filters.nc", "filters.json", "filters.png", "filter_similarity.png", "activations.png"),
    "occlusion": ("saliency.nc", "saliency.json", "saliency.png"),
    "embedding": ("embedding.nc", "embedding.json", "embedding.png"),
    "rg": ("rg.nc", "rg.json", "rg_temperature_map.png"),
    "uncertainty": ("uncertainty.nc", "uncertainty.json", "uncertainty.png"),
}

# sub-verb -> module name under fieldnet.app.commands
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


def _subcommand_modules() -> dict[str, object]:
    """Sub-verb -> its command module (each has HELP, add_arguments and run)."""
    return {verb: import_module(f"fieldnet.app.commands.{name}") for verb, name in SUBCOMMANDS.items()}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from fieldnet.app.cli import add_common_options

    sub = parser.add_subparsers(dest="analysis", metavar="WHAT", parser_class=type(parser))
    sub.required = True
    for verb, module in _subcommand_modules().items():
        p = sub.add_parser(verb, help=module.HELP, description=getattr(module, "DESCRIPTION", module.HELP))
        module.add_arguments(p)
        add_common_options(p)
        p.set_defaults(_analysis_module=module)


def run(args: argparse.Namespace) -> int:
    return int(args._analysis_module.run(args) or 0)


# -- arguments the sub-verbs share ------------------------------------------------------------


def add_model_argument(parser: argparse.ArgumentParser, note: str = "", nargs: str | None = None) -> None:
    """The positional MODEL: a ``fieldnet train`` file (``note`` is appended to the help; ``nargs="+"``
    for several)."""
    parser.add_argument("model", metavar="MODEL", nargs=nargs, help=f"model file written by 'fieldnet train'{note}")


def add_data_argument(parser: argparse.ArgumentParser, note: str = "") -> None:
    """The positional DATA: a ``fieldnet simulate`` file (``note`` is appended to the help)."""
    parser.add_argument("data", metavar="DATA", help=f"data file written by 'fieldnet simulate'{note}")


def add_size_argument(parser: argparse.ArgumentParser,
                      help: str = "lattice size to use (default: the only one; for a model, the size it was built "
                                  "for when DATA holds it, else the largest)") -> None:
    """``--L``: the one lattice size of DATA to analyse (default None)."""
    parser.add_argument("--L", type=int, default=None, help=help)


def add_output_argument(parser: argparse.ArgumentParser, verb: str, source: str = "MODEL",
                        beside: str = "the model file") -> None:
    """``-o/--output OUTDIR`` (by default ``<SOURCE>_<verb>`` beside the input named ``source``)
    and ``--overwrite`` (replace the results of an earlier run there)."""
    parser.add_argument("-o", "--output", metavar="OUTDIR", default=None,
                        help=f"output folder (default: <{source}>_{verb} beside {beside})")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the results of an earlier run in OUTDIR")


def add_per_T_argument(parser: argparse.ArgumentParser, default: int, help: str | None = None) -> None:
    """``--per-T`` (stored as ``per_T``): configurations drawn per temperature."""
    parser.add_argument("--per-T", type=int, default=default, dest="per_T",
                        help=help or f"configurations per temperature (default {default})")


def add_seed_argument(parser: argparse.ArgumentParser,
                      help: str = "seed of the choice of configurations (default 0)") -> None:
    """``--seed`` (default 0)."""
    parser.add_argument("--seed", type=int, default=0, help=help)


def add_model_data_arguments(parser: argparse.ArgumentParser, verb: str, model_help: str = "") -> None:
    """The arguments every model-and-data analysis shares: MODEL, DATA, -o OUTDIR, --L."""
    add_model_argument(parser, model_help)
    add_data_argument(parser)
    add_output_argument(parser, verb)
    add_size_argument(parser)


# -- what their run() shares ------------------------------------------------------------------


def output_dir_for(args: argparse.Namespace, verb: str, source: str = "model", create: bool = True):
    """The folder ``-o`` names, or ``<stem>_<verb>`` beside the input file ``args.<source>``.

    The first call checks, before any work: the folder is not an existing file and can be
    created or written; it holds none of the verb's :data:`OUTPUT_FILES` (unless
    ``--overwrite``), and none of those is an input.  When the command line runs the verb, the
    folder is also locked against a second writer until the verb ends.  With ``create`` the
    folder is made.  Every problem is one FieldnetError line.
    """
    from pathlib import Path

    from fieldnet.errors import FieldnetError

    if getattr(args, "output", None) is not None and not str(args.output).strip():
        raise FieldnetError("the output folder name is empty; give one with -o, e.g. -o results")
    src = getattr(args, source)
    src = Path(src[0] if isinstance(src, list) else src)  # several inputs: named after the first
    out = Path(args.output) if args.output else src.with_name(f"{src.stem}_{verb}")
    checked = getattr(args, "_checked_outputs", set())
    if out not in checked:
        _check_output_folder(args, out, verb)
        from fieldnet.app.cli import lock_output

        lock_output(args, out)
        checked.add(out)
        args._checked_outputs = checked
    if create:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            from fieldnet.io.atomic import describe_os_error

            raise FieldnetError(describe_os_error(exc, out, "rerun")) from None
    return out


def _check_output_folder(args: argparse.Namespace, out, verb: str) -> None:
    import os

    from fieldnet.errors import FieldnetError

    if out.exists() and not out.is_dir():
        raise FieldnetError(f"output {out} exists and is not a folder; choose another -o")
    existing = out if out.is_dir() else next((p for p in out.parents if p.is_dir()), None)
    if existing is None or not os.access(existing, os.W_OK | os.X_OK):
        raise FieldnetError(f"cannot write {out}: folder {existing or out.parent} is not writable; choose another -o")
    inputs = []
    for name in ("model", "data", "predictions"):
        value = getattr(args, name, None)
        inputs += value if isinstance(value, list) else [value] if isinstance(value, str) else []
    for name in OUTPUT_FILES.get(verb, ()):
        target = out / name
        for source in inputs:
            try:
                same = os.path.samefile(target, source)
            except OSError:
                same = False
            if same:
                raise FieldnetError(f"output {target} is the input {source}; writing it would destroy the input, choose another -o")
        if target.exists() and not getattr(args, "overwrite", False):
            raise FieldnetError(f"{target} already exists (an earlier analysis); pass --overwrite to replace it or choose another -o")


def require_at_least_one(value: int, option: str) -> None:
    """A one-line error unless the count ``value`` given as ``option`` is at least 1."""
    if value < 1:
        from fieldnet.errors import FieldnetError

        raise FieldnetError(f"{option} must be at least 1, got {value}")


def require_2d(x, verb: str) -> None:
    """A one-line error unless ``x`` holds 2D lattices (sample, channel, L, L)."""
    if x.ndim != 4:
        from fieldnet.errors import FieldnetError

        raise FieldnetError(f"'analyze {verb}' needs 2D lattices (sample, channel, L, L), got {x.shape}")


def size_for_model(data, model) -> int | None:
    """The lattice size of DATA a model analysis uses without --L: the only one, else the size the
    model was built for when DATA holds it, else the largest."""
    from fieldnet.io.dataset import check_dataset_file

    sizes = check_dataset_file(data)
    if len(sizes) == 1:
        return sizes[0]
    own = (model.input_shape or (None,))[-1]
    return own if own in sizes else max(sizes)


def model_and_samples(args: argparse.Namespace, per_T: int, check=None, pick=None):
    """MODEL, at most ``per_T`` configurations of DATA per temperature, and those as the model's input.

    Args:
        args: parsed arguments with ``model``, ``data``, ``L`` and ``seed``.
        per_T: configurations per temperature, drawn with ``args.seed``.
        check: called with the model before DATA is read (fail early on an unfit model).
        pick: called with DATA's configurations before the draw, returns the ones to draw from.

    Returns:
        ``(model, ds, x)``: x the float32 (N, C, *spatial) configurations the model was checked on.
    """
    from fieldnet.analysis.samples import (
        check_model_fits,
        load_configurations,
        per_temperature_subset,
    )
    from fieldnet.engine.saving import load_model

    model = load_model(args.model)
    model.attrs["source_path"] = str(args.model)
    if check is not None:
        check(model)
    ds = load_configurations(args.data, args.L if args.L is not None else size_for_model(args.data, model))
    warn_if_other_data(args, model)
    if pick is not None:
        ds = pick(ds)
    ds = per_temperature_subset(ds, per_T, args.seed)
    return model, ds, check_model_fits(model, ds)


def warn_if_other_data(args: argparse.Namespace, model) -> None:
    """One warning line on stderr when DATA is not of the kind MODEL was trained on (another
    lattice model, lattice or channel layout): the analysis runs, but says what it looked at."""
    import sys

    from fieldnet.training.batches import read_index
    from fieldnet.training.predict import layout_mismatch

    mismatch = layout_mismatch(model, read_index(args.data, None if args.L is None else [args.L]))
    if mismatch:
        sys.stderr.write(f"fieldnet analyze {args.analysis}: warning: {mismatch}\n")


def provenance(args: argparse.Namespace) -> dict[str, str]:
    """``{"model": MODEL, "data": DATA}`` as strings, for the attributes and JSON of a result."""
    return {"model": str(args.model), "data": str(args.data)}


def print_written(*paths) -> None:
    """The closing line of every analysis: ``wrote A, B, ...``."""
    print("wrote " + ", ".join(str(p) for p in paths))
