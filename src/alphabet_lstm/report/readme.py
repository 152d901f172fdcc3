"""The README's results table, generated from the committed metrics so it cannot drift.

    python -m alphabet_lstm.report.readme            # rewrite the table in README.md
    python -m alphabet_lstm.report.readme --check    # exit 1 if README.md's table is stale

The table sits between two marker lines in README.md; everything else is left as written.
tests/test_readme.py runs the check, so a change of results without `make readme` fails.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from alphabet_lstm import formats
from alphabet_lstm.artifacts import seed_file
from alphabet_lstm.params import load_params

BEGIN = "<!-- results: written by `make readme` from metrics/evaluation; do not edit by hand -->"
END = "<!-- end of results -->"


def percent(value: float | None) -> str:
    return "—" if value is None else f"{100.0 * value:.2f}%"


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


def with_table(readme: str, table: str) -> str:
    """README text with the text between the markers replaced by ``table``."""
    try:
        head, rest = readme.split(BEGIN + "\n", 1)
        _, tail = rest.split(END, 1)
    except ValueError:
        raise ValueError(f"README.md lacks the marker lines {BEGIN!r} and {END!r}") from None
    return f"{head}{BEGIN}\n{table}{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=".", help="the project root (default: here)")
    parser.add_argument("--check", action="store_true", help="only check; exit 1 if the table is stale")
    args = parser.parse_args(argv)
    root = Path(args.root)
    readme_path = root / "README.md"
    readme = readme_path.read_text(encoding="utf-8")
    updated = with_table(readme, results_table(root, root / "params.yaml"))
    if updated == readme:
        return 0
    if args.check:
        print("README.md's results table differs from metrics/: run `make readme`", file=sys.stderr)
        return 1
    readme_path.write_text(updated, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
