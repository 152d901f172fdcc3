"""Writing records to MLflow, idempotently, with MLflow's own APIs.

A run is looked up by its content key (a tag) before anything is written: a FINISHED run
with the key is reused, so logging the same training twice adds nothing. A new run is
written inside ``mlflow.start_run``, which ends it FAILED if anything raises on the way
(a run never stays RUNNING because of us); failed runs are not reused, the next attempt
writes a fresh one.
"""

from __future__ import annotations

import os
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Iterator, Mapping, Sequence

import mlflow
import numpy
import pandas
from mlflow.entities import Metric, Param
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from alphabet_lstm.tracking import DEFAULT_ARTIFACTS_NAME, EXPERIMENT_NAME, TrackingFailed, tracking_user
from alphabet_lstm.tracking import pyfunc_model
from alphabet_lstm.tracking.records import SummaryRecord, TrainingRecord

# The tag MLflow 3's UI reads to open an experiment in its model-training view rather than
# the GenAI one (mlflow/server/js: ExperimentKind.CUSTOM_MODEL_DEVELOPMENT).
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"
EXPERIMENT_DESCRIPTION = (
    "alphabet-lstm: one run per training (framing and seed), mirrored from what DVC recorded, "
    "and one summary run per repro or DVC experiment (run_kind tag)."
)
MODEL_NAME = "model"
REGISTERED_MODEL_PREFIX = "alphabet-lstm-"
# MLflow's limits per log_batch request.
PARAMS_PER_REQUEST = 100
METRICS_PER_REQUEST = 1000
LOCK_TIMEOUT_SECONDS = 600


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


def registered_model_name(framing: str) -> str:
    return f"{REGISTERED_MODEL_PREFIX}{framing}"


def _sqlite_path(uri: str) -> Path | None:
    return Path(uri[len("sqlite:///"):]) if uri.startswith("sqlite:///") else None


@contextmanager
def store_lock(uri: str) -> Iterator[None]:
    """Hold the embedded store for the duration (two DVC queue workers logging at once
    would otherwise both find no run for a training and both create one). A server store
    has no lock: its users are on other machines."""
    path = _sqlite_path(uri)
    if path is None:
        yield
        return
    from filelock import FileLock

    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock", timeout=LOCK_TIMEOUT_SECONDS):
        yield


@contextmanager
def refusals_as_errors(uri: str) -> Iterator[None]:
    """MLflow's refusals (a permission, a store it cannot open) as one line, not a traceback."""
    try:
        yield
    except MlflowException as error:
        raise TrackingFailed(f"MLflow {uri} refused a request: {error.message}") from None


