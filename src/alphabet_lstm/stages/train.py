"""Stage train: one framing at one seed, recorded as one MLflow run.

Writes the model (weights and the spec that says how to feed them), the per-epoch history
for DVC plots, and the run's identity. The MLflow run gets the framing's params, the
per-epoch curves as step metrics, the final accuracy, the prediction table and the model.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from alphabet_lstm import tracking
from alphabet_lstm.artifacts import load_encoded, read_json, save_model, write_json, write_text
from alphabet_lstm.data.datasets import patterns_from_records
from alphabet_lstm.errors import run_entry_point
from alphabet_lstm.evaluation import prediction_table, training_metrics
from alphabet_lstm.formats import history_csv
from alphabet_lstm.interrupts import deferred_signals
from alphabet_lstm.params import FramingParams, load_params
from alphabet_lstm.progress import ProgressReporter
from alphabet_lstm.model.training import model_spec, train


def flat_params(name: str, framing: FramingParams, *, seed: int, engine: str) -> dict[str, str]:
    """The framing's params as flat MLflow keys (dataset.kind, batch_size, ...)."""
    values = {"framing": name, "seed": seed, "engine": engine}
    for key, value in framing.model_dump().items():
        if isinstance(value, dict):
            values.update({f"{key}.{inner}": item for inner, item in value.items()})
        else:
            values[key] = value
    values["resolved_batch_size"] = framing.resolved_batch_size
    return {key: str(value) for key, value in values.items()}


def run_tags(name: str, seed: int, engine: str) -> dict[str, str]:
    return {
        "framing": name,
        "seed": str(seed),
        "engine": engine,
        "git_commit": tracking.git_commit(),
        "dvc_exp_name": os.environ.get("DVC_EXP_NAME", "workspace"),
        "dvc_stage": f"train@{name}-{seed}",
    }


def main(argv: list[str] | None = None) -> None:
    # MLflow's import and store opening run in this worker on the other core, from now on.
    worker = tracking.BackgroundRun()
    try:
        train_and_track(worker, argv)
    finally:
        worker.close()


def train_and_track(worker: tracking.BackgroundRun, argv: list[str] | None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--framing", required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--patterns", required=True, help="patterns JSON from generate")
    parser.add_argument("--encoded", required=True, help="encoded .npz from encode")
    parser.add_argument("--model", required=True, help="model .npz to write")
    parser.add_argument("--history", required=True, help="per-epoch CSV to write")
    parser.add_argument("--run-info", required=True, help="JSON naming the MLflow run")
    args = parser.parse_args(argv)

    params = load_params(args.params)
    framing = params.framing(args.framing)
    engine = params.train.engine
    dataset, _ = load_encoded(args.encoded)
    patterns = patterns_from_records(read_json(args.patterns)["patterns"])
    spec = model_spec(args.framing, framing, dataset, seed=args.seed, engine=engine)

    exp_name = os.environ.get("DVC_EXP_NAME")
    run_name = f"{args.framing}-seed{args.seed}" + (f"@{exp_name}" if exp_name else "")
    with tracking.tracked_run(
        run_name=run_name,
        tags=run_tags(args.framing, args.seed, engine),
        params=flat_params(args.framing, framing, seed=args.seed, engine=engine),
        worker=worker,
    ) as run, deferred_signals() as stop_request:
        reporter = ProgressReporter(f"{args.framing} seed {args.seed}", framing.epochs)

        def on_progress(epoch: int, loss: float, accuracy: float) -> None:
            stop_request.check()
            reporter.update(epoch, loss, accuracy)

        result = train(dataset, framing, seed=args.seed, engine=engine, on_progress=on_progress)
        stop_request.check()
        metrics = training_metrics(result.weights, spec, dataset.inputs, dataset.target_codes)
        table = prediction_table(result.weights, spec, patterns, dataset.inputs)

        run.log_epoch_metrics({"epoch_loss": list(result.losses), "epoch_accuracy": list(result.accuracies)})
        run.log_final_metrics({"accuracy": metrics["accuracy"], "loss": metrics["loss"], "train_seconds": result.seconds})
        run.log_table(table, artifact_file="predictions.json")
        save_model(args.model, result.weights, spec)
        # Logged under a fixed name (model/model.npz), whatever the DVC path is called.
        with tempfile.TemporaryDirectory() as scratch:
            copy = Path(scratch) / "model.npz"
            copy.write_bytes(Path(args.model).read_bytes())
            run.log_artifact(copy, artifact_path="model")
        write_text(args.history, history_csv(result.losses, result.accuracies))
        write_json(
            args.run_info, {"run_id": run.run_id, "run_name": run_name, "tracking_uri": tracking.tracking_uri()}
        )
    print(
        f"[{args.framing} seed {args.seed}] accuracy {metrics['accuracy']:.4f} "
        f"({metrics['correct']}/{metrics['patterns']}) in {result.seconds:.1f}s, MLflow run {run.run_id}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    sys.exit(run_entry_point(main))
