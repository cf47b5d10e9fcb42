"""Run a campaign's temperature points on a Dask cluster, keeping one writer and the serial result.

A campaign (:mod:`fieldnet.simulations.campaign`) is a list of independent :class:`PointTask` s (model,
couplings, L, temperature point, seed).  :func:`run_campaign` asks a ``map_points`` callable for
their results *in task order* and writes them with a single :class:`fieldnet.io.dataset.DatasetWriter`.
:func:`dask_map` is such a callable backed by ``dask.distributed``: it submits the tasks as futures,
collects them as they finish, and hands them back in task order, so the file is byte-for-byte the
content a serial run writes (every point's random stream depends only on seed, L and point index).

Workers also compress the samples they produce, chunk by chunk and byte for byte as the data file
stores them (:func:`fieldnet.io.dataset.encode_configs`); the writer only copies the chunks into
the file.  Compression is most of the cost of writing, so this keeps the single writer from
limiting how many workers a campaign can use (see benchmarks/distributed.py for the figures).

Fault handling is Dask's: a task whose worker dies is re-run elsewhere (the scheduler allows
``distributed.scheduler.allowed-failures`` deaths per task); a task that raises is retried
``retries`` times; a finished result that waits on a worker for its turn and is lost with that
worker is recomputed (the client still holds its future).  Each result is fetched and released in
task order, and only a bounded window of tasks is in flight at once, so memory on the workers and
here stays bounded however many points a campaign has.

Usage::

    with connect(workers=2) as client:              # or connect("tcp://host:8786")
        run_campaign(..., map_points=dask_map(client))

    run_campaign(..., map_points=cluster_map(scheduler="tcp://host:8786"))  # connects lazily

Dask is an optional extra: ``pip install "fieldnet[dist]"``.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from fieldnet.errors import FieldnetError

if TYPE_CHECKING:  # pragma: no cover
    from fieldnet.simulations.campaign import PointTask
    from fieldnet.simulations.sampling import PointResult

INSTALL_HINT = 'install the Dask extra with: pip install "fieldnet[dist]"'
# environment of local worker processes: one numba/BLAS thread each, because the cluster already
# runs one task per core; more threads per worker would only oversubscribe the cores
WORKER_ENV = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _import_distributed():
    try:
        import distributed
    except ImportError as exc:
        raise FieldnetError(f"distributed runs need dask.distributed, which is not installed; {INSTALL_HINT}") from exc
    return distributed


def task_key(task: PointTask) -> str:
    """A readable, unique Dask key for a task: ``fieldnet-ising2d-L16-p3-<digest>``.

    The digest covers every field (couplings, seed, samples, ...), so two campaigns that share a
    cluster never mistake each other's results for their own.
    """
    digest = hashlib.sha1(repr(task).encode()).hexdigest()[:12]
    return f"fieldnet-{task.model}-L{task.L}-p{task.index}-{digest}"


def run_point_on_worker(task: PointTask, numba_threads: int = 1) -> PointResult:
    """Run one task on a worker with ``numba_threads`` numba threads (the worker's own cores are
    already shared by its task slots, so nested parallelism would oversubscribe them), and
    compress its samples as the data file stores them (the writer then only copies them)."""
    import dataclasses

    import numba
    from fieldnet.simulations.campaign import run_point

    from fieldnet.io.dataset import encode_configs

    numba.set_num_threads(max(1, min(int(numba_threads), numba.config.NUMBA_NUM_THREADS)))
    result = run_point(task)
    return dataclasses.replace(result, configs=encode_configs(result.configs, str(result.configs.dtype)))


class ResultStream:
    """Results in task order (an iterator, as ``map_points`` returns them) that can also say how
    many of the next results are already waiting: :func:`fieldnet.simulations.campaign.run_campaign`
    then writes those together, with one flush (a group commit).

    Args:
        results: the iterator of results (a generator: :meth:`close` closes it).
        ready: ``ready() -> int``, how many of the next results can be taken without waiting.
    """

    def __init__(self, results: Iterator[PointResult], ready: Callable[[], int]):
        self._results = results
        self._ready = ready

    def __iter__(self) -> ResultStream:
        return self

    def __next__(self) -> PointResult:
        return next(self._results)

    def ready(self) -> int:
        """How many of the next results are finished and can be taken without waiting."""
        return self._ready()

    def close(self) -> None:
        """Stop early: the generator's clean-up runs (work still running on the cluster is cancelled)."""
        close = getattr(self._results, "close", None)
        if close is not None:
            close()


