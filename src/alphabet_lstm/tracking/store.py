"""Writing records to MLflow idempotently, with its own APIs, by the claim protocol every writer follows.

A FINISHED run with the record's content key is reused; a RUNNING one whose writer is gone (a
process of this host that exited, or another machine's whose heartbeat stopped) is ended KILLED,
one a live writer holds is waited for, and of two new runs racing for one key the later gives
way (docs/architecture.md, the MLflow store). No new run stays RUNNING.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import dataclass
from functools import cache
from importlib.metadata import version
from pathlib import Path

import mlflow
import pandas
import psutil
from filelock import FileLock
from mlflow.data.pandas_dataset import from_pandas
from mlflow.entities import Metric, Param
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from alphabet_lstm.model.lstm import ModelSpec
from alphabet_lstm.tracking import DEFAULT_ARTIFACTS_NAME, EXPERIMENT_NAME, TrackingFailed, pyfunc_model, shipped
from alphabet_lstm.tracking.records import Record, TrainingRecord

# The tag MLflow 3's UI reads to open an experiment in its model-training view rather than
# the GenAI one (mlflow/server/js: ExperimentKind.CUSTOM_MODEL_DEVELOPMENT).
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"
EXPERIMENT_DESCRIPTION = (
    "alphabet-lstm: one run per training (framing and seed), mirrored from what DVC recorded, "
    "and one summary run per repro or DVC experiment (run_kind tag)."
)
MODEL_NAME = "model"
LOCK_TIMEOUT_SECONDS = 600
CLAIM_ATTEMPTS = 3
QUIET_MLFLOW = {
    # Download progress bars would drown the stages' one summary line.
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    # A server that goes away mid-stage fails the stage in about 15 s (backoff 2, 4, 8 s), not
    # the four minutes of MLflow's seven retries; the next `dvc repro` logs what is missing.
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
    # Else every process's first start_run imports IPython, looking for a Databricks job.
    "MLFLOW_ENABLE_SGC_RUN_RESUMPTION_FOR_DATABRICKS_JOBS": "false",
}
# The writer of a run (host:pid), seen alive or not on its host; on a server store it counts
# the heartbeat tag up, which is what another machine can see of it.
WRITER_TAG = "writer"
HEARTBEAT_TAG = "writer_heartbeat"
HEARTBEAT_SECONDS = 5.0
# A heartbeat still for this long (this process's clock: the machines' need not agree) is a
# dead writer's: six beats missed, so a writer slowed by a busy server is not taken for dead.
HEARTBEAT_STALE_SECONDS = 30.0
HEARTBEAT_STALE_VARIABLE = "ALPHABET_LSTM_HEARTBEAT_STALE_SECONDS"
# How long a run another live process writes is waited for, at most.
STALE_AFTER_SECONDS = 600
WAIT_POLL_SECONDS = 1.0
MAX_RUNS_PER_KEY = 100


@dataclass(frozen=True)
class Store:
    """An MLflow client on one tracking URI and the project's experiment in it."""

    uri: str
    client: MlflowClient
    experiment_id: str


@dataclass(frozen=True)
class Logged:
    """A record's run: its id, and whether this call wrote it (False: it was there)."""

    run_id: str
    created: bool


def _sqlite_path(uri: str) -> Path | None:
    return Path(uri[len("sqlite:///") :]) if uri.startswith("sqlite:///") else None


