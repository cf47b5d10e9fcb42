"""`fieldnet simulate`: Monte Carlo configurations of a lattice model into one HDF5/netCDF file.

The work is a campaign (:mod:`fieldnet.simulations.campaign`): every (L, temperature) point is an
independent task.  ``run`` builds the arguments of :func:`fieldnet.simulations.campaign.run_campaign` in
:func:`campaign_arguments` and passes a ``map_points`` (serial by default) so another executor
(e.g. Dask) can be plugged in by choosing a different ``map_points``.
"""

from __future__ import annotations

import argparse

DESCRIPTION = (
    "Monte Carlo configurations of a lattice model, equilibrated and thinned by the measured "
    "autocorrelation time, written as one HDF5/netCDF file (one group per lattice size). "
    "With no arguments: 2D Ising, L=16, 16 temperatures 1.5..3.2, 100 samples each, -> ising2d.h5."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="ising2d", help="lattice model (default: ising2d); see 'fieldnet info --models'")
    parser.add_argument("--L", nargs="+", default=["16"], metavar="L", help="lattice sizes, e.g. --L 16 32 (default: 16)")
    parser.add_argument(
        "--T",
        nargs="+",
        default=None,
        metavar="T",
        help="temperatures in J/k_B: a value, a list 1.5,2.0 or an inclusive range start:stop:num (default: 16 "
        "temperatures from 0.66 to 1.41 times the model's transition temperature, e.g. ising2d 1.5:3.2:16, "
        "ising3d 2.98:6.36:16, potts q=3 0.66:1.40:16, xy 0.59:1.26:16; 1.5:3.2:16 when none is known)",
    )
    parser.add_argument("--samples", type=int, default=100, help="configurations per temperature and size (default: 100)")
    parser.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same file (default: 0)")
    parser.add_argument(
        "--algorithm",
        default="auto",
        help="update algorithm: auto or one of the model's (see 'fieldnet info --models'); auto picks, per "
        "temperature, the update measured to give more independent samples per second (ising2d: Wolff for "
        "0.85 Tc <= T <= 1.25 Tc with h = 0, multi-spin Metropolis elsewhere)",
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="model coupling, repeatable, e.g. --param J=1 --param h=0.1",
    )
    parser.add_argument("--lattice", default=None, help="lattice geometry for models that have several (ising2d: square, triangular)")
    parser.add_argument("-o", "--output", default=None, help="output file (default: <model>.h5)")
    parser.add_argument("--threads", type=int, default=None, help="numba threads (default: NUMBA_NUM_THREADS or all cores)")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run from <output>.partial")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file (once the new one is complete)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    dist = parser.add_argument_group("distributed (needs: pip install \"fieldnet[dist]\")")
    dist.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT", help="run the points on this Dask scheduler's workers")
    dist.add_argument("--workers", type=int, default=None, metavar="N", help="run the points on N local single-threaded Dask worker processes")


#: largest magnitude of a numeric coupling: beyond it energies overflow (J/k_B units)
MAX_COUPLING = 1e6

#: bytes of working state per lattice site beyond the stored configurations (spins, random
#: words, cluster stacks and measurements; an upper estimate over the models)
WORK_BYTES_PER_SITE = 64


def check_couplings(params: dict) -> None:
    """One line when a numeric ``--param`` is beyond +-MAX_COUPLING (the energies would overflow)."""
    from fieldnet.errors import FieldnetError

    for name, value in params.items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        if abs(number) > MAX_COUPLING:
            raise FieldnetError(f"--param {name}={value}: couplings beyond +-{MAX_COUPLING:g} (units of J) overflow the "
                                "energies; rescale the couplings and temperatures together")


