"""Stage evaluate: accuracy, loss and prediction tables for one trained framing and seed.

Reads only the model (which carries its own spec), the encoded data and the patterns; it
needs no params. Writes the metrics DVC compares, the per-pattern prediction table, the
extra studies (chains, cold and warm starts, all queries, random queries) and the 26x26
single-letter probability table.
"""

from __future__ import annotations

import argparse
import sys

from alphabet_lstm.artifacts import load_encoded, load_model, read_json, write_json, write_text
from alphabet_lstm.data.datasets import patterns_from_records
from alphabet_lstm.errors import run_entry_point
from alphabet_lstm.evaluation import evaluate
from alphabet_lstm.formats import predictions_csv, probabilities_csv


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True)
    parser.add_argument("--encoded", required=True)
    parser.add_argument("--patterns", required=True)
    parser.add_argument("--metrics", required=True, help="metrics JSON to write")
    parser.add_argument("--predictions", required=True, help="prediction table CSV to write")
    parser.add_argument("--details", required=True, help="details JSON to write")
    parser.add_argument("--probabilities", required=True, help="26x26 CSV to write")
    args = parser.parse_args(argv)

    weights, spec = load_model(args.model)
    dataset, _ = load_encoded(args.encoded)
    patterns = patterns_from_records(read_json(args.patterns)["patterns"])
    metrics, table, details, probabilities = evaluate(
        weights, spec, patterns, dataset.inputs, dataset.target_codes
    )
    write_text(args.predictions, predictions_csv(table))
    write_json(args.details, details)
    write_text(args.probabilities, probabilities_csv(probabilities))
    write_json(args.metrics, metrics)


if __name__ == "__main__":
    sys.exit(run_entry_point(main))
