"""Stage encode: patterns padded, scaled and laid out as the framing's LSTM input."""

from __future__ import annotations

import argparse
import sys

from alphabet_lstm.alphabet import letters_to_codes
from alphabet_lstm.artifacts import read_json, save_encoded
from alphabet_lstm.data.encoding import encode_patterns
from alphabet_lstm.errors import run_entry_point
from alphabet_lstm.params import load_params


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--framing", required=True)
    parser.add_argument("--patterns", required=True, help="patterns JSON from generate")
    parser.add_argument("--out", required=True, help="encoded .npz to write")
    args = parser.parse_args(argv)

    framing = load_params(args.params).framing(args.framing)
    records = read_json(args.patterns)["patterns"]
    encoded = encode_patterns(
        [letters_to_codes(record["input"]) for record in records],
        [letters_to_codes(record["target"])[0] for record in records],
        layout=framing.layout,
        input_length=framing.dataset.input_length,
    )
    save_encoded(args.out, encoded, {"framing": args.framing, "dataset_kind": framing.dataset.kind})


if __name__ == "__main__":
    sys.exit(run_entry_point(main))