def dask_map(
    client: Any,
    *,
    retries: int = 3,
    max_in_flight: int | None = None,
    numba_threads: int = 1,
    function: Callable[..., Any] = run_point_on_worker,
    fetch_together: int = 16,
) -> Callable[[Iterable[PointTask]], Iterator[PointResult]]:
    """A ``map_points`` callable for :func:`fieldnet.simulations.campaign.run_campaign` that runs on Dask.

    Args:
        client: a ``distributed.Client`` (see :func:`connect`).
        retries: re-runs of a task that raises (worker deaths are retried by the scheduler).
        max_in_flight: tasks submitted ahead of the next one to be written; default
            ``max(8, 4 * total worker threads)``.  Bounds the memory held by finished points
            that wait for an earlier, slower one.
        numba_threads: numba threads per task on the workers.
        function: ``function(task, numba_threads) -> PointResult`` run on the workers (tests swap
            in an instrumented one).
        fetch_together: when the next result is fetched, up to this many results that follow it
            in task order and have finished too are fetched with it, in one request: each
            request costs milliseconds of the writer's time (the client's event loop, the
            scheduler, the worker), so one per point would limit the workers the writer keeps up
            with.  They wait here, at most this many, until they are handed out.

    Returns:
        ``map_points(tasks) -> iterator of PointResult`` in the order of ``tasks``, a
        :class:`ResultStream` (it says how many of the next results are already finished).
    """
    distributed = _import_distributed()

    counted = [-float("inf"), 0]  # when the workers' threads were last counted, and the window then

    def window() -> int:
        if max_in_flight is not None:
            return max(1, int(max_in_flight))
        # counting asks the scheduler (a millisecond of the writer's time): once a second is
        # enough to follow workers that join or leave
        if time.monotonic() - counted[0] > 1.0:
            counted[:] = [time.monotonic(), max(8, 4 * sum(client.nthreads().values()))]
        return counted[1]

    def map_points(tasks: Iterable[PointTask]) -> ResultStream:
        tasks = list(tasks)
        futures: dict[int, Any] = {}  # task position -> future, for submitted, unfetched tasks
        fetched: dict[int, Any] = {}  # task position -> result, fetched with an earlier one
        position = [0]  # the position of the next result to hand out

        def ready() -> int:
            n = 0
            while True:
                p = position[0] + n
                if p not in fetched and ((fut := futures.get(p)) is None or fut.status != "finished"):
                    return n
                n += 1

        return ResultStream(results(tasks, futures, fetched, position), ready)

    def results(tasks: list[PointTask], futures: dict[int, Any], fetched: dict[int, Any], position: list[int]) -> Iterator[PointResult]:
        if len({task_key(t) for t in tasks}) != len(tasks):
            raise ValueError("dask_map: the same task appears twice (results are matched to tasks by key)")
        done: dict[int, Any] = {}  # finished out of order, waiting for an earlier task
        completions = distributed.as_completed(loop=client.loop)
        index_of: dict[str, int] = {}
        next_submit = 0
        try:
            for next_yield in range(len(tasks)):
                # keep the window full: submit up to max_in_flight tasks past the one to yield next
                limit = min(len(tasks), next_yield + window())
                while next_submit < limit:
                    task = tasks[next_submit]
                    fut = client.submit(function, task, numba_threads, key=task_key(task), retries=retries, pure=False)
                    futures[next_submit] = fut
                    index_of[fut.key] = next_submit
                    completions.add(fut)
                    next_submit += 1
                if next_yield not in fetched:
                    while next_yield not in done:
                        fut = next(completions)
                        index = index_of.pop(fut.key, None)
                        if index is not None:  # else fetched already, with an earlier result
                            done[index] = fut
                    # this result, and the finished ones after it: one request
                    batch = [next_yield]
                    while len(batch) < fetch_together and (fut := futures.get(batch[-1] + 1)) is not None and fut.status == "finished":
                        batch.append(batch[-1] + 1)
                    batch_futures = [futures.pop(i) for i in batch]
                    for i, fut in zip(batch, batch_futures, strict=True):
                        done.pop(i, None)
                        index_of.pop(fut.key, None)
                    try:
                        values = client.gather(batch_futures)
                    except distributed.KilledWorker as exc:
                        # the first, unless a finished one was lost with its worker and then failed
                        failed = next((i for i, fut in zip(batch, batch_futures, strict=True) if fut.status == "error"), next_yield)
                        raise FieldnetError(
                            f"Dask workers died repeatedly while running point {failed} of the campaign "
                            f"({task_key(tasks[failed])}); check the workers' memory limit and logs, "
                            "then rerun with --resume"
                        ) from exc
                    for fut in batch_futures:
                        fut.release()  # the result now lives here; free it on the cluster
                    fetched.update(zip(batch, values, strict=True))
                result = fetched.pop(next_yield)
                position[0] = next_yield + 1
                yield result
        finally:
            # a consumer that stops early (error, Ctrl-C) must not leave work running on the cluster
            pending = list(futures.values())
            completions.clear()
            if pending:
                with contextlib.suppress(Exception):
                    client.cancel(pending)

    return map_points


