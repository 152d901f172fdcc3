"""Stage generate: every framing's patterns (letters in, next letter out), one JSON each.

One process for all framings: generating takes milliseconds, a DVC stage about a second. A
framing whose dataset params did not change gets the same bytes again, so DVC reruns
nothing downstream of it.
"""

from __future__ import annotations

import argparse

from alphabet_lstm.artifacts import publish_directory, to_json
from alphabet_lstm.errors import run_stage
from alphabet_lstm.params import load_params


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--out-dir", required=True, help="directory to hold <framing>.json")
    args = parser.parse_args(argv)

    files = {}
    for name, framing in load_params(args.params).framings.items():
        patterns = framing.dataset.patterns()
        document = {"framing": name, "dataset": framing.dataset.model_dump(), "patterns": patterns.as_records()}
        files[f"{name}.json"] = to_json(document).encode("utf-8")
    publish_directory(args.out_dir, files)


if __name__ == "__main__":
    run_stage(main)
