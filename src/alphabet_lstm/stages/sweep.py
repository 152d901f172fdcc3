"""Stage sweep: every training of one sweep on Dask, as two tables.

The cluster is the one DASK_SCHEDULER_ADDRESS names, else a LocalCluster on every core
(``--workers`` to use fewer). The results table is deterministic (the same on any cluster);
the timing table holds each training's seconds and the worker that ran it.
"""

from __future__ import annotations

import argparse
import sys

from alphabet_lstm.artifacts import write_text
from alphabet_lstm.errors import run_entry_point
from alphabet_lstm.params import load_params
from alphabet_lstm.sweeps.execution import run_sweep
from alphabet_lstm.sweeps.params import load_sweep
from alphabet_lstm.sweeps.results import results_csv, timing_csv


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--sweep", required=True)
    parser.add_argument("--results", required=True, help="per-training results CSV to write")
    parser.add_argument("--timing", required=True, help="per-training seconds and worker CSV to write")
    parser.add_argument("--workers", type=int, default=None, help="LocalCluster size (default: every core)")
    args = parser.parse_args(argv)

    sweep = load_sweep(load_params(args.params), args.sweep, args.params)
    outcomes = run_sweep(sweep, workers=args.workers)
    write_text(args.results, results_csv(sweep, outcomes))
    write_text(args.timing, timing_csv(sweep, outcomes))


if __name__ == "__main__":
    sys.exit(run_entry_point(main))
