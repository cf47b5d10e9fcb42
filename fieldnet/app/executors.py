"""Where the application's independent tasks run: here, one after the other, or on a Dask cluster.

A stage whose work splits into independent tasks (the temperature points of a campaign, the
networks of an ensemble, the predictions of each training-range placement) hands an executor a
top-level, picklable task function and the list of tasks; the executor yields the results *in
task order*, whatever order they finish in.  The caller writes its files and records as each
result arrives, so a distributed run writes exactly what a serial one does.

* :class:`SerialExecutor` runs each task in this process when its result is asked for.
* :class:`DaskExecutor` submits every task at once to a ``dask.distributed`` cluster: N local
  single-threaded worker processes on 127.0.0.1 (``--workers N``) or the workers of a running
  scheduler (``--scheduler tcp://HOST:PORT``, e.g. one started by dask-jobqueue's
  SLURMCluster).  It connects when entered (``with``), so an unreachable scheduler is
  reported before any file is touched.
  Tasks read and write their files themselves: the work folder must be shared storage, seen at
  the same absolute path by every worker.  Campaign points go through the campaign's own Dask map
  (:func:`fieldnet.simulations.distributed.dask_map`), which sends the samples back to the one
  writer here.

Lost workers: the scheduler runs a task whose worker died again elsewhere (up to
``distributed.scheduler.allowed-failures`` deaths per task).  A task that raises is not run
again: its error (unreadable data, a diverged training) would come back the same, and is
reported as a serial run reports it.

The training task :func:`train_network` lives here because ``fieldnet train --ensemble`` and the
pipeline both submit it.  It always continues from the network's checkpoint
(``<model>.partial``), so a network whose worker died is retrained from its last finished epoch
and ends bit for bit where an uninterrupted run would.

Dask is an optional extra (``pip install "fieldnet[dist]"``); this module imports it only when a
Dask executor is made.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fieldnet.errors import FieldnetError
from fieldnet.training.config import TrainConfig


class SerialExecutor:
    """Runs tasks in this process, one after the other, each when its result is asked for."""

    #: tasks run in this process: they may be handed a log callback and draw progress bars
    in_process = True

    def map(self, function: Callable[[Any], Any], tasks: Iterable[Any]) -> Iterator[Any]:
        """``function(task)`` for each task, in order (lazily)."""
        for task in tasks:
            yield function(task)

    def map_points(self, tasks):
        """A campaign's ``map_points``: its points in this process (``serial_map``)."""
        from fieldnet.simulations.campaign import serial_map

        return serial_map(tasks)

    def check_shared(self, *paths: str | os.PathLike) -> None:
        """Nothing to check: the tasks run here."""

    def close(self) -> None:
        """Nothing to release."""

    def __enter__(self) -> SerialExecutor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _import_distributed():
    from fieldnet.simulations.distributed import INSTALL_HINT

    try:
        import distributed
    except ImportError:
        raise FieldnetError(f"--workers and --scheduler need dask.distributed, which is not installed; {INSTALL_HINT}") from None
    return distributed


def _task_key(task: Any) -> str:
    """A readable Dask key unique to the task's content, e.g. ``fieldnet-TrainTask-model_p0_net1.h5-<digest>``."""
    digest = hashlib.sha1(repr(task).encode()).hexdigest()[:12]
    return f"fieldnet-{type(task).__name__}-{getattr(task, 'name', '')}-{digest}"


def _on_worker(function: Callable[[Any], Any], task: Any) -> Any:
    """``function(task)`` with one numba thread: a worker already runs one task per thread, so
    more numba threads would only oversubscribe its cores (results do not depend on it)."""
    import numba

    numba.set_num_threads(1)
    return function(task)


