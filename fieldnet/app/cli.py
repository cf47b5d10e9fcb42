"""The ``fieldnet`` command line.

Each verb lives in its own module under :mod:`fieldnet.app.commands` and provides
``add_arguments(parser)`` and ``run(args) -> int``.  Command modules import only the standard
library at module level; numpy, numba, h5py and friends are imported inside ``run`` so that
``fieldnet --help`` is instant.

User errors (:class:`fieldnet.errors.FieldnetError`, and argparse's own) become one line on
stderr and exit status 2 with no traceback.  Ctrl-C exits with status 130 after saying how to
resume.
"""

from __future__ import annotations

import argparse
import os
import sys
from importlib import import_module

# verb -> (module under fieldnet.app.commands, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "simulate": ("simulate", "Monte Carlo configurations of a lattice model into an HDF5/netCDF file"),
    "info": ("info", "print what a data, model or prediction file holds"),
    "train": ("train", "train a network on a data file"),
    "predict": ("predict", "per-sample phase probabilities of a data file, as netCDF"),
    "export": ("export", "write a trained model as ONNX, for other runtimes"),
    "analyze": ("analyze", "critical temperature, equivariance, filters, RG and other analyses"),
    "pipeline": ("pipeline", "simulate, train, predict and estimate Tc in one run, with a report"),
}


class _ArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (no usage dump) and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message} (see '{self.prog} --help')\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    from fieldnet import __version__

    parser = _ArgumentParser(
        prog="fieldnet",
        description="Classify phases of lattice models with convolutional networks built for lattices.",
    )
    parser.add_argument("--version", action="version", version=f"fieldnet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_ArgumentParser)
    sub.required = True
    for verb, (module_name, help_text) in COMMANDS.items():
        module = import_module(f"fieldnet.app.commands.{module_name}")
        p = sub.add_parser(verb, help=help_text, description=getattr(module, "DESCRIPTION", help_text))
        module.add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def apply_thread_count(threads: int | None) -> None:
    """Honour ``--threads`` before numba starts its thread pool."""
    if threads is not None:
        if threads < 1:
            from fieldnet.errors import FieldnetError

            raise FieldnetError(f"--threads must be at least 1, got {threads}")
        os.environ["NUMBA_NUM_THREADS"] = str(threads)
        import numba

        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from fieldnet.errors import FieldnetError

    try:
        if getattr(args, "threads", None) is not None:
            apply_thread_count(args.threads)
        return int(args._module.run(args) or 0)
    except FieldnetError as exc:
        sys.stderr.write(f"fieldnet {args.command}: error: {exc}\n")
        return exc.exit_status
    except KeyboardInterrupt:
        hint = getattr(args, "_resume_hint", None) or "rerun the same command with --resume"
        sys.stderr.write(f"\nfieldnet {args.command}: interrupted; to continue, {hint}\n")
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