@contextlib.contextmanager
def connect(scheduler: str | None = None, workers: int | None = None, *, timeout: float = 20.0) -> Iterator[Any]:
    """A ``distributed.Client``: to an existing scheduler, or to a new local cluster.

    Args:
        scheduler: address of a running scheduler, ``tcp://HOST:PORT`` (e.g. one started by
            ``dask scheduler`` or by dask-jobqueue's SLURMCluster/PBSCluster).
        workers: when no scheduler is given, start this many single-threaded worker processes on
            127.0.0.1 (default: one per CPU core).
        timeout: seconds to wait for the scheduler before giving up.

    Raises:
        FieldnetError: dask is not installed, the scheduler cannot be reached, or the arguments
            are inconsistent.
    """
    distributed = _import_distributed()
    if scheduler is not None and workers is not None:
        raise FieldnetError("give either --scheduler (use a running cluster) or --workers (start a local one), not both")
    if scheduler is not None:
        if "://" not in scheduler and ":" not in scheduler:
            raise FieldnetError(f"scheduler address {scheduler!r} is not of the form tcp://HOST:PORT")
        try:
            client = distributed.Client(scheduler, timeout=f"{timeout}s", set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise FieldnetError(
                f"cannot reach the Dask scheduler at {scheduler} within {timeout:g} s ({type(exc).__name__}); "
                "check the address and that 'dask scheduler' is running there"
            ) from exc
        try:
            yield client
        finally:
            client.close()
        return
    n_workers = (os.cpu_count() or 1) if workers is None else int(workers)
    if n_workers < 1:
        raise FieldnetError(f"--workers must be at least 1, got {n_workers}")
    cluster = distributed.LocalCluster(
        n_workers=n_workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,  # no web server: shared machines, no port clashes
        silence_logs=logging.ERROR,
        env=WORKER_ENV,
    )
    try:
        client = distributed.Client(cluster, set_as_default=False)
        try:
            yield client
        finally:
            client.close()
    finally:
        cluster.close()


def cluster_map(scheduler: str | None = None, workers: int | None = None) -> Callable[[Iterable[PointTask]], Iterator[PointResult]]:
    """A ``map_points`` that connects (see :func:`connect`) only when it is given work.

    ``run_campaign`` validates its arguments and opens the output before it asks for results,
    so a typo costs no cluster start-up, and a fully resumed campaign starts none.  The
    connection (and a local cluster) is closed when the results are exhausted or the caller
    stops early (error, Ctrl-C).
    """
    _import_distributed()  # fail fast, before any work, when dask is missing
    if scheduler is not None and workers is not None:
        raise FieldnetError("give either --scheduler (use a running cluster) or --workers (start a local one), not both")
    if workers is not None and int(workers) < 1:
        raise FieldnetError(f"--workers must be at least 1, got {workers}")

    def map_points(tasks: Iterable[PointTask]) -> ResultStream:
        tasks = list(tasks)
        inner: list[ResultStream] = []  # dask_map's results, once connected

        def results() -> Iterator[PointResult]:
            if not tasks:
                return
            with connect(scheduler, workers) as client:
                inner.append(dask_map(client)(tasks))
                yield from inner[0]  # closing this generator closes inner[0] too

        return ResultStream(results(), lambda: inner[0].ready() if inner else 0)

    return map_points
