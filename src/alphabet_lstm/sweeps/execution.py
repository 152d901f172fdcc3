"""A sweep's trainings as tasks on dask.distributed.

One task is one training through the project's one training path (``model.training.train``,
fast engine) followed by the evaluation's accuracy and loss. A task reads no file and writes
none: it builds its data from the framing, so it is pure, and Dask may run it again on
another worker when the first one dies. Workers need only this package installed.

Where the tasks run: the cluster Dask's own configuration names (``DASK_SCHEDULER_ADDRESS``,
read by dask.config as ``scheduler-address``), else a LocalCluster of one single-threaded
worker process per core.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator

from alphabet_lstm.sweeps.params import Sweep, TrainingTask

ENGINE = "fast"  # a sweep is hundreds of trainings: the faithful Keras loop is too slow for it


@dataclass(frozen=True)
class TrainingOutcome:
    """What one task returns. ``seconds`` and ``worker`` differ run to run; the rest does not."""

    key: str
    point: int
    seed: int
    accuracy: float
    loss: float
    correct: int
    patterns: int
    data_md5: str
    weights_md5: str
    seconds: float
    worker: str


def _md5(arrays) -> str:
    digest = hashlib.md5()
    for array in arrays:
        digest.update(str((array.dtype.str, array.shape)).encode())
        digest.update(array.tobytes(order="C"))
    return digest.hexdigest()


def _worker_address() -> str:
    from distributed import get_worker

    try:
        return get_worker().address
    except ValueError:  # not inside a Dask worker (a direct call)
        return "local"


def run_training(task: TrainingTask) -> TrainingOutcome:
    """Train one grid point at one seed and score it on its training patterns (pure)."""
    from alphabet_lstm.data.datasets import generate_patterns
    from alphabet_lstm.data.encoding import encode_patterns
    from alphabet_lstm.evaluation import training_metrics
    from alphabet_lstm.model.training import model_spec, train

    framing = task.point.framing
    patterns = generate_patterns(framing.dataset)
    dataset = encode_patterns(
        patterns.inputs, patterns.targets, layout=framing.layout, input_length=framing.dataset.input_length
    )
    result = train(dataset, framing, seed=task.seed, engine=ENGINE)
    spec = model_spec(task.sweep, framing, dataset, seed=task.seed, engine=ENGINE)
    metrics = training_metrics(result.weights, spec, dataset.inputs, dataset.target_codes)
    return TrainingOutcome(
        key=task.key,
        point=task.point.index,
        seed=task.seed,
        accuracy=metrics["accuracy"],
        loss=metrics["loss"],
        correct=metrics["correct"],
        patterns=metrics["patterns"],
        data_md5=_md5([dataset.inputs, dataset.target_codes]),
        weights_md5=_md5(result.weights.as_list()),
        seconds=round(result.seconds, 3),
        worker=_worker_address(),
    )


def scheduler_address() -> str | None:
    """The scheduler Dask's configuration names (DASK_SCHEDULER_ADDRESS), if any."""
    import dask

    return dask.config.get("scheduler-address", None)


@contextmanager
def dask_client(workers: int | None = None) -> Iterator:
    """A client on the configured cluster, else on a LocalCluster started for this block.

    The LocalCluster has ``workers`` processes (default: one per core) of one thread each:
    the trainings are compute-bound, and processes keep one worker's death from taking the
    others with it. No dashboard: its fixed port would clash between two sweeps at once.
    """
    from distributed import Client, LocalCluster

    address = scheduler_address()
    if address:
        with Client(address) as client:
            yield client
        return
    count = workers or os.cpu_count() or 1
    with LocalCluster(
        n_workers=count, threads_per_worker=1, processes=True, dashboard_address=None, host="127.0.0.1"
    ) as cluster, Client(cluster) as client:
        yield client


def run_tasks(
    client, tasks: list[TrainingTask], on_done: Callable[[TrainingOutcome, int, int], None] | None = None
) -> list[TrainingOutcome]:
    """Run every task on the client's cluster; outcomes in the tasks' order, not finishing order.

    Keys are the trainings' content keys, so the same training asked for twice (by two
    sweeps sharing a grid point) runs once. A task whose worker dies is rescheduled by the
    scheduler (up to ``distributed.scheduler.allowed-failures`` times).
    """
    from distributed import as_completed

    unique = {task.key: task for task in tasks}
    futures = client.map(run_training, list(unique.values()), key=list(unique), pure=True)
    by_key: dict[str, TrainingOutcome] = {}
    for done, future in enumerate(as_completed(futures), start=1):
        outcome = future.result()
        by_key[outcome.key] = outcome
        if on_done is not None:
            on_done(outcome, done, len(futures))
    return [_for_task(by_key[task.key], task) for task in tasks]


def _for_task(outcome: TrainingOutcome, task: TrainingTask) -> TrainingOutcome:
    """The outcome under this task's point index (a shared training has one per sweep)."""
    if outcome.point == task.point.index:
        return outcome
    from dataclasses import replace

    return replace(outcome, point=task.point.index)


def run_sweep(sweep: Sweep, *, workers: int | None = None, quiet: bool = False) -> list[TrainingOutcome]:
    """Every training of a sweep on Dask, one line per finished training on stderr."""
    labels = {point.index: point.label for point in sweep.points}
    started = time.perf_counter()

    def report(outcome: TrainingOutcome, done: int, total: int) -> None:
        if not quiet:
            print(
                f"[{sweep.name} {done}/{total}] {labels[outcome.point]} seed {outcome.seed}: "
                f"accuracy {outcome.accuracy:.4f} in {outcome.seconds:.2f}s on {outcome.worker}",
                file=sys.stderr,
                flush=True,
            )

    with dask_client(workers) as client:
        where = scheduler_address() or f"a local cluster of {len(client.scheduler_info()['workers'])} workers"
        if not quiet:
            print(f"[{sweep.name}] {len(sweep.tasks())} trainings on {where}", file=sys.stderr, flush=True)
        outcomes = run_tasks(client, sweep.tasks(), report)
    if not quiet:
        print(f"[{sweep.name}] done in {time.perf_counter() - started:.1f}s", file=sys.stderr, flush=True)
    return outcomes
