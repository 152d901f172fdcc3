"""Stage sweep_log: one sweep mirrored into MLflow, a parent run and a child run per training.

Idempotent: runs are found by their content keys (a child's is the pipeline's
``training_key`` of the same training), so logging the same sweep again adds nothing.
params.yaml's ``tracking.uri`` names the store (default: mlflow.db at the checkout root).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from alphabet_lstm import tracking
from alphabet_lstm.artifacts import file_md5, read_json
from alphabet_lstm.errors import run_stage
from alphabet_lstm.formats import read_table
from alphabet_lstm.params import SWEEP_ENGINE, Sweep, load_params
from alphabet_lstm.report.sweep import POINTS_NAME
from alphabet_lstm.tracking.records import sweep_records


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--sweep", required=True)
    parser.add_argument("--results", required=True, help="results CSV from the sweep_run stage")
    parser.add_argument("--timing", default=None, help="seconds and workers from the sweep_run stage, if kept")
    parser.add_argument(
        "--report-dir",
        required=True,
        help="the sweep's report (its points.json is the summary), attached to the parent run",
    )
    args = parser.parse_args(argv)

    params = load_params(args.params)
    sweep = Sweep.from_params(params, args.sweep)
    uri = tracking.tracking_uri(params.tracking.uri)
    tracking.check_tracking_server(uri)  # an unreachable server fails now, not after MLflow's retries
    results = read_table(args.results)
    timing_rows = read_table(args.timing) if args.timing and Path(args.timing).is_file() else []
    parent, children = sweep_records(
        sweep,
        results,
        read_json(Path(args.report_dir) / POINTS_NAME),
        engine=SWEEP_ENGINE,
        results_md5=file_md5(args.results),
        timing={(row["point"], row["seed"]): row for row in timing_rows},
        git_commit=tracking.git_commit(),
    )
    from alphabet_lstm.tracking import store as mlflow_store

    with mlflow_store.held_store(
        uri, tracking.SWEEPS_EXPERIMENT_NAME, description=tracking.SWEEPS_EXPERIMENT_DESCRIPTION
    ) as store:
        logged, created = mlflow_store.log_summary(store, parent, report_dir=Path(args.report_dir), children=children)
    print(
        f"[{sweep.name}] MLflow parent run {logged.run_id} ({'new' if logged.created else 'already logged'}): "
        f"{created} training runs added, {len(children) - created} already there ({uri})",
        file=sys.stderr,
    )


if __name__ == "__main__":
    run_stage(main)
