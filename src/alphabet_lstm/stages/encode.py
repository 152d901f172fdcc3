"""Stage encode: every framing's patterns padded, scaled and laid out as its LSTM input.

One process for all framings, as generate; an unchanged framing gets the same bytes again.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from alphabet_lstm.artifacts import encoded_bytes, publish_directory, read_json
from alphabet_lstm.data import encode_framing, patterns_from_records
from alphabet_lstm.errors import run_stage
from alphabet_lstm.params import load_params


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--patterns", required=True, help="directory of <framing>.json from generate")
    parser.add_argument("--out-dir", required=True, help="directory to hold <framing>.npz")
    args = parser.parse_args(argv)

    files = {}
    for name, framing in load_params(args.params).framings.items():
        patterns = patterns_from_records(read_json(Path(args.patterns) / f"{name}.json")["patterns"])
        files[f"{name}.npz"] = encoded_bytes(encode_framing(framing, patterns), name, framing.dataset.kind)
    publish_directory(args.out_dir, files)


if __name__ == "__main__":
    run_stage(main)
