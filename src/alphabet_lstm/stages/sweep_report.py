"""Stage sweep_report: one sweep's summary per grid point (DVC metrics), figure and report."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from alphabet_lstm.artifacts import write_bytes, write_json, write_text
from alphabet_lstm.errors import UsageError, run_entry_point
from alphabet_lstm.params import load_params
from alphabet_lstm.sweeps.params import load_sweep
from alphabet_lstm.sweeps.report import figure_png, report_markdown
from alphabet_lstm.sweeps.results import read_csv, summarize_points, summary_metrics


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--sweep", required=True)
    parser.add_argument("--results", required=True, help="results CSV from the sweep stage")
    parser.add_argument("--summary", required=True, help="summary JSON (DVC metrics) to write")
    parser.add_argument("--figure", required=True, help="PNG to write")
    parser.add_argument("--report", required=True, help="Markdown report to write (links the figure)")
    args = parser.parse_args(argv)

    params = load_params(args.params)
    sweep = load_sweep(params, args.sweep, args.params)
    tutorial_accuracy = params.report.tutorial_accuracy.get(sweep.framing_name)
    try:
        summaries = summarize_points(sweep, read_csv(args.results))
    except ValueError as error:
        raise UsageError(f"{args.results}: {error}") from None
    figure = Path(args.figure)
    write_json(args.summary, summary_metrics(sweep, summaries))
    write_bytes(figure, figure_png(sweep, summaries, tutorial_accuracy))
    relative = Path(os.path.relpath(figure, Path(args.report).parent)).as_posix()
    write_text(args.report, report_markdown(sweep, summaries, tutorial_accuracy, relative))


if __name__ == "__main__":
    sys.exit(run_entry_point(main))
