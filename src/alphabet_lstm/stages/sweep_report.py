"""Stage sweep_report: one sweep's headline metrics (DVC metrics), its page, figure and points.json."""

from __future__ import annotations

import argparse

import pandas as pd

from alphabet_lstm.artifacts import publish_directory, write_json
from alphabet_lstm.errors import UsageError, run_stage
from alphabet_lstm.params import SWEEP_ENGINE, Sweep, load_params
from alphabet_lstm.report.sweep import summarize_points, summary_metrics, sweep_report_files


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--sweep", required=True)
    parser.add_argument("--results", required=True, help="results CSV from the sweep_run stage")
    parser.add_argument("--summary", required=True, help="summary JSON (DVC metrics) to write")
    parser.add_argument("--out-dir", required=True, help="directory for report.md, report.html and the figure")
    args = parser.parse_args(argv)

    params = load_params(args.params)
    sweep = Sweep.from_params(params, args.sweep)
    try:
        # pandas 3 reads each float as Python's float() does (its float_precision="round_trip"
        # is deprecated as the default): each accuracy as the runner wrote it.
        results = pd.read_csv(args.results, usecols=["point", "seed", "accuracy", "loss"])
        summaries = summarize_points(results, sweep)
    except ValueError as error:
        raise UsageError(f"{args.results}: {error}") from None
    tutorial_accuracy = params.report.tutorial_accuracy.get(sweep.params.framing)
    files = sweep_report_files(sweep, summaries, engine=SWEEP_ENGINE, tutorial_accuracy=tutorial_accuracy)
    publish_directory(args.out_dir, files)
    write_json(args.summary, summary_metrics(summaries))


if __name__ == "__main__":
    run_stage(main)