def open_store(uri: str, experiment_name: str | None = None, *, description: str = EXPERIMENT_DESCRIPTION) -> Store:
    """The client and experiment (created if needed, tagged for the model-training view,
    ``description`` shown on its page; the sweeps' experiment describes itself).

    The embedded store keeps its artifacts in ``mlartifacts/`` beside ``mlflow.db``; a
    server keeps them where it was told to.
    """
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri)
    name = experiment_name or os.environ.get("MLFLOW_EXPERIMENT_NAME", EXPERIMENT_NAME)
    try:
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            path = _sqlite_path(uri)
            location = (path.parent / DEFAULT_ARTIFACTS_NAME).as_uri() if path else None
            tags = {EXPERIMENT_KIND_TAG: EXPERIMENT_KIND, "mlflow.note.content": description}
            try:
                experiment_id = client.create_experiment(name, artifact_location=location, tags=tags)
            except MlflowException:
                # Someone else created it between the lookup and the create.
                experiment_id = client.get_experiment_by_name(name).experiment_id
        else:
            experiment_id = experiment.experiment_id
            if experiment.tags.get(EXPERIMENT_KIND_TAG) != EXPERIMENT_KIND:
                client.set_experiment_tag(experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
    except MlflowException as error:
        raise TrackingFailed(f"MLflow store {uri}: {error.message}") from None
    return Store(uri, client, experiment_id)


def find_finished_run(store: Store, tag: str, value: str):
    """The FINISHED run of the experiment whose ``tag`` is ``value``, or None."""
    found = store.client.search_runs(
        [store.experiment_id],
        filter_string=f"tags.{tag} = '{value}' and attributes.status = 'FINISHED'",
        max_results=1,
    )
    return found[0] if found else None


def _log_values(client: MlflowClient, run_id: str, params: Mapping[str, str], metrics: list[Metric]) -> None:
    """Params and metrics in as few requests as MLflow's per-request limits allow."""
    param_list = [Param(key, str(value)) for key, value in params.items()]
    for start in range(0, len(param_list), PARAMS_PER_REQUEST):
        client.log_batch(run_id, params=param_list[start : start + PARAMS_PER_REQUEST])
    for start in range(0, len(metrics), METRICS_PER_REQUEST):
        client.log_batch(run_id, metrics=metrics[start : start + METRICS_PER_REQUEST])


def _metrics(record_metrics: Mapping[str, float], step_metrics: Mapping[str, list[float]], timestamp: int) -> list[Metric]:
    """Per-epoch series at steps 1..n, single values at step 0."""
    metrics = [
        Metric(key, float(value), timestamp, step)
        for key, values in step_metrics.items()
        for step, value in enumerate(values, start=1)
    ]
    metrics += [Metric(key, float(value), timestamp, 0) for key, value in record_metrics.items()]
    return metrics


def start_run(store: Store, *, run_name: str, tags: Mapping[str, str], description: str, parent_run_id: str | None):
    """A new run as a context manager: ended FINISHED, or FAILED if anything raises inside.

    A run under ``parent_run_id`` may be started while that parent is the active run (a
    sweep writes its children inside its own run); MLflow calls that nested.
    """
    tags = {"mlflow.user": tracking_user(), **tags}
    return mlflow.start_run(
        experiment_id=store.experiment_id,
        run_name=run_name,
        tags=tags,
        description=description,
        parent_run_id=parent_run_id,
        nested=parent_run_id is not None,
    )


def _timestamp() -> int:
    import time

    return int(time.time() * 1000)


def log_model(record: TrainingRecord) -> str:
    """The training's pyfunc model under ``model`` in the active run; returns its model id."""
    from alphabet_lstm.model.lstm import ModelSpec

    spec = ModelSpec.from_dict(record.spec)
    info = mlflow.pyfunc.log_model(
        name=MODEL_NAME,
        # A code file rather than a pickled object: what loads the model is readable source.
        python_model=str(Path(pyfunc_model.__file__).with_name("pyfunc_entry.py")),
        artifacts={pyfunc_model.WEIGHTS_ARTIFACT: str(record.model_path)},
        signature=pyfunc_model.signature(),
        input_example=pyfunc_model.input_example(spec),
        # Stated rather than inferred (inferring loads the model in a subprocess). The
        # model also needs this package (alphabet-lstm) importable where it is served.
        pip_requirements=[f"numpy=={numpy.__version__}", f"pandas=={pandas.__version__}", f"mlflow=={mlflow.__version__}"],
        tags={"framing": record.framing, "seed": str(record.seed), "model_md5": record.model_md5},
    )
    return info.model_id


def _model_id(store: Store, run_id: str) -> str:
    """The id of the model logged by ``run_id`` under ``model``."""
    run = store.client.get_run(run_id)
    for output in run.outputs.model_outputs if run.outputs else []:
        model = store.client.get_logged_model(output.model_id)
        if model.name == MODEL_NAME:
            return model.model_id
    raise TrackingFailed(f"run {run_id} has no logged model named {MODEL_NAME!r}")


def log_training(store: Store, record: TrainingRecord, *, parent_run_id: str | None = None) -> Logged:
    """The training's run: found by its key, or written whole (params, curves, evaluation,
    and what the record holds of the prediction table, dataset input and pyfunc model).
    ``parent_run_id`` nests a new run under that (active) run: a sweep's trainings."""
    existing = find_finished_run(store, "training_key", record.key)
    if existing is not None:
        return Logged(existing.info.run_id, created=False)
    with start_run(
        store, run_name=record.run_name, tags=record.tags, description=record.description, parent_run_id=parent_run_id
    ) as run:
        run_id = run.info.run_id
        _log_values(store.client, run_id, record.params, _metrics(record.metrics, record.step_metrics, _timestamp()))
        if record.dataset_rows:
            with warnings.catch_warnings():
                # A relative path matches two local source kinds, both the same class.
                warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted")
                dataset = mlflow.data.from_pandas(
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
            log_model(record)
    return Logged(run_id, created=True)


def ensure_registered(store: Store, record: TrainingRecord, run_id: str) -> str:
    """The registry version holding this model's bytes: an existing one (same model md5),
    else a new version of ``alphabet-lstm-<framing>`` linked to ``run_id``. Returns it."""
    name = registered_model_name(record.framing)
    client = store.client
    try:
        client.create_registered_model(
            name, description=f"The {record.framing} framing of alphabet-lstm (pyfunc: letters in, next letter out)."
        )
    except MlflowException as error:
        if error.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    for version in client.search_model_versions(f"name = '{name}'"):
        if version.tags.get("model_md5") == record.model_md5:
            return str(version.version)
    model_id = _model_id(store, run_id)
    version = client.create_model_version(
        name,
        source=f"models:/{model_id}",
        run_id=run_id,
        model_id=model_id,
        tags={"model_md5": record.model_md5, "training_key": record.key, "seed": str(record.seed)},
        description=record.description,
    )
    return str(version.version)


def log_summary(
    store: Store,
    summary: SummaryRecord,
    *,
    report_dir: Path | None = None,
    children: Sequence[TrainingRecord] = (),
) -> tuple[Logged, int]:
    """A summary run (a repro's, or a sweep's with its trainings as ``children``): found by
    its key, or written (params, metrics, the ``report_dir`` under ``report/``), the
    children nested inside it. The run is FINISHED only once every child is in, so a
    logging that fails half way is written anew next time. Returns it and how many
    children were created (a child already logged is found by its key, not repeated)."""
    existing = find_finished_run(store, "summary_key", summary.key)
    if existing is not None:
        return Logged(existing.info.run_id, created=False), 0
    with start_run(
        store, run_name=summary.run_name, tags=summary.tags, description=summary.description, parent_run_id=None
    ) as run:
        created = sum(log_training(store, child, parent_run_id=run.info.run_id).created for child in children)
        _log_values(store.client, run.info.run_id, summary.params, _metrics(summary.metrics, {}, _timestamp()))
        if report_dir is not None:
            mlflow.log_artifacts(str(report_dir), artifact_path="report")
    return Logged(run.info.run_id, created=True), created
