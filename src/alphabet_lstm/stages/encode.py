"""Stage encode: every framing's patterns padded, scaled and laid out as its LSTM input.

One process for all framings, as generate; an unchanged framing gets the same bytes again.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from alphabet_lstm.alphabet import letters_to_codes
from alphabet_lstm.artifacts import encoded_bytes, publish_directory, read_json
from alphabet_lstm.data.encoding import encode_patterns
from alphabet_lstm.errors import run_entry_point
from alphabet_lstm.params import load_params


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--patterns", required=True, help="directory of <framing>.json from generate")
    parser.add_argument("--out-dir", required=True, help="directory to hold <framing>.npz")
    args = parser.parse_args(argv)

    files = {}
    for name, framing in load_params(args.params).framings.items():
        records = read_json(Path(args.patterns) / f"{name}.json")["patterns"]
        encoded = encode_patterns(
            [letters_to_codes(record["input"]) for record in records],
            [letters_to_codes(record["target"])[0] for record in records],
            layout=framing.layout,
            input_length=framing.dataset.input_length,
        )
        files[f"{name}.npz"] = encoded_bytes(encoded, {"framing": name, "dataset_kind": framing.dataset.kind})
    publish_directory(args.out_dir, files)


if __name__ == "__main__":
    sys.exit(run_entry_point(main))
