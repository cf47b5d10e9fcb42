"""The ``fieldnet`` command line.

Each verb lives in its own module under :mod:`fieldnet.app.commands` and provides
``add_arguments(parser)`` and ``run(args) -> int``.  Command modules import only the standard
library at module level; numpy, numba, h5py and friends are imported inside ``run`` so that
``fieldnet --help`` is instant.  Every verb (and every ``analyze`` sub-verb) takes ``-q`` and
``--threads``; :func:`add_common_options` adds them where a verb does not declare its own.

User errors (:class:`fieldnet.errors.FieldnetError`, and argparse's own) become one line on
stderr and exit status 2 with no traceback; an unknown option names the help of the verb it
was given to.  Ctrl-C exits with status 130 after saying how to resume.  Locks a verb takes on
its outputs (:func:`fieldnet.io.atomic.output_lock`, through ``args._exit_stack``) are released
however it ends.
"""

from __future__ import annotations

import argparse
import contextlib
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


#: seeds are 63-bit integers: stored as int64 attributes, accepted by numpy's SeedSequence
MAX_SEED = 2**63 - 1


def seed_value(text: str) -> int:
    """``--seed`` values: whole numbers from 0 to 2^63 - 1 (argparse turns the error into one line)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a seed is a whole number, got {text!r}") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"a seed is between 0 and 2^63 - 1 = {MAX_SEED}, got {value}")
    return value


def add_common_options(parser: argparse.ArgumentParser) -> None:
    """``--threads N`` and ``-q/--quiet``, unless the verb already declares them; and every
    ``--seed`` the verb declares takes :func:`seed_value` (one rule for all verbs)."""
    known = parser._option_string_actions  # argparse keeps no public registry of options
    if "--seed" in known and known["--seed"].type is int:
        known["--seed"].type = seed_value
    if "--threads" not in known:
        parser.add_argument("--threads", type=int, default=None,
                            help="numba threads (default: NUMBA_NUM_THREADS or all cores)")
    if "-q" not in known and "--quiet" not in known:
        parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars or status lines")


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
        if not getattr(module, "HAS_SUBCOMMANDS", False):
            add_common_options(p)
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


def lock_output(args: argparse.Namespace, path) -> None:
    """Hold the lock of output ``path`` until the verb ends (:func:`fieldnet.io.atomic.output_lock`);
    a second fieldnet process writing the same output is refused at once.  Outside :func:`main`
    (a verb's ``run`` called from Python) nothing is locked."""
    stack = getattr(args, "_exit_stack", None)
    if stack is not None:
        from fieldnet.io.atomic import output_lock

        stack.enter_context(output_lock(path))


def _verb_prog(args: argparse.Namespace) -> str:
    """``fieldnet train`` or ``fieldnet analyze rg``: the command whose help applies."""
    words = ["fieldnet"] + [w for w in (getattr(args, "command", None), getattr(args, "analysis", None)) if w]
    return " ".join(words)


def parse(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse ``argv``; an unknown option is one line naming the help of its own verb."""
    args, extras = parser.parse_known_args(argv)
    if extras:
        prog = _verb_prog(args)
        sys.stderr.write(f"{prog}: error: unrecognized arguments: {' '.join(extras)} (see '{prog} --help')\n")
        raise SystemExit(2)
    return args


def _ignore_unraisable(unraisable) -> None:
    """sys.unraisablehook after Ctrl-C: finalizer errors of interrupted objects are not reported."""


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parse(parser, argv)
    from fieldnet.errors import FieldnetError

    prog = _verb_prog(args)
    # numba's OpenMP threads spin while they wait for work; where other processes share the cores
    # (a workstation, a shared node) the spinning threads take the time the working ones need
    # (training with 2 threads beside one busy process: 11.7 s spinning, 7.1 s passive).  The
    # verb's own process decides this before numba starts its threads; a user's setting wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        with contextlib.ExitStack() as stack:
            args._exit_stack = stack
            if getattr(args, "threads", None) is not None:
                apply_thread_count(args.threads)
            return int(args._module.run(args) or 0)
    except FieldnetError as exc:
        sys.stderr.write(f"{prog}: error: {exc}\n")
        return exc.exit_status
    except KeyboardInterrupt:
        # an interrupt can land inside numba's compiler and leave half-built LLVM objects whose
        # finalizers fail at exit; the process is ending, so their "Exception ignored" noise is dropped
        sys.unraisablehook = _ignore_unraisable
        hint = getattr(args, "_resume_hint", None) or "rerun the same command with --resume"
        sys.stderr.write(f"\n{prog}: interrupted; to continue, {hint}\n")
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
