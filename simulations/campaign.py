"""A campaign: one model over lattice sizes x temperatures, written to one data file.

A campaign is a list of independent :class:`PointTask` s, one per (L, temperature point).
:func:`run_point` computes one (it is pure, top-level and picklable, so a Dask worker can run
it); a ``map_points`` callable turns the list of tasks into results *in task order*
(:func:`serial_map` here; :func:`fieldnet.simulations.distributed.dask_map` on a cluster), and
:func:`run_campaign` writes each result as it arrives with a single
:class:`fieldnet.io.dataset.DatasetWriter`.  Every point's random streams depend only on
(seed, L, point index), so a resumed or distributed run writes exactly what a serial one does.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from fieldnet.simulations.base import LatticeModel
from fieldnet.simulations.registry import coerce_parameter, get_model, model_class
from fieldnet.simulations.sampling import POINT_STAT_ATTRS, TAU_INT_CONVENTION, PointResult

from fieldnet.errors import FieldnetError

#: test hook: raise KeyboardInterrupt after this many points were written (simulates Ctrl-C)
INTERRUPT_ENV = "FIELDNET_TEST_INTERRUPT_AFTER_POINTS"
#: at most this many finished points, and this many bytes of their samples (uncompressed), are
#: written as one group: the writer holds them in memory together
MAX_GROUP_POINTS = 16
MAX_GROUP_BYTES = 64 << 20


@dataclass(frozen=True)
class PointTask:
    """One temperature point of one lattice size: everything needed to compute it anywhere.

    Attributes:
        model: registry name, e.g. "ising2d".
        params: the model's parameters as sorted (name, value) pairs (all of them, defaults
            filled in), hashable and picklable.
        L: linear lattice size.
        temperature: in units of J/k_B.
        index: position of the temperature in the lattice's grid (names the random stream).
        n_samples: configurations to draw.
        algorithm: requested update ("auto" or one of the model's algorithms).
        seed: the campaign's seed.
    """

    model: str
    params: tuple[tuple[str, object], ...]
    L: int
    temperature: float
    index: int
    n_samples: int
    algorithm: str
    seed: int


def run_point(task: PointTask) -> PointResult:
    """Compute one point: its streams are keyed by (seed, L, index) only."""
    model = get_model(task.model, **dict(task.params))
    return model.simulate_point(
        task.L, task.temperature, task.n_samples, algorithm=task.algorithm, seed=task.seed, key=(task.L, task.index)
    )


def serial_map(tasks: Sequence[PointTask]) -> Iterator[PointResult]:
    """Run tasks one after the other in this process, yielding results in task order."""
    for task in tasks:
        yield run_point(task)


def full_params(model: str, params: Mapping[str, Any]) -> tuple[tuple[str, object], ...]:
    """All parameters of ``model``: given ones coerced to the default's type, defaults for the rest,
    as sorted (name, value) pairs.  Raises FieldnetError for unknown names or bad values."""
    cls = model_class(model, dict(params))
    merged = {key: default for key, (default, _doc) in cls.parameters.items()}
    for key, value in params.items():
        merged[key] = coerce_parameter(model, cls, key, value)
    return tuple(sorted(merged.items()))


def plan_campaign(
    model: str,
    params: Mapping[str, Any],
    sizes: Iterable[int],
    temperatures: Iterable[float],
    n_samples: int,
    algorithm: str,
    seed: int,
) -> list[PointTask]:
    """The tasks of a campaign, lattice sizes ascending, then temperatures ascending.

    Raises:
        FieldnetError: unknown model or parameter, L < 2, T <= 0, n_samples < 1, a seed < 0,
            an algorithm the model does not offer at some temperature, or a temperature where
            the algorithm degenerates (:meth:`LatticeModel.check_temperature`).
    """
    pairs = full_params(model, params)
    instance = get_model(model, **dict(pairs))
    sizes = sorted({int(L) for L in sizes})
    temps = np.unique(np.asarray(list(temperatures), dtype=np.float64))
    if not sizes or not len(temps):
        raise FieldnetError("a campaign needs at least one lattice size and one temperature")
    if sizes[0] < 2:
        raise FieldnetError(f"lattice size {sizes[0]} is too small; L must be at least 2")
    if not np.all(np.isfinite(temps)) or temps[0] <= 0:
        raise FieldnetError("temperatures must be positive and finite (units of J/k_B)")
    if int(n_samples) < 1:
        raise FieldnetError(f"--samples must be at least 1, got {n_samples}")
    if int(seed) < 0:
        raise FieldnetError(f"--seed must be a non-negative integer, got {seed}")
    if algorithm != "auto" and algorithm not in instance.algorithms:
        raise FieldnetError(f"model {model} has no algorithm {algorithm!r}; choose auto, {', '.join(instance.algorithms)}")
    resolved = _resolved_algorithms(instance, algorithm, temps)  # raises for e.g. Wolff with a field
    check_size = getattr(instance, "check_size", None)
    if check_size is not None:  # e.g. triangular Metropolis needs 3 | L: refuse before any file exists
        for L in sizes:
            for name in sorted(set(resolved)):
                check_size(L, name)
    for L in sizes:  # a temperature where its sampler degenerates is refused before any file exists
        for T, name in zip(temps, resolved, strict=True):
            instance.check_temperature(L, float(T), name)
    return [
        PointTask(model, pairs, L, float(T), i, int(n_samples), algorithm, int(seed))
        for L in sizes
        for i, T in enumerate(temps)
    ]


def _resolved_algorithms(instance: LatticeModel, algorithm: str, temps: np.ndarray) -> list[str]:
    resolve = getattr(instance, "resolve_algorithm", None)
    if resolve is None:
        return [algorithm if algorithm != "auto" else instance.algorithms[0]] * len(temps)
    return [resolve(algorithm, float(T)) for T in temps]


def _check_resume_compatible(partial: Path, root_attrs: Mapping[str, Any], stat_names: Sequence[str]) -> None:
    """Refuse to resume a partial file started with other couplings, algorithm or samples, or by
    a version of the program that recorded other per-temperature records (and so drew other
    samples)."""
    import h5py

    from fieldnet.io.dataset import scalar_attr

    try:
        with h5py.File(partial, "r") as f:
            for key in ("params", "algorithm", "samples_per_temperature", "model"):
                if key in f.attrs and key in root_attrs:
                    old = scalar_attr(f.attrs[key])
                    if str(old) != str(root_attrs[key]):
                        raise FieldnetError(
                            f"cannot resume {partial}: it was started with {key}={old}, not {root_attrs[key]}; "
                            "rerun with the original arguments, or use --overwrite to start afresh"
                        )
            for name, group in f.items():
                if not isinstance(group, h5py.Group) or "completed" not in group:
                    continue
                missing = [stat for stat in stat_names if stat not in group]
                if missing:
                    raise FieldnetError(
                        f"cannot resume {partial}: its group {name} has no '{missing[0]}', so another version of "
                        "fieldnet started it; use --overwrite to start afresh"
                    )
    except (OSError, KeyError, ValueError, RuntimeError) as exc:  # a partial file damaged by a crash mid-write
        raise FieldnetError(f"cannot resume from {partial}: it is not a readable HDF5 file ({exc}); delete it and rerun") from exc


def run_campaign(
    model: str,
    params: Mapping[str, Any],
    sizes: Iterable[int],
    temperatures: Iterable[float],
    n_samples: int,
    *,
    algorithm: str = "auto",
    seed: int = 0,
    output: str | os.PathLike,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    map_points: Callable[[Sequence[PointTask]], Iterable[PointResult]] = serial_map,
    command: str | None = None,
) -> Path:
    """Simulate ``model`` over ``sizes`` x ``temperatures`` into the data file ``output``.

    Args:
        model, params: registry name and couplings (strings are coerced).
        sizes: lattice sizes L; temperatures: in J/k_B; n_samples: configurations per point.
        algorithm: "auto" or one of the model's algorithms.
        seed: the campaign's seed; the file is a function of (arguments, seed) only.
        output: final path; work goes to ``<output>.partial`` until every point is written.
        resume: continue ``<output>.partial``, skipping completed points.
        overwrite: replace an existing ``output`` (only once the new file is complete).
        progress: show a progress bar on stderr (only when stderr is a terminal).
        map_points: tasks -> results in task order (serial here; Dask in fieldnet.simulations.distributed).
            When the iterator it returns has a ``ready()`` method (how many of the next results
            are already waiting, e.g. :class:`fieldnet.simulations.distributed.ResultStream`),
            the waiting results are written together as one group (one flush; see
            :meth:`fieldnet.io.dataset.DatasetWriter.write_points`), so the single writer keeps
            up with more workers.  The file is the same either way.
        command: the command line recorded as provenance.

    Returns:
        The path of the complete file.
    """
    from fieldnet import __version__
    from fieldnet.io.atomic import check_output_path, describe_os_error, partial_path
    from fieldnet.io.dataset import DatasetWriter, LatticeSpec, PointRecord

    tasks = plan_campaign(model, params, sizes, temperatures, n_samples, algorithm, seed)
    out = check_output_path(output, overwrite=overwrite, resume=resume)
    partial = partial_path(out)
    if resume and out.exists() and not partial.exists():
        sys.stderr.write(f"{out} is already complete; nothing to resume\n")
        return out
    instance = get_model(model, **dict(tasks[0].params))
    sizes_sorted = sorted({t.L for t in tasks})
    temps = np.array(sorted({t.temperature for t in tasks}), dtype=np.float64)
    pairs = dict(tasks[0].params)
    root_attrs: dict[str, Any] = {
        "model": model,
        "params": json.dumps(pairs, sort_keys=True),
        **{f"param_{k}": v for k, v in pairs.items()},
        "seed": int(seed),
        "algorithm": algorithm,
        "samples_per_temperature": int(n_samples),
        "lattice_sizes": sizes_sorted,
        "fieldnet_version": __version__,
        "command": command or "",
        "title": f"{model} Monte Carlo configurations",
        "tau_int_convention": TAU_INT_CONVENTION,
    }
    resolved = _resolved_algorithms(instance, algorithm, temps)
    stat_names = tuple(instance.point_stats)
    if resume and partial.exists():
        _check_resume_compatible(partial, root_attrs, stat_names)

    try:
        writer = DatasetWriter(out, root_attrs, resume=resume)
    except OSError as exc:
        raise FieldnetError(describe_os_error(exc, partial)) from exc
    bar = None
    try:
        with writer:
            pending: list[PointTask] = []
            for L in sizes_sorted:
                attrs = {
                    # a model whose sweeps mean something else says so in its own attrs()
                    "sweep_unit": "one Metropolis sweep = L^d attempted flips; one Wolff sweep = clusters until >= L^d spins flipped",
                    **instance.attrs(),
                    "algorithm": algorithm,
                    "algorithm_per_temperature": resolved,
                    "seed": int(seed),
                    "nu_reference": float("nan") if instance.nu_reference() is None else instance.nu_reference(),
                    "nu_source": instance.nu_source,
                }
                spec = LatticeSpec(
                    L=L,
                    ndim=instance.ndim,
                    channel_names=instance.channel_names,
                    dtype=instance.dtype,
                    temperatures=temps,
                    samples_per_temperature=int(n_samples),
                    observables=instance.observables,
                    point_stats=stat_names,
                    point_stat_attrs={name: POINT_STAT_ATTRS[name] for name in stat_names if name in POINT_STAT_ATTRS},
                    attrs=attrs,
                )
                writer.add_lattice(spec)
                done = writer.completed_points(L)
                pending.extend(t for t in tasks if t.L == L and t.index >= done)
            bar = _progress_bar(len(tasks), len(tasks) - len(pending), model, enabled=progress)
            interrupt_after = int(os.environ.get(INTERRUPT_ENV, "0") or 0)
            written = 0
            results = _ResultGroups(pending, map_points(pending))
            try:
                while not results.exhausted:
                    group = results.next_group(min(MAX_GROUP_POINTS, interrupt_after - written) if interrupt_after else MAX_GROUP_POINTS)
                    records = []
                    for task, result in group:
                        stats = {k: float(v) for k, v in result.stats.items() if k in stat_names}
                        label = instance.label(task.temperature)
                        records.append(PointRecord(task.L, task.index, result.configs, result.observables, label, stats))
                    writer.write_points(records)
                    written += len(group)
                    for task, result in group:
                        for message in result.warnings:
                            _warn(message, bar)
                        if bar is not None:
                            bar.set_postfix_str(f"L={task.L} T={task.temperature:.4g}", refresh=False)
                            bar.update(1)
                    if interrupt_after and written >= interrupt_after:
                        raise KeyboardInterrupt
                results.check_exhausted()
            finally:
                results.close()
            return writer.finalize()
    except OSError as exc:
        raise FieldnetError(describe_os_error(exc, partial)) from exc
    finally:
        if bar is not None:
            bar.close()


class _ResultGroups:
    """The results of ``map_points`` paired with their tasks, in groups: the next result, and
    with it those after it that are already waiting (when the results can say so, through a
    ``ready()`` method), so that the writer stores them with one flush."""

    def __init__(self, tasks: Sequence[PointTask], results: Iterable[PointResult]):
        self._tasks = tasks
        self._results = iter(results)
        self._ready = getattr(results, "ready", None)
        self._taken = 0

    @property
    def exhausted(self) -> bool:
        return self._taken >= len(self._tasks)

    def _take(self) -> tuple[PointTask, PointResult]:
        try:
            result = next(self._results)
        except StopIteration:
            raise ValueError(f"map_points gave {self._taken} results for {len(self._tasks)} tasks") from None
        self._taken += 1
        return self._tasks[self._taken - 1], result

    def next_group(self, limit: int) -> list[tuple[PointTask, PointResult]]:
        """The next result (waiting for it), and up to ``limit`` - 1 more that are already waiting;
        no more are added once the group holds :data:`MAX_GROUP_BYTES` of samples."""
        group = [self._take()]
        if self._ready is None:
            return group
        n_bytes = group[0][1].configs.nbytes
        extra = min(int(self._ready()), int(limit) - 1, len(self._tasks) - self._taken)
        for _ in range(extra):
            if n_bytes >= MAX_GROUP_BYTES:
                break
            group.append(self._take())
            n_bytes += group[-1][1].configs.nbytes
        return group

    def check_exhausted(self) -> None:
        """ValueError when ``map_points`` gives more results than tasks."""
        if next(self._results, None) is not None:
            raise ValueError(f"map_points gave more results than the {len(self._tasks)} tasks")

    def close(self) -> None:
        """Let ``map_points`` clean up now (cancel work on a cluster) when the campaign stops early."""
        close = getattr(self._results, "close", None)
        if close is not None:
            close()


def _progress_bar(total: int, initial: int, model: str, *, enabled: bool):
    if not enabled or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc=f"{model} points", unit="pt", file=sys.stderr, dynamic_ncols=True)


def _warn(message: str, bar) -> None:
    line = f"warning: {message}"
    if bar is not None:
        bar.write(line, file=sys.stderr)
    else:
        sys.stderr.write(line + "\n")
