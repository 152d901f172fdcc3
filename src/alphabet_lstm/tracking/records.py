"""What MLflow is told, read from the files DVC recorded (no MLflow here): a record is
everything one run holds, and the content key that makes logging it idempotent. A training
(a framing at a seed) is its model, per-epoch history, evaluation, prediction table and
data; a repro's summary, every framing's results linked to its training runs; a sweep, a
parent run and its trainings.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from alphabet_lstm.artifacts import content_key, file_md5, load_model, read_json, training_key, weights_md5
from alphabet_lstm.formats import read_evaluation, read_history, read_predictions
from alphabet_lstm.params import FramingParams, Params

if TYPE_CHECKING:  # the pipeline's log stage runs none of the sweep code
    from alphabet_lstm.params import Sweep

# MLflow groups charts by the part of a metric key before "/": evaluation results get a
# section of their own, apart from the per-epoch training curves `loss` and `accuracy`.
EVALUATION_PREFIX = "evaluation/"
# Each framing's registered model (tracking/registry.py) is alphabet-lstm-<framing>; named
# here, without MLflow, so that the log stage names it without importing the registry.
REGISTERED_MODEL_PREFIX = "alphabet-lstm-"


def registered_model_name(framing: str) -> str:
    return f"{REGISTERED_MODEL_PREFIX}{framing}"


def source_tags(stage: str, git_commit: str) -> dict[str, str]:
    """The git commit and the stage module whose outputs a run holds (MLflow's "Source" column)."""
    return {
        "git_commit": git_commit,
        "mlflow.source.name": f"src/alphabet_lstm/stages/{stage}.py",
        "mlflow.source.type": "LOCAL",
        "mlflow.source.git.commit": git_commit,
    }


@dataclass(frozen=True, kw_only=True)
class Record:
    """Everything one MLflow run holds and its content key: a repro's summary, a sweep's parent, or a training."""

    key: str
    run_name: str
    params: dict[str, str]
    tags: dict[str, str]
    description: str
    metrics: dict[str, float]
    # The per-epoch curves `loss` and `accuracy` (epoch 1 first), a pipeline training's only.
    step_metrics: dict[str, list[float]] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class TrainingRecord(Record):
    framing: str
    seed: int
    data_md5: str
    # A sweep's training keeps no curves, prediction table, data file or model.
    predictions: list[dict] = field(default_factory=list)
    dataset_rows: list[dict] = field(default_factory=list)
    data_source: str = ""
    model_md5: str = ""
    model_path: Path | None = None
    spec: dict = field(default_factory=dict)


def flattened(values: Mapping, prefix: str = "") -> Iterator[tuple[str, object]]:
    """Each value of a nested mapping under its keys joined by '.' (dataset.kind)."""
    for key, value in values.items():
        if isinstance(value, Mapping):
            yield from flattened(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def flat_params(name: str, framing: FramingParams, *, seed: int, engine: str) -> dict[str, str]:
    values = {"framing": name, "seed": seed, "engine": engine, **dict(flattened(framing.model_dump(mode="json")))}
    values["resolved_batch_size"] = framing.resolved_batch_size
    return {key: str(value) for key, value in values.items()}


def numeric_metrics(values: Mapping, prefix: str = "") -> dict[str, float]:
    """Every number (and yes/no, as 1/0) in an evaluation JSON, nested keys joined by '.'."""
    return {name: float(value) for name, value in flattened(values, prefix) if isinstance(value, (int, float))}


def read_training(
    templates: Mapping[str, str],
    params: Params,
    name: str,
    seed: int,
    *,
    root: Path,
    git_commit: str,
    dvc_exp_name: str,
) -> TrainingRecord:
    """Read the training of framing ``name`` at ``seed`` into its MLflow record from the stage
    outputs ``model``, ``history``, ``evaluation``, ``predictions``, ``patterns`` and ``encoded``,
    each a path template (relative to ``root``) with {framing} and {seed}."""
    framing, engine = params.framing(name), params.train.engine
    files = {field: Path(template.format(framing=name, seed=seed)) for field, template in templates.items()}
    model_path = root / files["model"]
    data_md5 = file_md5(root / files["encoded"])
    model_md5 = file_md5(model_path)
    weights, spec = load_model(model_path)
    key = training_key(framing, seed=seed, engine=engine, data_md5=data_md5, weights_md5=weights_md5(weights))
    evaluation = read_evaluation(root / files["evaluation"])
    history = read_history(root / files["history"])
    records = read_json(root / files["patterns"])["patterns"]
    return TrainingRecord(
        framing=name,
        seed=seed,
        key=key,
        run_name=f"{name}-seed{seed}",
        params=flat_params(name, framing, seed=seed, engine=engine),
        tags={
            "run_kind": "training",
            "training_key": key,
            "framing": name,
            "seed": str(seed),
            "engine": engine,
            "data_md5": data_md5,
            "model_md5": model_md5,
            "dvc_stage": f"train@{name}",
            "dvc_exp_name": dvc_exp_name,
            **source_tags("train", git_commit),
        },
        description=(
            f"Framing {name}, seed {seed}: LSTM({framing.units}) on {framing.dataset.kind} patterns, "
            f"{framing.epochs} epochs, batch size {framing.resolved_batch_size}, "
            f"{'stateful' if framing.stateful else 'stateless'}, {engine} engine; "
            f"accuracy {evaluation['accuracy']:.4f} on its {evaluation['patterns']} patterns."
        ),
        step_metrics={"loss": list(history.losses), "accuracy": list(history.accuracies)},
        metrics=numeric_metrics(evaluation, prefix=EVALUATION_PREFIX),
        predictions=read_predictions(root / files["predictions"]),
        dataset_rows=[{"input": record["input"], "target": record["target"]} for record in records],
        data_md5=data_md5,
        data_source=files["encoded"].as_posix(),
        model_md5=model_md5,
        model_path=model_path,
        spec=spec.to_dict(),
    )


def summary_key(training_keys: Sequence[str], dvc_exp_name: str) -> str:
    return content_key({"trainings": sorted(training_keys), "dvc_exp_name": dvc_exp_name})


def summary_record(
    records: Sequence[TrainingRecord], run_ids: Mapping[str, str], *, git_commit: str, dvc_exp_name: str
) -> Record:
    """One run per repro: each framing's metrics (mean over seeds) and params, and tags
    ``training.<framing>.seed<N>`` holding the id of each training run (``run_ids`` by key)."""
    metrics: dict[str, float] = {}
    params: dict[str, str] = {}
    framings = sorted({record.framing for record in records})
    for framing in framings:
        framing_records = [record for record in records if record.framing == framing]
        for name in sorted({name for record in framing_records for name in record.metrics}):
            values = [record.metrics[name] for record in framing_records if name in record.metrics]
            metrics[f"{framing}/{name[len(EVALUATION_PREFIX) :]}"] = sum(values) / len(values)
        for name, value in framing_records[0].params.items():
            if name not in ("framing", "seed"):
                params[f"{framing}.{name}"] = value
    params["seeds"] = ",".join(str(seed) for seed in sorted({record.seed for record in records}))
    params["framings"] = ",".join(framings)
    key = summary_key([record.key for record in records], dvc_exp_name)
    tags = {
        "run_kind": "summary",
        "summary_key": key,
        "dvc_exp_name": dvc_exp_name,
        **source_tags("log", git_commit),
        **{f"training.{record.framing}.seed{record.seed}": run_ids[record.key] for record in records},
    }
    lines = [
        f"Summary of DVC experiment {dvc_exp_name}: every framing's evaluation (mean over seeds "
        f"{params['seeds']}); the tags training.<framing>.seed<N> link each training run.",
        "",
        "| framing | seed | accuracy | run |",
        "|---|---|---|---|",
    ]
    for record in sorted(records, key=lambda item: (item.framing, item.seed)):
        accuracy = record.metrics[f"{EVALUATION_PREFIX}accuracy"]
        lines.append(f"| {record.framing} | {record.seed} | {accuracy:.4f} | {run_ids[record.key]} |")
    return Record(
        key=key,
        run_name=f"summary@{dvc_exp_name}",
        params=params,
        tags=tags,
        description="\n".join(lines),
        metrics=metrics,
    )


def logged_manifest(records: Sequence[TrainingRecord], first_seed: int) -> dict:
    """The log stage's output: what was mirrored (the first seed's models registered), by
    content only (no run ids, URIs or paths outside the checkout), the same on every machine."""
    return {
        "trainings": [
            {
                "framing": record.framing,
                "seed": record.seed,
                "training_key": record.key,
                "data_md5": record.data_md5,
                "model_md5": record.model_md5,
            }
            for record in sorted(records, key=lambda item: (item.framing, item.seed))
        ],
        # The repro's trainings as one key (a summary run's key adds the DVC experiment).
        "trainings_key": summary_key([record.key for record in records], ""),
        "registered_models": {
            registered_model_name(record.framing): record.model_md5
            for record in sorted(records, key=lambda item: item.framing)
            if record.seed == first_seed
        },
    }


def sweep_records(
    sweep: Sweep,
    results: Sequence[Mapping[str, str]],
    points_summary: Mapping,
    *,
    engine: str,
    results_md5: str,
    timing: Mapping[tuple[str, str], Mapping[str, str]],
    git_commit: str,
) -> tuple[Record, list[TrainingRecord]]:
    """A sweep as MLflow runs: a parent (its question, each grid point's mean accuracy over seeds, the
    best point, as ``points_summary``, the report's points.json, states them) and one child per
    training, keyed as the pipeline keys it. ``timing`` (seconds and worker by point and seed) is
    optional and varies run to run: no part of any key."""
    name, framing = sweep.name, sweep.params.framing
    points = {point.label: point for point in sweep.points}
    common = {"sweep": name, "framing": framing, "engine": engine, **source_tags("sweep_log", git_commit)}
    children = []
    for row in results:
        point, seed = points[row["point"]], int(row["seed"])
        key = training_key(
            point.framing, seed=seed, engine=engine, data_md5=row["data_md5"], weights_md5=row["weights_md5"]
        )
        times = timing.get((row["point"], row["seed"]), {})
        metrics = {f"{EVALUATION_PREFIX}{metric}": float(row[metric]) for metric in ("accuracy", "loss")}
        if times.get("seconds"):
            metrics["train_seconds"] = float(times["seconds"])
        children.append(
            TrainingRecord(
                framing=framing,
                seed=seed,
                key=key,
                run_name=f"{row['point']} seed {seed}",
                params={**flat_params(framing, point.framing, seed=seed, engine=engine), "sweep": name},
                tags={
                    **common,
                    "run_kind": "training",
                    "training_key": key,
                    "seed": row["seed"],
                    "point": row["point"],
                    "data_md5": row["data_md5"],
                    "worker": times.get("worker", "unknown"),
                },
                description=f"Sweep {name}, {row['point']}, seed {seed}: accuracy {float(row['accuracy']):.4f}.",
                metrics=metrics,
                data_md5=row["data_md5"],
            )
        )
    key = content_key(
        {
            "sweep": name,
            "definition": sweep.params.model_dump(mode="json"),
            "base": sweep.base.model_dump(mode="json"),
            "engine": engine,
            "results_md5": results_md5,
        }
    )
    best_label = points_summary["best"]
    best = points_summary["points"][best_label]
    metrics = {"best_accuracy_mean": best["accuracy_mean"], "trainings": float(len(results))}
    for label, point in points_summary["points"].items():
        # MLflow allows no '=' in a metric key.
        metrics[f"accuracy_mean/{label.replace('=', ':')}"] = point["accuracy_mean"]
    params = {
        "framing": framing,
        "grid": json.dumps(sweep.params.grid),
        "seeds": json.dumps(list(sweep.seeds)),
        "question": sweep.params.question,
        "engine": engine,
        "best_point": best_label,
    }
    parent = Record(
        key=key,
        run_name=f"sweep {name}",
        params=params,
        tags={**common, "run_kind": "sweep", "summary_key": key, "results_md5": results_md5},
        description=f"{sweep.params.question} Best: {best_label}, mean accuracy {best['accuracy_mean']:.4f} "
        f"over {best['seeds']} seeds.",
        metrics=metrics,
    )
    return parent, children
