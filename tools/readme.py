"""The README's results, generated from the committed outputs so they cannot drift.

Two blocks: the seed table from metrics/evaluation, and each shipped sweep's question and
answer as the sweep_report stage wrote them (sweeps/<name>/report/points.json).

    python tools/readme.py            # rewrite the blocks in README.md (`make readme`)
    python tools/readme.py --check    # exit 1 if README.md's blocks are stale

The table sits between two marker lines in README.md; everything else is left as written.
tests/test_readme.py runs the check, so a change of results without `make readme` fails.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from alphabet_lstm import formats
from alphabet_lstm.artifacts import read_json, seed_file
from alphabet_lstm.params import load_params
from alphabet_lstm.report.render import MARKDOWN_NAME, percent
from alphabet_lstm.report.sweep import POINTS_NAME

BEGIN = "<!-- results: written by `make readme` from metrics/evaluation; do not edit by hand -->"
END = "<!-- end of results -->"
SWEEPS_BEGIN = "<!-- sweeps: written by `make readme` from sweeps/*/report/points.json; do not edit by hand -->"
SWEEPS_END = "<!-- end of sweeps -->"


def notes(metrics: dict) -> str:
    """What a framing's evaluation adds beyond accuracy, in a few words."""
    parts = []
    if "chain_intact" in metrics:
        parts.append(f"recites A..Z from A: {'yes' if metrics['chain_intact'] else 'no'}")
        parts.append(f"cold start {percent(metrics['cold_start_accuracy'])}")
        parts.append(f"warm start {percent(metrics['warm_start_accuracy'])}")
    if "all_queries_accuracy" in metrics:
        parts.append(f"every possible query {percent(metrics['all_queries_accuracy'])}")
    return "; ".join(parts)


def results_table(root: Path, params_path: Path, evaluation_dir: str = "metrics/evaluation") -> str:
    """Markdown table of every framing at the first seed, beside the tutorial's accuracy."""
    params = load_params(params_path)
    seed = params.seeds[0]
    tutorial = params.report.tutorial_accuracy
    lines = [
        f"| framing | tutorial | ours (seed {seed}) | correct | also measured |",
        "|---|---|---|---|---|",
    ]
    for framing in params.framings:
        metrics = formats.read_evaluation(seed_file(root / evaluation_dir / framing, seed, ".json"))
        lines.append(
            f"| {framing} | {percent(tutorial.get(framing))} | {percent(metrics['accuracy'])} | "
            f"{metrics['correct']}/{metrics['patterns']} | {notes(metrics)} |"
        )
    return "\n".join(lines) + "\n"


def sweep_answers(root: Path) -> str:
    """Each shipped sweep's question and answer, linked to its report."""
    lines = []
    for points in sorted((root / "sweeps").glob(f"*/report/{POINTS_NAME}")):
        summary = read_json(points)
        report = (points.parent / MARKDOWN_NAME).relative_to(root).as_posix()
        lines.append(f"- [{points.parent.parent.name}]({report}): *{summary['question']}* {summary['answer']}")
    return "\n".join(lines) + "\n"


def with_block(readme: str, begin: str, end: str, block: str) -> str:
    """README text with the text between the marker lines replaced by ``block``."""
    try:
        head, rest = readme.split(begin + "\n", 1)
        _, tail = rest.split(end, 1)
    except ValueError:
        raise ValueError(f"README.md lacks the marker lines {begin!r} and {end!r}") from None
    return f"{head}{begin}\n{block}{end}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=".", help="the project root (default: here)")
    parser.add_argument("--check", action="store_true", help="only check; exit 1 if the table is stale")
    args = parser.parse_args(argv)
    root = Path(args.root)
    readme_path = root / "README.md"
    readme = readme_path.read_text(encoding="utf-8")
    updated = with_block(readme, BEGIN, END, results_table(root, root / "params.yaml"))
    updated = with_block(updated, SWEEPS_BEGIN, SWEEPS_END, sweep_answers(root))
    if updated == readme:
        return 0
    if args.check:
        print("README.md's results table differs from metrics/: run `make readme`", file=sys.stderr)
        return 1
    readme_path.write_text(updated, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
