"""Stage report: every framing and seed compared in one report, plus the summary metrics.

Reads what train and evaluate wrote for each framing and seed (templates with ``{framing}``
and ``{seed}``) and writes the reports directory (report.md, a self-contained report.html,
figures/*.png, state.json behind the LSTM-state figures) and the summary metrics JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

from alphabet_lstm.artifacts import main_checkout_root, publish_directory, write_json, write_text
from alphabet_lstm.errors import UsageError, run_stage
from alphabet_lstm.params import load_params
from alphabet_lstm.report import figures
from alphabet_lstm.report.render import HTML_NAME, MARKDOWN_NAME
from alphabet_lstm.report.sections import report_files
from alphabet_lstm.report.study import RunRecord, Study, plot_tables, summary_metrics

INPUT_KINDS = ("evaluation", "details", "history", "probabilities", "models")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    for kind in INPUT_KINDS:
        parser.add_argument(f"--{kind}", required=True, help=f"{kind} path template, with {{framing}} and {{seed}}")
    parser.add_argument("--out-dir", required=True, help="reports directory to write (replaced whole)")
    parser.add_argument("--summary", required=True, help="summary metrics JSON to write")
    parser.add_argument("--plots", required=True, help="directory for the CSV tables of dvc.yaml's plots")
    parser.add_argument(
        "--figure-cache", default=None, help="folder of figures already drawn, by content (git-ignored; optional)"
    )
    args = parser.parse_args(argv)

    params = load_params(args.params)
    framings, seeds = tuple(params.framings), tuple(params.seeds)
    paths = {
        (framing, seed): {kind: Path(getattr(args, kind).format(framing=framing, seed=seed)) for kind in INPUT_KINDS}
        for framing in framings
        for seed in seeds
    }
    # Every missing input in one error, so one `dvc repro` fixes them all.
    missing = [path for files in paths.values() for path in files.values() if not path.is_file()]
    if missing:
        raise UsageError("\n".join(f"{path}: missing; run `dvc repro` to produce it" for path in missing))
    study = Study(
        framings=framings,
        seeds=seeds,
        tutorial_accuracy=dict(params.report.tutorial_accuracy),
        runs={key: RunRecord(files) for key, files in paths.items()},
    )
    # Figures whose inputs did not change come from the cache, the main checkout's even in an
    # experiment's copy (docs/architecture.md): the bytes drawing gives, in milliseconds.
    cache = main_checkout_root() / args.figure_cache if args.figure_cache else None
    with figures.cached_in(cache) if cache else contextlib.nullcontext():
        files = report_files(study)
    # Computed before anything is written: a file read late and found malformed writes nothing.
    summary, tables = summary_metrics(study), plot_tables(study)
    publish_directory(args.out_dir, files)
    write_json(args.summary, summary)
    for name, text in tables.items():
        write_text(Path(args.plots) / name, text)
    print(
        f"report: {Path(args.out_dir) / MARKDOWN_NAME} and {Path(args.out_dir) / HTML_NAME} "
        f"({len(framings)} framings x {len(seeds)} seed(s)); summary: {args.summary}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    run_stage(main)