class DaskExecutor:
    """Runs tasks on a Dask cluster and yields their results in task order.

    Args:
        scheduler: address of a running scheduler, ``tcp://HOST:PORT``.
        workers: without a scheduler, start this many single-threaded local worker processes.
        client: use this connected ``distributed.Client`` instead (not closed here).

    Raises:
        FieldnetError: dask is not installed, both ``scheduler`` and ``workers`` are given, or
            ``workers`` < 1; an unreachable scheduler when entered or at the first task.
    """

    in_process = False

    def __init__(self, scheduler: str | None = None, workers: int | None = None, *, client: Any = None):
        self._distributed = _import_distributed()
        if scheduler is not None and workers is not None:
            raise FieldnetError("give either --scheduler (use a running cluster) or --workers (start a local one), not both")
        if workers is not None and int(workers) < 1:
            raise FieldnetError(f"--workers must be at least 1, got {workers}")
        self.scheduler, self.workers = scheduler, workers
        self._client = client
        self._connection = contextlib.ExitStack()

    @property
    def client(self) -> Any:
        """The ``distributed.Client``, connected (or the local cluster started) on first use."""
        if self._client is None:
            from fieldnet.simulations.distributed import connect

            self._client = self._connection.enter_context(connect(self.scheduler, self.workers))
        return self._client

    def map(self, function: Callable[[Any], Any], tasks: Iterable[Any]) -> Iterator[Any]:
        """Submit ``function(task)`` for every task at once (earlier tasks first in the queue),
        then yield the results in task order; tasks not yet consumed are cancelled when the
        caller stops early (an error, Ctrl-C)."""
        tasks = list(tasks)
        if not tasks:
            return
        client = self.client
        futures = [client.submit(_on_worker, function, task, key=_task_key(task), priority=len(tasks) - i,
                                 retries=0, pure=False) for i, task in enumerate(tasks)]
        try:
            for task, future in zip(tasks, futures, strict=True):
                try:
                    result = future.result()
                except self._distributed.KilledWorker as exc:
                    raise FieldnetError(
                        f"Dask workers died repeatedly while running {getattr(task, 'name', task)}; check the workers' "
                        "memory limit and logs, then rerun with --resume"
                    ) from exc
                future.release()
                yield result
        finally:
            pending = [f for f in futures if not f.done()]
            if pending:
                with contextlib.suppress(Exception):
                    client.cancel(pending)

    def check_shared(self, *paths: str | os.PathLike) -> None:
        """FieldnetError unless every worker connected now sees every one of ``paths`` (the tasks
        read and write their files there: it must be shared storage, at the same path)."""
        for path in map(str, paths):
            seen = self.client.run(os.path.exists, path)
            blind = sorted(worker for worker, exists in seen.items() if not exists)
            if blind:
                raise FieldnetError(f"{len(blind)} of {len(seen)} Dask workers (e.g. {blind[0]}) do not see {path}; "
                                    "the work files must be on storage shared with the workers, at the same path")

    def map_points(self, tasks):
        """A campaign's ``map_points``: its points on the cluster, in task order
        (:func:`fieldnet.simulations.distributed.dask_map`)."""
        from fieldnet.simulations.distributed import dask_map

        tasks = list(tasks)
        if tasks:
            return dask_map(self.client)(tasks)  # it says how many results are waiting (group commit)
        return iter(())

    def close(self) -> None:
        """Close the connection, and the local cluster when this executor started one."""
        self._connection.close()

    def __enter__(self) -> DaskExecutor:
        self.client  # noqa: B018 -- connect now: a wrong address is reported before any file is touched
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_executor(workers: int | None = None, scheduler: str | None = None) -> SerialExecutor | DaskExecutor:
    """The executor the ``--workers`` and ``--scheduler`` options ask for (neither: serial).

    Every argument is checked here, before any work starts (see :class:`DaskExecutor`).
    """
    if workers is None and scheduler is None:
        return SerialExecutor()
    return DaskExecutor(scheduler, workers)


# -- training a network as a task ----------------------------------------------------------------


