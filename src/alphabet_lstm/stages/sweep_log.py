"""Stage sweep_log: one sweep mirrored into MLflow, a parent run and a child run per training.

Idempotent: runs are found by their content key, so logging the same sweep again adds
nothing. MLFLOW_TRACKING_URI names the store (default: mlflow.db at the checkout root).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from alphabet_lstm.errors import UsageError, run_entry_point
from alphabet_lstm.params import load_params
from alphabet_lstm.sweeps.params import load_sweep
from alphabet_lstm.sweeps.results import read_csv, summarize_points
from alphabet_lstm.sweeps.tracking import log_sweep
from alphabet_lstm.tracking import check_tracking_server, git_commit, tracking_uri


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--sweep", required=True)
    parser.add_argument("--results", required=True, help="results CSV from the sweep stage")
    parser.add_argument("--timing", required=True, help="timing CSV from the sweep stage")
    parser.add_argument("--artifact", action="append", default=[], help="file to attach to the parent run")
    args = parser.parse_args(argv)

    sweep = load_sweep(load_params(args.params), args.sweep, args.params)
    uri = tracking_uri()
    check_tracking_server(uri)  # an unreachable server fails now, not after MLflow's retries
    results = read_csv(args.results)
    try:
        summaries = summarize_points(sweep, results)
    except ValueError as error:
        raise UsageError(f"{args.results}: {error}") from None
    logged = log_sweep(
        sweep,
        results=results,
        results_text=Path(args.results).read_text(encoding="utf-8"),
        timing=read_csv(args.timing),
        summaries=summaries,
        artifacts=[Path(path) for path in args.artifact],
        uri=uri,
        git_commit=git_commit(),
    )
    print(
        f"[{sweep.name}] MLflow parent run {logged.parent_run_id}: {logged.children_created} training "
        f"runs added, {logged.children_found} already there ({uri})",
        file=sys.stderr,
    )


if __name__ == "__main__":
    sys.exit(run_entry_point(main))