def check_point_memory(instance, sizes: list[int], n_samples: int) -> None:
    """One line when a temperature point of the largest lattice cannot fit the memory budget.

    Args:
        instance: the lattice model (its ndim, channel_names and dtype).
        sizes: lattice sizes L.  n_samples: configurations per temperature point.
    """
    import numpy as np

    from fieldnet.io.limits import require_memory

    L = max(sizes)
    sites = L ** instance.ndim
    configs = n_samples * len(instance.channel_names) * sites * np.dtype(instance.dtype).itemsize
    require_memory(configs + sites * WORK_BYTES_PER_SITE,
                   f"one temperature point of L={L} ({L}^{instance.ndim} = {sites:,} sites, {n_samples:,} samples)",
                   "choose a smaller --L or fewer --samples")


def campaign_arguments(args: argparse.Namespace) -> dict:
    """Validated keyword arguments of :func:`fieldnet.simulations.campaign.run_campaign` (without map_points)."""
    import shlex
    import sys

    from fieldnet.errors import FieldnetError
    from fieldnet.simulations.grids import parse_params, parse_sizes, parse_temperatures
    from fieldnet.simulations.registry import get_model

    if args.output is not None and not args.output.strip():
        raise FieldnetError("the output file name is empty; give one with -o, e.g. -o ising2d.h5")
    from fieldnet.app.cli import MAX_SEED

    if not 0 <= args.seed <= MAX_SEED:  # the command line checks it too (fieldnet.app.cli.seed_value)
        raise FieldnetError(f"--seed must be between 0 and 2^63 - 1 = {MAX_SEED}, got {args.seed}")
    if args.samples < 1:
        raise FieldnetError(f"--samples must be at least 1, got {args.samples}")
    params = parse_params(args.param)
    if args.lattice is not None:
        if "lattice" in params and params["lattice"] != args.lattice:
            raise FieldnetError("--lattice and --param lattice=... disagree; give one of them")
        params["lattice"] = args.lattice
    check_couplings(params)
    instance = get_model(args.model, **params)
    temperatures = args.T if args.T is not None else [instance.default_temperatures()]
    if args.resume and args.overwrite:
        raise FieldnetError("give either --resume (continue the partial file) or --overwrite (start afresh), not both")
    output = args.output or f"{args.model}.h5"
    sizes = parse_sizes(args.L)
    check_point_memory(instance, sizes, args.samples)
    return {
        "model": args.model,
        "params": params,
        "sizes": sizes,
        "temperatures": parse_temperatures(temperatures),
        "n_samples": args.samples,
        "algorithm": args.algorithm,
        "seed": args.seed,
        "output": output,
        "resume": args.resume,
        "overwrite": args.overwrite,
        "progress": not args.quiet,
        "command": shlex.join(["fieldnet", *sys.argv[1:]]) if sys.argv and sys.argv[0] else "fieldnet simulate",
    }


def run(args: argparse.Namespace) -> int:
    import sys

    from fieldnet.app.cli import lock_output
    from fieldnet.errors import FieldnetError
    from fieldnet.io.atomic import check_output_path, partial_path
    from fieldnet.simulations.campaign import run_campaign, serial_map

    kwargs = campaign_arguments(args)
    check_output_path(kwargs["output"], overwrite=args.overwrite, resume=args.resume)
    lock_output(args, kwargs["output"])
    partial = partial_path(kwargs["output"])
    if partial.exists() and not (args.resume or args.overwrite):
        raise FieldnetError(f"an unfinished run left {partial}; continue it with --resume, or pass --overwrite to "
                            "discard it and start afresh")
    args._resume_hint = (
        f"rerun the same command with --resume (finished temperature points are kept in {partial_path(kwargs['output'])})"
    )
    map_points = serial_map
    if args.scheduler is not None or args.workers is not None:
        from fieldnet.simulations.distributed import cluster_map

        map_points = cluster_map(args.scheduler, args.workers)
    path = run_campaign(**kwargs, map_points=map_points)
    if not args.quiet:
        sys.stderr.write(f"wrote {path}\n")
    return 0
