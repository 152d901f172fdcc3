"""Stage evaluate: accuracy, loss and prediction tables for every trained seed of a framing.

Reads only the model (which carries its own spec), the encoded data and the patterns; it
needs no params. Writes the metrics DVC compares, the per-pattern prediction table, the
extra studies (chains, cold and warm starts, all queries, random queries) and the 26x26
single-letter probability table.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from alphabet_lstm.artifacts import load_encoded, load_model, read_json, write_json, write_text
from alphabet_lstm.data import patterns_from_records
from alphabet_lstm.errors import UsageError, run_stage
from alphabet_lstm.evaluation import evaluate
from alphabet_lstm.formats import predictions_csv, probabilities_csv


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", required=True, help="directory of seed<N>.npz models from train")
    parser.add_argument("--encoded", required=True)
    parser.add_argument("--patterns", required=True)
    parser.add_argument("--metrics", required=True, help="directory for seed<N>.json metrics")
    parser.add_argument("--predictions", required=True, help="directory for seed<N>.csv prediction tables")
    parser.add_argument("--details", required=True, help="directory for seed<N>.json details")
    parser.add_argument("--probabilities", required=True, help="directory for seed<N>.csv 26x26 tables")
    args = parser.parse_args(argv)

    # In seed order: ``models/<framing>/seed7.npz`` -> 7.
    model_paths = sorted(Path(args.models).glob("seed*.npz"), key=lambda path: int(path.stem.removeprefix("seed")))
    if not model_paths:
        raise UsageError(f"{args.models}: no trained models (seed<N>.npz); run `dvc repro` to train them")
    dataset, _ = load_encoded(args.encoded)
    patterns = patterns_from_records(read_json(args.patterns)["patterns"])
    for model_path in model_paths:
        weights, spec = load_model(model_path)
        metrics, table, details, probabilities = evaluate(weights, spec, patterns, dataset.inputs, dataset.target_codes)
        name = model_path.stem
        write_text(Path(args.predictions) / f"{name}.csv", predictions_csv(table))
        write_json(Path(args.details) / f"{name}.json", details)
        write_text(Path(args.probabilities) / f"{name}.csv", probabilities_csv(probabilities))
        write_json(Path(args.metrics) / f"{name}.json", metrics)


if __name__ == "__main__":
    run_stage(main)