@dataclass(frozen=True)
class TrainTask:
    """One network to train, with everything a worker needs (paths are absolute).

    Attributes:
        data: the data file to train on.
        output: the model file to write; its checkpoint is ``<output>.partial``.
        config: the run's settings (seed included).
        command: the command line recorded in the model's provenance.
        progress: a progress bar on stderr (only for tasks run in this process).
    """

    data: str
    output: str
    config: TrainConfig
    command: str
    progress: bool = False

    @property
    def name(self) -> str:
        return Path(self.output).name


def train_network(task: TrainTask, log: Callable[[str], None] | None = None) -> list[str]:
    """Train one network (:func:`fieldnet.training.trainer.train`), continuing from its
    checkpoint when one exists; returns the epoch lines when ``log`` is None (a worker's lines
    are printed by the client), else hands them to ``log`` as they come."""
    from fieldnet.io.atomic import partial_path
    from fieldnet.training.trainer import train

    lines: list[str] = []
    train(task.data, task.output, task.config, resume=partial_path(task.output).exists(), overwrite=True,
          progress=task.progress, command=task.command, log=log or lines.append)
    return lines


def ensemble_outputs(output: str | os.PathLike, ensemble: int | None) -> list[Path]:
    """The model files of ``fieldnet train``: ``output`` itself, or ``<stem>_net<k><suffix>``
    for k = 1..K with ``--ensemble K``."""
    out = Path(output)
    if ensemble is None:
        return [out]
    return [out.with_name(f"{out.stem}_net{k}{out.suffix}") for k in range(1, ensemble + 1)]


def train_ensemble(data: str | os.PathLike, output: str | os.PathLike, cfg: TrainConfig, ensemble: int | None, *,
                   workers: int | None = None, scheduler: str | None = None, resume: bool = False,
                   overwrite: bool = False, progress: bool = False, command: str = "",
                   log: Callable[[str], None] = print) -> list[tuple[Path, Any]]:
    """``fieldnet train --ensemble K``: K networks with seeds ``cfg.seed`` ... ``cfg.seed + K - 1``,
    each an independent task (here, or on Dask with ``workers`` / ``scheduler``); returns
    (model file, model) in seed order.  ``ensemble`` None: the one network ``output``.

    Each network is exactly what ``fieldnet train --seed S -o FILE`` writes.  The data, the
    settings and every output are checked before any training starts (an existing file needs
    ``overwrite`` or ``resume``); without ``resume`` a stale checkpoint of an earlier run is
    discarded, as a single run discards it, because the tasks continue from any checkpoint
    they find.
    """
    from dataclasses import replace

    from fieldnet.engine.saving import load_model
    from fieldnet.io.atomic import check_output_path, partial_path
    from fieldnet.training.batches import read_index

    if ensemble is not None and ensemble < 1:
        raise FieldnetError(f"--ensemble must be at least 1, got {ensemble}")
    executor = open_executor(workers, scheduler)
    cfg.resolved()
    read_index(data, cfg.sizes)
    outputs = [check_output_path(p, overwrite=overwrite, resume=resume).resolve() for p in ensemble_outputs(output, ensemble)]
    data = str(Path(data).resolve())
    with executor:
        executor.check_shared(data, outputs[0].parent)
        if not resume:
            for out in outputs:
                for stale in (partial_path(out), partial_path(out.with_name(out.name + ".best"))):
                    stale.unlink(missing_ok=True)
        tasks = [TrainTask(data, str(out), replace(cfg, seed=cfg.seed + k), command, progress=progress and executor.in_process)
                 for k, out in enumerate(outputs)]
        function = functools.partial(train_network, log=log) if executor.in_process else train_network
        models = []
        with contextlib.closing(executor.map(function, tasks)) as results:
            for task in tasks:
                if ensemble is not None:
                    log(f"network {task.name} (seed {task.config.seed})")
                for line in next(results):
                    log(line)
                models.append((Path(task.output), load_model(task.output)))
    return models
