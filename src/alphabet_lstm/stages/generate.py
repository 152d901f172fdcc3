"""Stage generate: a framing's patterns (letters in, next letter out) as JSON."""

from __future__ import annotations

import argparse
import sys

from alphabet_lstm.artifacts import write_json
from alphabet_lstm.data.datasets import generate_patterns
from alphabet_lstm.errors import run_entry_point
from alphabet_lstm.params import load_params


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--framing", required=True)
    parser.add_argument("--out", required=True, help="patterns JSON to write")
    args = parser.parse_args(argv)

    dataset = load_params(args.params).framing(args.framing).dataset
    patterns = generate_patterns(dataset)
    write_json(
        args.out,
        {"framing": args.framing, "dataset": dataset.model_dump(), "patterns": patterns.as_records()},
    )


if __name__ == "__main__":
    sys.exit(run_entry_point(main))
