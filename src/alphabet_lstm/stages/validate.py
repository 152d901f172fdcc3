"""Stage validate: all of params.yaml checked before any other stage runs.

Every stage depends on this stage's output, so DVC runs it first. DVC removes a stage's
outputs just before running its command; were params checked only there, a mistake would
cost the outputs of every stage it touches. Here a mistake stops `dvc repro` before any
output is touched (the output is kept by DVC, ``persist``, and written only when params
are valid). Its content never depends on the params, so a valid change reruns only the
stages whose own params changed.
"""

from __future__ import annotations

import argparse
import sys

from alphabet_lstm.artifacts import write_json
from alphabet_lstm.errors import run_entry_point
from alphabet_lstm.params import load_params


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--out", required=True, help="marker JSON written when params are valid")
    args = parser.parse_args(argv)
    load_params(args.params)  # sweeps included: every grid point is checked as a framing
    write_json(args.out, {"params": "valid"})


if __name__ == "__main__":
    sys.exit(run_entry_point(main))
