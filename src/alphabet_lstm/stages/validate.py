"""Stage validate: all of params.yaml checked before any other stage runs.

Every stage depends on its output, so a mistake stops `dvc repro` before DVC removes any
stage's outputs (its own are ``persist`` and written only when params are valid). The second
output holds each framing's dataset and layout, all that generate and encode read, so that
they depend on it rather than on params keys (docs/architecture.md).
"""

from __future__ import annotations

import argparse

from alphabet_lstm.artifacts import write_json
from alphabet_lstm.errors import run_stage
from alphabet_lstm.params import Params, load_params


def datasets_document(params: Params) -> dict:
    return {
        name: {"dataset": framing.dataset.model_dump(), "layout": framing.layout}
        for name, framing in params.framings.items()
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--out", required=True, help="marker JSON written when params are valid")
    parser.add_argument("--datasets", required=True, help="JSON of each framing's dataset and layout")
    args = parser.parse_args(argv)
    params = load_params(args.params)  # sweeps included: every grid point is checked as a framing
    write_json(args.datasets, datasets_document(params))
    write_json(args.out, {"params": "valid"})


if __name__ == "__main__":
    run_stage(main)
