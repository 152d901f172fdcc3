"""A sweep in MLflow: one parent run per sweep, one child run per training, logged once.

Runs are written from the sweep's tables by the process that runs the log stage (workers
never talk to MLflow). Each run carries a content key tag: the parent's names the sweep's
definition and its results, a child's names the training (framing, seed, engine, data and
weights md5). Logging again finds the runs by their keys and adds nothing; a logging that
was cut short is completed (the parent is marked FINISHED only when all its children are in).
"""

from __future__ import annotations

import getpass
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from alphabet_lstm.sweeps.execution import ENGINE
from alphabet_lstm.sweeps.params import Sweep
from alphabet_lstm.sweeps.results import PointSummary, best_point

EXPERIMENT_NAME = "alphabet-lstm-sweeps"
KEY_TAG = "content_key"
SOURCE = "src/alphabet_lstm/stages/sweep_log.py"
_PAGE = 1000


def training_key(framing_params: Mapping, *, seed: int, engine: str, data_md5: str, model_md5: str) -> str:
    """sha256 naming a training by its content: what it learned from, how, and the result.

    The same identity as the pipeline's log stage gives a training (issue 11's records),
    with the weights' md5 as the model's: a sweep saves no model file.
    """
    identity = {
        "framing": dict(framing_params),
        "seed": seed,
        "engine": engine,
        "data_md5": data_md5,
        "model_md5": model_md5,
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def sweep_key(sweep: Sweep, results_text: str) -> str:
    """sha256 naming a sweep by its definition and its (deterministic) results table."""
    identity = {
        "sweep": sweep.name,
        "question": sweep.question,
        "framing": sweep.base.model_dump(mode="json"),
        "grid": [[key, list(values)] for key, values in sweep.grid],
        "seeds": list(sweep.seeds),
        "engine": ENGINE,
        "results_md5": hashlib.md5(results_text.encode()).hexdigest(),
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def metric_name(label: str) -> str:
    """A grid point's label as MLflow allows in a metric key ('=' is not allowed)."""
    return label.replace("=", ":")


@dataclass(frozen=True)
class LoggedSweep:
    parent_run_id: str
    children_created: int
    children_found: int


def _experiment_id(client, uri: str) -> str:
    from mlflow.exceptions import MlflowException

    experiment = client.get_experiment_by_name(EXPERIMENT_NAME)
    if experiment is not None:
        return experiment.experiment_id
    location = None
    if uri.startswith("sqlite:///"):
        # The embedded store keeps artifacts beside its database, as the pipeline's does.
        location = (Path(uri[len("sqlite:///"):]).parent / "mlartifacts").as_uri()
    try:
        return client.create_experiment(EXPERIMENT_NAME, artifact_location=location)
    except MlflowException:  # created by another process since the lookup
        return client.get_experiment_by_name(EXPERIMENT_NAME).experiment_id


def _search(client, experiment_id: str, filter_string: str) -> list:
    runs, token = [], None
    while True:
        page = client.search_runs([experiment_id], filter_string, max_results=_PAGE, page_token=token)
        runs += list(page)
        token = page.token
        if not token:
            return runs


def _flat(framing_params: Mapping) -> dict[str, str]:
    flat = {}
    for key, value in framing_params.items():
        if isinstance(value, dict):
            flat.update({f"{key}.{inner}": str(item) for inner, item in value.items()})
        else:
            flat[key] = str(value)
    return flat


def log_sweep(
    sweep: Sweep,
    *,
    results: Sequence[Mapping[str, str]],
    results_text: str,
    timing: Sequence[Mapping[str, str]],
    summaries: Sequence[PointSummary],
    artifacts: Sequence[Path],
    uri: str,
    git_commit: str = "unknown",
) -> LoggedSweep:
    """Mirror one sweep into MLflow (idempotent). ``results``/``timing`` are the tables' rows."""
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    now = int(time.time() * 1000)
    experiment_id = _experiment_id(client, uri)
    common_tags = {
        "sweep": sweep.name,
        "framing": sweep.framing_name,
        "engine": ENGINE,
        "git_commit": git_commit,
        "mlflow.source.name": SOURCE,
        "mlflow.source.type": "LOCAL",
        "mlflow.user": getpass.getuser(),
    }

    key = sweep_key(sweep, results_text)
    found = _search(client, experiment_id, f"tags.{KEY_TAG} = '{key}'")
    if found:
        parent = found[0]
    else:
        best = best_point(list(summaries))
        parent = client.create_run(
            experiment_id,
            run_name=f"sweep {sweep.name}",
            tags={
                **common_tags,
                KEY_TAG: key,
                "kind": "sweep",
                "mlflow.note.content": f"{sweep.question} Best: {best.point.label}, mean accuracy "
                f"{best.mean:.4f} over {best.seeds} seeds.",
            },
        )
    parent_id = parent.info.run_id
    finished = parent.info.status == "FINISHED"

    children = _search(client, experiment_id, f"tags.mlflow.parentRunId = '{parent_id}'")
    existing = {run.data.tags.get(KEY_TAG) for run in children}
    points = {point.label: point for point in sweep.points}
    timing_by = {(row["point"], row["seed"]): row for row in timing}
    created = 0
    for row in results:
        point = points[row["point"]]
        framing_params = point.framing.model_dump(mode="json")
        child_key = training_key(
            framing_params, seed=int(row["seed"]), engine=ENGINE,
            data_md5=row["data_md5"], model_md5=row["weights_md5"],
        )
        if child_key in existing:
            continue
        times = timing_by.get((row["point"], row["seed"]), {})
        child = client.create_run(
            experiment_id,
            run_name=f"{row['point']} seed {row['seed']}",
            tags={
                **common_tags,
                KEY_TAG: child_key,
                "kind": "sweep-training",
                "mlflow.parentRunId": parent_id,
                "point": row["point"],
                "seed": row["seed"],
                "worker": times.get("worker", "unknown"),
                "data_md5": row["data_md5"],
                "weights_md5": row["weights_md5"],
            },
        )
        params = {**_flat(framing_params), "seed": row["seed"], "engine": ENGINE, "sweep": sweep.name}
        metrics = {"accuracy": float(row["accuracy"]), "loss": float(row["loss"])}
        if times.get("seconds"):
            metrics["train_seconds"] = float(times["seconds"])
        client.log_batch(
            child.info.run_id,
            metrics=[Metric(name, value, now, 0) for name, value in metrics.items()],
            params=[Param(name, value) for name, value in params.items()],
        )
        client.set_terminated(child.info.run_id, "FINISHED")
        created += 1

    if not finished:
        # Only a parent not yet complete is (re)filled: a finished one already holds all this.
        best = best_point(list(summaries))
        metrics = {"best_accuracy_mean": best.mean, "trainings": float(len(results))}
        for summary in summaries:
            metrics[f"accuracy_mean/{metric_name(summary.point.label)}"] = summary.mean
            metrics[f"accuracy_std/{metric_name(summary.point.label)}"] = summary.std
        params = {
            "framing": sweep.framing_name,
            "grid": json.dumps({key: list(values) for key, values in sweep.grid}),
            "seeds": json.dumps(list(sweep.seeds)),
            "question": sweep.question,
            "engine": ENGINE,
            "best_point": best.point.label,
        }
        client.log_batch(
            parent_id,
            metrics=[Metric(name, float(value), now, 0) for name, value in metrics.items()],
            params=[Param(name, value) for name, value in params.items()],
            tags=[RunTag("results_md5", hashlib.md5(results_text.encode()).hexdigest())],
        )
        for path in artifacts:
            client.log_artifact(parent_id, str(path))
        client.set_terminated(parent_id, "FINISHED")
    return LoggedSweep(parent_id, created, len(results) - created)