def open_store(uri: str, experiment_name: str | None = None, *, description: str = EXPERIMENT_DESCRIPTION) -> Store:
    """The client and experiment, created if needed (tagged for the model-training view, its
    artifacts in ``mlartifacts/`` beside an embedded store's ``mlflow.db``)."""
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri)
    name = experiment_name or os.environ.get("MLFLOW_EXPERIMENT_NAME", EXPERIMENT_NAME)
    try:
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            path = _sqlite_path(uri)
            location = (path.parent / DEFAULT_ARTIFACTS_NAME).as_uri() if path else None
            tags = {EXPERIMENT_KIND_TAG: EXPERIMENT_KIND, "mlflow.note.content": description}
            with suppress(MlflowException):  # someone else may create it between the lookup and the create
                client.create_experiment(name, artifact_location=location, tags=tags)
            experiment = client.get_experiment_by_name(name)
        elif experiment.tags.get(EXPERIMENT_KIND_TAG) != EXPERIMENT_KIND:
            client.set_experiment_tag(experiment.experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
    except MlflowException as error:
        raise TrackingFailed(f"MLflow store {uri}: {error.message}") from None
    return Store(uri, client, experiment.experiment_id)  # type: ignore[union-attr]


@contextmanager
def held_store(uri: str, experiment_name: str | None = None, *, description: str = EXPERIMENT_DESCRIPTION):
    """The store opened and held for the block, MLflow's refusals inside raised as one line.
    The embedded store is locked (two DVC queue workers would both find no run for a training
    and both create one); a server's users are on other machines, and claim runs instead."""
    for name, value in QUIET_MLFLOW.items():
        os.environ.setdefault(name, value)
    heartbeat_stale_seconds()  # a wrong value fails the stage before anything is logged
    path = _sqlite_path(uri)
    # FileLock makes the lock's folder, which is the store's.
    with FileLock(str(path) + ".lock", timeout=LOCK_TIMEOUT_SECONDS) if path else nullcontext():
        try:
            yield open_store(uri, experiment_name, description=description)
        except MlflowException as error:
            raise TrackingFailed(f"MLflow {uri} refused a request: {error.message}") from None


def shared_store(store: Store) -> bool:
    """Whether loggers may write to the store at once: a server (held_store locks SQLite)."""
    return _sqlite_path(store.uri) is None


def heartbeat_stale_seconds() -> float:
    given = os.environ.get(HEARTBEAT_STALE_VARIABLE) or str(HEARTBEAT_STALE_SECONDS)
    with suppress(ValueError):
        if float(given) > HEARTBEAT_SECONDS:  # nan is not
            return float(given)
    raise TrackingFailed(
        f"{HEARTBEAT_STALE_VARIABLE}={given} is not a number of seconds above {HEARTBEAT_SECONDS:g}, "
        f"the heartbeat's interval (unset, it is {HEARTBEAT_STALE_SECONDS:g})"
    )


def writer_gone(run, seen: dict[str, tuple[str, float]], now: float) -> bool:
    """Whether a RUNNING run's writer is gone: an exited process of this host, or another machine's
    whose heartbeat has not moved for heartbeat_stale_seconds() (``seen``: each beat, first seen when)."""
    host, _, pid = run.data.tags.get(WRITER_TAG, "").rpartition(":")
    if host == socket.gethostname() and pid.isdigit():
        return int(pid) == os.getpid() or not psutil.pid_exists(int(pid))
    beat = run.data.tags.get(HEARTBEAT_TAG, "")
    value, since = seen.get(run.info.run_id, (None, now))
    if value != beat:
        seen[run.info.run_id] = (beat, now)
        return False
    return now - since > heartbeat_stale_seconds()


def runs_with(store: Store, tag: str, value: str) -> list:
    return store.client.search_runs(
        [store.experiment_id], filter_string=f"tags.{tag} = '{value}'", max_results=MAX_RUNS_PER_KEY
    )


def settle_runs(store: Store, tag: str, value: str):
    """The FINISHED run whose ``tag`` is ``value``, or None, once no run with it hangs: one
    whose writer is gone is ended KILLED, one a live writer holds is waited for."""
    deadline = time.monotonic() + STALE_AFTER_SECONDS
    seen: dict[str, tuple[str, float]] = {}
    while True:
        finished, live = None, False
        for run in runs_with(store, tag, value):
            if run.info.status == "FINISHED":
                finished = finished or run
            elif run.info.status == "RUNNING":
                if writer_gone(run, seen, time.monotonic()):
                    store.client.set_terminated(run.info.run_id, "KILLED")
                else:
                    live = True
        if finished is not None or not live or time.monotonic() > deadline:
            return finished
        time.sleep(WAIT_POLL_SECONDS)


@contextmanager
def heartbeat(store: Store, run_id: str) -> Iterator[None]:
    """Count the run's HEARTBEAT_TAG up every HEARTBEAT_SECONDS while the block runs. A beat
    that fails (the server busy or gone) is skipped: the block's own requests report that."""
    stop = threading.Event()

    def beat() -> None:
        count = 0
        while not stop.wait(HEARTBEAT_SECONDS):
            count += 1
            with suppress(MlflowException, OSError):
                store.client.set_tag(run_id, HEARTBEAT_TAG, str(count), synchronous=True)

    thread = threading.Thread(target=beat, name=f"heartbeat-{run_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        # A beat stuck on a server that stopped answering is not waited for: it is a daemon,
        # and a beat landing after the run ended changes nothing.
        thread.join(timeout=HEARTBEAT_SECONDS)


def earlier_claim(store: Store, tag: str, value: str, own) -> bool:
    """Whether another run with the key, RUNNING or FINISHED, started before ``own`` (ties by run id)."""
    mine = (own.info.start_time, own.info.run_id)
    return any(
        run.info.status in ("RUNNING", "FINISHED") and (run.info.start_time, run.info.run_id) < mine
        for run in runs_with(store, tag, value)
    )


class _GaveWay(Exception):
    """Raised inside a new run whose key an earlier run already claimed."""


def write_once(store: Store, tag: str, record: Record, write, *, parent_run_id: str | None = None) -> Logged:
    """The one run whose ``tag`` is the record's key: a FINISHED one reused, else a new run
    holding the record (metrics at step 0, curves at steps 1..n) and what ``write(run_id)``
    adds, ended FINISHED (FAILED if anything raises), nested in ``parent_run_id`` if given."""
    for _ in range(CLAIM_ATTEMPTS):
        existing = settle_runs(store, tag, record.key)
        if existing is not None:
            return Logged(existing.info.run_id, created=False)
        try:
            with (
                mlflow.start_run(
                    experiment_id=store.experiment_id,
                    run_name=record.run_name,
                    tags={WRITER_TAG: f"{socket.gethostname()}:{os.getpid()}", **record.tags},
                    description=record.description,
                    parent_run_id=parent_run_id,
                    nested=parent_run_id is not None,
                ) as run,
                heartbeat(store, run.info.run_id) if shared_store(store) else nullcontext(),
            ):
                run_id = run.info.run_id
                if shared_store(store) and earlier_claim(store, tag, record.key, store.client.get_run(run_id)):
                    raise _GaveWay(run_id)
                timestamp = int(time.time() * 1000)
                # One request for both (log_params and log_metrics would make two); MLflow
                # splits a batch within its per-request limits.
                store.client.log_batch(
                    run_id,
                    metrics=[Metric(key, float(value), timestamp, 0) for key, value in record.metrics.items()],
                    params=[Param(key, str(value)) for key, value in record.params.items()],
                )
                write(run_id)
                # After the model: logging one reads back the history of every metric the run
                # holds, to link its step-0 values to the model; the curves have no step 0.
                log_curves(store, run_id, record.step_metrics, timestamp)
        except _GaveWay as gave_way:
            store.client.delete_run(*gave_way.args)
            continue
        return Logged(run_id, created=True)
    raise TrackingFailed(f"MLflow {store.uri}: no run with {tag} {record.key} settled after {CLAIM_ATTEMPTS} attempts")


def log_curves(store: Store, run_id: str, curves: dict[str, list[float]], timestamp: int) -> None:
    """The per-epoch ``curves`` as metric histories at steps 1..n: by log_batch on a server; on the
    embedded store, the rows log_batch writes, in one INSERT per table (docs/architecture.md: why)."""
    points = [(key, step, float(value)) for key, values in curves.items() for step, value in enumerate(values, start=1)]
    if not points:
        return
    if shared_store(store):
        store.client.log_batch(run_id, metrics=[Metric(key, value, timestamp, step) for key, step, value in points])
        return
    from mlflow.store.tracking.dbmodels.models import SqlLatestMetric, SqlMetric

    # The SQL store MLflow already opened for this URI: its engine and its own NaN/inf rule.
    sql_store = store.client._tracking_client.store
    rows = []
    for key, step, value in points:
        is_nan, stored = sql_store.sanitize_metric_value(value)
        rows.append(
            {"run_uuid": run_id, "key": key, "step": step, "timestamp": timestamp, "is_nan": is_nan, "value": stored}
        )
    # MLflow's latest value of a key: its greatest (step, timestamp, value).
    latest = {row["key"]: row for row in sorted(rows, key=lambda row: (row["step"], row["timestamp"], row["value"]))}
    with sql_store.engine.begin() as connection:
        connection.execute(SqlMetric.__table__.insert(), rows)
        connection.execute(SqlLatestMetric.__table__.insert(), list(latest.values()))


@cache
def model_requirements() -> list[str]:
    """What loading and predicting take: the distributions the shipped code imports, pinned
    to this environment's versions (import names are the distribution names here)."""
    return [f"{name}=={version(name)}" for name in sorted(shipped.third_party_imports())]


@cache
def _shipped_code() -> str:
    """The shipped files, copied once per process for all its models (removed at exit)."""
    root = tempfile.mkdtemp(prefix="alphabet-lstm-code-")
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    return str(shipped.copy_code(Path(root)))


def log_training(store: Store, record: TrainingRecord, *, parent_run_id: str | None = None) -> Logged:
    """The training's run, found by its key or written whole (prediction table, dataset input and
    the pyfunc model, self-contained: tracking/shipped.py's files and the weights travel with it)."""

    def write(run_id: str) -> None:
        if record.dataset_rows:
            with warnings.catch_warnings():
                # A relative path matches two local source kinds, both the same class.
                warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted")
                dataset = from_pandas(
                    pandas.DataFrame(record.dataset_rows, columns=["input", "target"]),
                    source=record.data_source,
                    name=record.framing,
                    digest=record.data_md5,
                    targets="target",
                )
            mlflow.log_input(dataset, context="training")
        if record.predictions:
            mlflow.log_table(pandas.DataFrame(record.predictions), artifact_file="predictions.json")
        if record.model_path is not None:
            mlflow.pyfunc.log_model(
                name=MODEL_NAME,
                # A code file rather than a pickled object: what loads the model is readable source.
                python_model=str(shipped.ENTRY_FILE),
                code_paths=[_shipped_code()],
                artifacts={pyfunc_model.WEIGHTS_ARTIFACT: str(record.model_path)},
                signature=pyfunc_model.signature(),
                input_example=pyfunc_model.input_example(ModelSpec.from_dict(record.spec)),
                # Stated rather than inferred (inferring loads the model in a subprocess).
                pip_requirements=model_requirements(),
                tags={"framing": record.framing, "seed": str(record.seed), "model_md5": record.model_md5},
            )

    return write_once(store, "training_key", record, write, parent_run_id=parent_run_id)


def log_summary(
    store: Store, summary: Record, *, report_dir: Path | None = None, children: Sequence[TrainingRecord] = ()
) -> tuple[Logged, int]:
    """A summary run (a repro's, or a sweep's with its trainings as ``children``) found by its key or
    written with ``report_dir`` as ``report/``, FINISHED once every child is in. Returns it and the
    children created."""
    created = 0

    def write(run_id: str) -> None:
        nonlocal created
        created = sum(log_training(store, child, parent_run_id=run_id).created for child in children)
        if report_dir is not None:
            mlflow.log_artifacts(str(report_dir), artifact_path="report")

    return write_once(store, "summary_key", summary, write), created
