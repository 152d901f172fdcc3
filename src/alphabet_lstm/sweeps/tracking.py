"""A sweep in MLflow: one parent run per sweep, one child run per training, logged once.

Runs are written from the sweep's tables by the process that runs the log stage (workers
never talk to MLflow), with the pipeline's MLflow code (``tracking.store``): the same
experiment setup, store lock and lookup by content key. The parent's key names the sweep's
definition and its results; a child's is the training's key (``tracking.records``: framing,
seed, engine, data md5, and the weights' md5 as the model's, since a sweep saves no model
file). Logging again finds the FINISHED parent and adds nothing. The parent is written
inside ``mlflow.start_run`` and its children nested in it, so a logging that fails ends
them FAILED; the parent is FINISHED only when all its children are in, and the next
logging writes a fresh parent rather than reusing a failed one.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from alphabet_lstm.sweeps.execution import ENGINE
from alphabet_lstm.sweeps.params import Sweep
from alphabet_lstm.sweeps.results import PointSummary, best_point
from alphabet_lstm.tracking.records import flat_params, training_key

EXPERIMENT_NAME = "alphabet-lstm-sweeps"
EXPERIMENT_DESCRIPTION = (
    "alphabet-lstm sweeps: one parent run per sweep (its question, each grid point's mean "
    "accuracy over seeds, the best point) with one child run per training (a grid point at a seed)."
)
KEY_TAG = "content_key"
SOURCE = "src/alphabet_lstm/stages/sweep_log.py"


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

    from alphabet_lstm.tracking import store as mlflow_store

    key = sweep_key(sweep, results_text)
    with mlflow_store.store_lock(uri):
        store = mlflow_store.open_store(uri, EXPERIMENT_NAME, description=EXPERIMENT_DESCRIPTION)
        existing = mlflow_store.find_finished_run(store, KEY_TAG, key)
        if existing is not None:
            # Finished only after all its children were in: nothing is missing.
            return LoggedSweep(existing.info.run_id, children_created=0, children_found=len(results))

        client = store.client
        now = int(time.time() * 1000)
        common_tags = {
            "sweep": sweep.name,
            "framing": sweep.framing_name,
            "engine": ENGINE,
            "git_commit": git_commit,
            "mlflow.source.name": SOURCE,
            "mlflow.source.type": "LOCAL",
            "mlflow.source.git.commit": git_commit,
        }
        best = best_point(list(summaries))
        with mlflow_store.start_run(
            store,
            run_name=f"sweep {sweep.name}",
            tags={**common_tags, KEY_TAG: key, "kind": "sweep"},
            description=f"{sweep.question} Best: {best.point.label}, mean accuracy "
            f"{best.mean:.4f} over {best.seeds} seeds.",
            parent_run_id=None,
        ) as parent:
            parent_id = parent.info.run_id
            points = {point.label: point for point in sweep.points}
            timing_by = {(row["point"], row["seed"]): row for row in timing}
            for row in results:
                point = points[row["point"]]
                seed = int(row["seed"])
                child_key = training_key(
                    point.framing.model_dump(mode="json"), seed=seed, engine=ENGINE,
                    data_md5=row["data_md5"], model_md5=row["weights_md5"],
                )
                times = timing_by.get((row["point"], row["seed"]), {})
                with mlflow_store.start_run(
                    store,
                    run_name=f"{row['point']} seed {row['seed']}",
                    tags={
                        **common_tags,
                        KEY_TAG: child_key,
                        "kind": "sweep-training",
                        "point": row["point"],
                        "seed": row["seed"],
                        "worker": times.get("worker", "unknown"),
                        "data_md5": row["data_md5"],
                        "weights_md5": row["weights_md5"],
                    },
                    description=f"Sweep {sweep.name}, {row['point']}, seed {row['seed']}.",
                    parent_run_id=parent_id,
                ) as child:
                    params = {
                        **flat_params(sweep.framing_name, point.framing, seed=seed, engine=ENGINE),
                        "sweep": sweep.name,
                    }
                    metrics = {"accuracy": float(row["accuracy"]), "loss": float(row["loss"])}
                    if times.get("seconds"):
                        metrics["train_seconds"] = float(times["seconds"])
                    client.log_batch(
                        child.info.run_id,
                        metrics=[Metric(name, value, now, 0) for name, value in metrics.items()],
                        params=[Param(name, value) for name, value in params.items()],
                    )

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
    return LoggedSweep(parent_id, children_created=len(results), children_found=0)
