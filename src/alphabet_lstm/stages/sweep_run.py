"""Stage sweep_run: every training of one sweep on Dask, as its results table.

The cluster is the one DASK_SCHEDULER_ADDRESS names, else a LocalCluster on every core
(``--workers`` to use fewer). The results table is the same on any cluster. Each training's
seconds and worker vary run to run: they are printed, and written to ``--timing`` (no DVC
output, ignored by git) for the sweep_log stage to add to MLflow.
"""

from __future__ import annotations

import argparse

from alphabet_lstm.artifacts import write_text
from alphabet_lstm.errors import run_stage
from alphabet_lstm.params import Sweep, load_params
from alphabet_lstm.sweep import run_sweep, sweep_results_csv, sweep_timing_csv


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--sweep", required=True)
    parser.add_argument("--results", required=True, help="per-training results CSV to write")
    parser.add_argument("--timing", required=True, help="per-training seconds and worker CSV to write")
    parser.add_argument("--workers", type=int, default=None, help="LocalCluster size (default: every core)")
    args = parser.parse_args(argv)

    sweep = Sweep.from_params(load_params(args.params), args.sweep)
    outcomes = run_sweep(sweep, workers=args.workers)
    write_text(args.results, sweep_results_csv(sweep, outcomes))
    write_text(args.timing, sweep_timing_csv(sweep, outcomes))


if __name__ == "__main__":
    run_stage(main)
