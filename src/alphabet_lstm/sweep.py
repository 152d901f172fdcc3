"""Sweeps on Dask: every training of a sweep (a grid point at a seed) as a pure task on the
cluster Dask's configuration names (else a local one), and the sweep's results table.
Why the tasks are pure and where they run: docs/sweeps.md.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from typing import Any

from alphabet_lstm.artifacts import encoded_bytes, training_key, weights_md5
from alphabet_lstm.errors import UsageError
from alphabet_lstm.formats import FIXED_DECIMALS, table_csv
from alphabet_lstm.params import SWEEP_ENGINE, GridPoint, Sweep, show_value

# How long a named scheduler may take to answer (distributed's default is 30 s, ending in a traceback).
SCHEDULER_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class TrainingTask:
    """One training of a sweep: a grid point of the base framing ``framing`` at one seed."""

    framing: str
    point: GridPoint
    seed: int

    @property
    def key(self) -> str:
        """Dask's key: the same framing and seed are the same training, in any sweep."""
        return "alphabet-lstm-training-" + training_key(self.point.framing, seed=self.seed, engine=SWEEP_ENGINE)[:24]


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


def sweep_tasks(sweep: Sweep) -> list[TrainingTask]:
    return [TrainingTask(sweep.params.framing, point, seed) for point, seed in sweep.trainings()]


def run_training(task: TrainingTask) -> TrainingOutcome:
    """Train one grid point at one seed and score it on its training patterns (pure); the
    digests are the pipeline's for the same training, so both give it one ``training_key``."""
    from distributed import get_worker

    from alphabet_lstm.data import encode_framing
    from alphabet_lstm.evaluation import training_metrics
    from alphabet_lstm.model.lstm import predict
    from alphabet_lstm.model.training import model_spec, train

    framing = task.point.framing
    dataset = encode_framing(framing)
    result = train(dataset, framing, seed=task.seed, engine=SWEEP_ENGINE)
    spec = model_spec(task.framing, framing, dataset, seed=task.seed, engine=SWEEP_ENGINE)
    metrics = training_metrics(predict(result.weights, spec, dataset.inputs), dataset.target_codes)
    worker = "local"  # a direct call: get_worker raises ValueError outside a Dask worker
    with suppress(ValueError):
        worker = get_worker().address
    return TrainingOutcome(
        key=task.key,
        point=task.point.index,
        seed=task.seed,
        **{name: metrics[name] for name in ("accuracy", "loss", "correct", "patterns")},
        data_md5=hashlib.md5(encoded_bytes(dataset, task.framing, framing.dataset.kind)).hexdigest(),
        weights_md5=weights_md5(result.weights),
        seconds=round(result.seconds, 3),
        worker=worker,
    )


@contextmanager
def dask_client(workers: int | None = None) -> Iterator[Any]:
    """A client on the configured cluster, else on a LocalCluster of ``workers`` one-thread processes (default
    one per core; docs/sweeps.md) and no dashboard: its fixed port would clash between two sweeps at once."""
    import dask
    from distributed import Client, LocalCluster

    if address := dask.config.get("scheduler-address", None):  # DASK_SCHEDULER_ADDRESS, if set
        try:
            client = Client(timeout=SCHEDULER_TIMEOUT_SECONDS)
        except OSError as error:  # distributed's connect timeout is an OSError too
            raise UsageError(
                f"Dask scheduler {address} (DASK_SCHEDULER_ADDRESS) did not answer within "
                f"{SCHEDULER_TIMEOUT_SECONDS}s ({type(error).__name__}): start it, or unset "
                "DASK_SCHEDULER_ADDRESS to run on a local cluster"
            ) from None
        with client:
            yield client
        return
    # Spelt out: Client() alone would start threaded workers and a dashboard on a fixed port.
    count = workers or os.cpu_count() or 1
    with (
        LocalCluster(
            n_workers=count, threads_per_worker=1, processes=True, dashboard_address=None, host="127.0.0.1"
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def run_tasks(
    client: Any, tasks: list[TrainingTask], on_done: Callable[[TrainingOutcome, int, int], None] | None = None
) -> list[TrainingOutcome]:
    """Every task on the client's cluster, outcomes in the tasks' order. Keys are content
    keys, so a training asked for twice runs once; Dask reschedules a dead worker's task."""
    from distributed import as_completed

    unique = {task.key: task for task in tasks}
    futures = client.map(run_training, list(unique.values()), key=list(unique), pure=True)
    by_key: dict[str, TrainingOutcome] = {}
    for done, future in enumerate(as_completed(futures), start=1):
        outcome = future.result()
        by_key[outcome.key] = outcome
        if on_done is not None:
            on_done(outcome, done, len(futures))
    # A training shared by two grid points of one sweep is reported under each point.
    return [replace(by_key[task.key], point=task.point.index) for task in tasks]


def run_sweep(sweep: Sweep, *, workers: int | None = None) -> list[TrainingOutcome]:
    """Every training of a sweep on Dask, a line per finished one on stderr (its seconds and worker vary)."""
    started = time.perf_counter()

    def report(outcome: TrainingOutcome, done: int, total: int) -> None:
        print(
            f"[{sweep.name} {done}/{total}] {sweep.points[outcome.point].label} seed {outcome.seed}: "
            f"accuracy {outcome.accuracy:.4f} in {outcome.seconds:.2f}s on {outcome.worker}",
            file=sys.stderr,
            flush=True,
        )

    with dask_client(workers) as client:
        workers_started = len(client.scheduler_info()["workers"])
        where = client.scheduler.address if client.cluster is None else f"a local cluster of {workers_started} workers"
        print(f"[{sweep.name}] {len(sweep.trainings())} trainings on {where}", file=sys.stderr, flush=True)
        outcomes = run_tasks(client, sweep_tasks(sweep), report)
    print(f"[{sweep.name}] done in {time.perf_counter() - started:.1f}s", file=sys.stderr, flush=True)
    return outcomes


def sweep_results_csv(sweep: Sweep, outcomes: Sequence[TrainingOutcome]) -> str:
    """What the same params give on any cluster: a row per training, by grid point, then seed in params order."""
    metrics = ["seed", "accuracy", "loss", "correct", "patterns", "data_md5", "weights_md5"]
    rows = [
        [sweep.points[outcome.point].label, *(show_value(value) for _, value in sweep.points[outcome.point].values)]
        + [getattr(outcome, name) for name in metrics]
        for outcome in _in_sweep_order(sweep, outcomes)
    ]
    return table_csv(["point", *sweep.params.grid, *metrics], rows, FIXED_DECIMALS)


def sweep_timing_csv(sweep: Sweep, outcomes: Sequence[TrainingOutcome]) -> str:
    """Each training's seconds and worker: they vary run to run, so only MLflow gets them."""
    rows = [
        [sweep.points[o.point].label, o.seed, f"{o.seconds:.3f}", o.worker] for o in _in_sweep_order(sweep, outcomes)
    ]
    return table_csv(["point", "seed", "seconds", "worker"], rows)


def _in_sweep_order(sweep: Sweep, outcomes: Sequence[TrainingOutcome]) -> list[TrainingOutcome]:
    return sorted(outcomes, key=lambda outcome: (outcome.point, sweep.seeds.index(outcome.seed)))
