"""The report stage on small fake inputs: its tables, figures, summary and atomicity.

The file formats it reads are tested in test_formats.py."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from alphabet_lstm.alphabet import ALPHABET
from alphabet_lstm.artifacts import publish_directory, save_model
from alphabet_lstm.errors import UsageError
from alphabet_lstm.model.lstm import ModelSpec, initial_weights
from alphabet_lstm.report.render import document_files, markdown_table
from alphabet_lstm.report.study import SUMMARY_KEYS
from alphabet_lstm.stages import report as report_stage

PARAMS_YAML = """
seeds: {seeds}
framings:
  one_char:
    dataset: {{kind: sliding, seq_length: 1}}
    epochs: 3
    units: 4
  window_features:
    dataset: {{kind: sliding, seq_length: 3}}
    layout: features
    epochs: 3
    units: 4
  stateful:
    dataset: {{kind: sliding, seq_length: 1}}
    stateful: true
    shuffle: false
    epochs: 3
    units: 4
  variable_length:
    dataset: {{kind: variable_length, num_inputs: 10, max_len: 5}}
    epochs: 3
    units: 4
report:
  tutorial_accuracy: {{one_char: 0.84, window_features: 0.8696, stateful: 1.0}}
"""

TEMPLATES = {
    "evaluation": "metrics/evaluation/{framing}-seed{seed}.json",
    "details": "metrics/details/{framing}-seed{seed}.json",
    "history": "metrics/history/{framing}-seed{seed}.csv",
    "probabilities": "metrics/probabilities/{framing}-seed{seed}.csv",
    "models": "models/{framing}/seed{seed}.npz",
}

# How each fake framing is fed (as params say): the state figures run these models.
FAKE_SPECS = {
    "one_char": dict(layout="timesteps", input_length=1, stateful=False, shortest_query=1, scores_all_queries=False),
    "window_features": dict(
        layout="features", input_length=3, stateful=False, shortest_query=3, scores_all_queries=False
    ),
    "stateful": dict(layout="timesteps", input_length=1, stateful=True, shortest_query=1, scores_all_queries=False),
    "variable_length": dict(
        layout="timesteps", input_length=5, stateful=False, shortest_query=1, scores_all_queries=True
    ),
}

# Accuracy as (correct, patterns) per framing and seed. window_features minus one_char is
# 0.1, 0.0, 0.2 over seeds 7, 8, 9: the paired example worked by hand in test_statistics.
SCORES = {
    "one_char": {7: (8, 10), 8: (9, 10), 9: (8, 10)},
    "window_features": {7: (9, 10), 8: (9, 10), 9: (10, 10)},
    "stateful": {7: (25, 25), 8: (25, 25), 9: (25, 25)},
    "variable_length": {7: (990, 1000), 8: (980, 1000), 9: (1000, 1000)},
}


def start_rows(predict_from_start: bool) -> list[dict]:
    """Start tables as evaluate writes them: cold replays from B, warm continues correctly."""
    rows = []
    for code, letter in enumerate(ALPHABET):
        expected = ALPHABET[code + 1 : code + 6]
        predicted = "BCDEF" if predict_from_start else (expected + "ZZZZZ")[:5]
        correct = sum(p == e for p, e in zip(predicted, expected))
        rows.append(
            {
                "start": letter,
                "expected": expected,
                "predicted": predicted,
                "accuracy": round(correct / len(expected), 6) if expected else None,
            }
        )
    return rows


# The stateful chain breaks at seed 8 only: the summary's "chain" is the fraction intact.
BROKEN_CHAIN_SEED = 8


def fake_details(framing: str, seed: int) -> dict:
    details: dict = {"framing": framing, "seed": seed}
    if framing == "stateful":
        intact = seed != BROKEN_CHAIN_SEED
        details.update(
            chain_from_A=ALPHABET if intact else "ABCDEFGHIJKLMMMMMMMMMMMMMM",
            chain_intact=intact,
            cold_start_from_K="BCDEF",
            cold_starts=start_rows(True),
            warm_starts=start_rows(False),
        )
    else:
        details["random_queries"] = [{"input": "A", "expected": "B", "predicted": "B", "correct": True}]
    if framing == "variable_length":
        by_length = {"1": 0.96, "2": 1.0, "3": 1.0, "4": 1.0, "5": 1.0}
        details["all_queries"] = {"accuracy": 0.991304, "queries": 115, "accuracy_by_length": by_length}
    return details


def fake_metrics(framing: str, seed: int) -> dict:
    correct, patterns = SCORES[framing][seed]
    metrics = {"accuracy": round(correct / patterns, 6), "loss": 0.5, "correct": correct, "patterns": patterns}
    if framing == "stateful":
        metrics.update(chain_intact=seed != BROKEN_CHAIN_SEED, cold_start_accuracy=0.04, warm_start_accuracy=1.0)
    if framing == "variable_length":
        metrics["all_queries_accuracy"] = 0.991304
    return metrics


def fake_probabilities(framing: str) -> str:
    """The next letter with probability 1, except for a fixed window, which has no table."""
    lines = ["input," + ",".join(ALPHABET)]
    if framing != "window_features":
        for code, letter in enumerate(ALPHABET):
            row = np.zeros(26)
            row[min(code + 1, 25)] = 1.0
            lines.append(letter + "," + ",".join(f"{value:.6f}" for value in row))
    return "\n".join(lines) + "\n"


def write_fake_inputs(root: Path, seeds: list[int]) -> None:
    """params.yaml and every file the report reads, for each framing and seed."""
    (root / "params.yaml").write_text(PARAMS_YAML.format(seeds=seeds))
    for framing in SCORES:
        for seed in seeds:
            paths = {kind: root / template.format(framing=framing, seed=seed) for kind, template in TEMPLATES.items()}
            for path in paths.values():
                path.parent.mkdir(parents=True, exist_ok=True)
            paths["evaluation"].write_text(json.dumps(fake_metrics(framing, seed)))
            paths["details"].write_text(json.dumps(fake_details(framing, seed)))
            paths["history"].write_text("epoch,loss,accuracy\n1,3.2,0.1\n2,2.0,0.5\n3,1.0,0.9\n")
            paths["probabilities"].write_text(fake_probabilities(framing))
            spec = ModelSpec(framing=framing, units=4, batch_size=1, engine="fast", seed=seed, **FAKE_SPECS[framing])
            save_model(paths["models"], initial_weights(features=spec.features, units=4, seed=seed), spec)


def stage_argv(root: Path, out_dir: str = "reports", figure_cache: Path | None = None) -> list[str]:
    argv = [
        "--params",
        str(root / "params.yaml"),
        "--out-dir",
        str(root / out_dir),
        "--summary",
        str(root / "metrics/summary.json"),
        "--plots",
        str(root / "metrics/plots"),
    ]
    for kind, template in TEMPLATES.items():
        argv += [f"--{kind.replace('_', '-')}", str(root / template)]
    return argv + (["--figure-cache", str(figure_cache)] if figure_cache else [])


@pytest.fixture(scope="module")
def one_seed(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("one_seed")
    write_fake_inputs(root, [7])
    report_stage.main(stage_argv(root))
    return root


# The folder, beside a test report's inputs, of the figures its report draws (--figure-cache).
FIGURE_CACHE = "figure-cache"


@pytest.fixture(scope="module")
def three_seeds(tmp_path_factory) -> Path:
    """The three-seed study's report, its figures also kept in a figure cache (``FIGURE_CACHE``)."""
    root = tmp_path_factory.mktemp("three_seeds")
    write_fake_inputs(root, [7, 8, 9])
    report_stage.main(stage_argv(root, figure_cache=root / FIGURE_CACHE))
    return root


def markdown(root: Path) -> str:
    return (root / "reports/report.md").read_text(encoding="utf-8")


def html_page(root: Path) -> str:
    return (root / "reports/report.html").read_text(encoding="utf-8")


def summary(root: Path) -> dict:
    return json.loads((root / "metrics/summary.json").read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- one seed


def test_comparison_table_has_every_framing_at_the_first_seed(one_seed):
    text = markdown(one_seed)
    assert "| Framing | Tutorial | Ours (seed 7) | Correct (seed 7) |" in text
    assert "| one_char | 84.00% | 80.00% | 8/10 |" in text
    assert "| window_features | 86.96% | 90.00% | 9/10 |" in text
    assert "| stateful | 100.00% | 100.00% | 25/25 |" in text
    # No tutorial accuracy for variable_length in these params: a dash, not a number.
    assert "| variable_length | — | 99.00% | 990/1000 |" in text
    assert "Mean ± 95% CI" not in text
    # The template's blocks: one blank line between any two, one newline at the end.
    assert "\n\n\n" not in text and text.endswith("how far each step moves h.*\n")


def test_one_seed_says_plainly_that_no_paired_test_is_possible(one_seed):
    text = markdown(one_seed)
    assert "Only one seed (7) was run, so no paired test is possible" in text
    assert "| 7 | 90.00% | 80.00% | +10.00 pp |" in text


def test_stateful_chain_cold_start_and_start_tables(one_seed):
    text = markdown(one_seed)
    assert f"| 7 | {' '.join(ALPHABET)} | yes | K -> B C D E F | 4.00% | 100.00% |" in text
    assert "| K | L M N O P | B C D E F | 0.00% | L M N O P | 100.00% |" in text
    assert "| Y | Z | B C D E F | 0.00% | Z Z Z Z Z | 100.00% |" in text
    assert "| Z | — | B C D E F | — | Z Z Z Z Z | — |" in text


def test_all_queries(one_seed):
    text = markdown(one_seed)
    assert "| variable_length | 115 | 99.13% |" in text
    assert "| 1 | 96.00% |" in text


def test_figures_are_written_and_linked(one_seed):
    figures = sorted(path.name for path in (one_seed / "reports/figures").iterdir())
    assert figures == [
        "accuracy-by-seed.png",
        "probabilities-one_char.png",
        "probabilities-stateful.png",
        "probabilities-variable_length.png",
        "state-padding.png",
        "state-stateful.png",
        "state-windows.png",
        "training-one_char.png",
        "training-stateful.png",
        "training-variable_length.png",
        "training-window_features.png",
    ]
    for name in figures:
        assert (one_seed / "reports/figures" / name).read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
        assert f"](figures/{name})" in markdown(one_seed)
    # The window takes no single letter: no heatmap, and the report says why.
    assert "No table for `window_features`" in markdown(one_seed)


def test_html_is_self_contained_with_alt_texts_and_the_comparison_rows(one_seed):
    page = html_page(one_seed)
    images = re.findall(r"<img [^>]*>", page)
    assert len(images) == 11
    assert all('src="data:image/png;base64,' in image for image in images)
    assert all(re.search(r'alt="[^"]+"', image) for image in images)
    assert "<td>one_char</td>\n<td>84.00%</td>\n<td>80.00%</td>\n<td>8/10</td>" in page
    assert "figures/" not in page  # nothing points outside the page


def test_summary_has_one_short_key_per_framing_and_result(one_seed):
    # What `dvc exp show` prints: short names, no seed, only the results that matter.
    assert summary(one_seed) == {
        "one_char": {"acc": 0.8},
        "stateful": {"acc": 1.0, "chain": 1.0, "cold": 0.04, "warm": 1.0},
        "variable_length": {"acc": 0.99, "allq": 0.9913},
        "window_features": {"acc": 0.9},
    }
    assert (one_seed / "metrics/summary.json").read_text().startswith('{\n  "one_char": {\n    "acc": 0.8\n')


@pytest.mark.slow  # draws every figure a second time
def test_the_report_has_no_timestamp_and_is_byte_reproducible(one_seed, tmp_path):
    write_fake_inputs(tmp_path, [7])
    report_stage.main(stage_argv(tmp_path))
    for name in [
        "report.md",
        "report.html",
        "state.json",
        "figures/training-stateful.png",
        "figures/accuracy-by-seed.png",
        "figures/state-stateful.png",
        "figures/state-windows.png",
        "figures/state-padding.png",
    ]:
        assert (tmp_path / "reports" / name).read_bytes() == (one_seed / "reports" / name).read_bytes()
    assert not re.search(r"\d{4}-\d{2}-\d{2}|\d{2}:\d{2}:\d{2}", markdown(one_seed))


def test_the_state_section_has_a_sentence_read_from_each_figures_numbers(one_seed):
    text = markdown(one_seed)
    numbers = json.loads((one_seed / "reports/state.json").read_text())
    assert sorted(numbers) == ["stateful", "variable_length", "window_features"]
    stateful = numbers["stateful"]
    assert set(stateful) >= {"cold_K_to_after_A", "cold_K_to_warm_K", "nearest_to_cold_K", "explained_variance"}
    assert "## What the LSTM carries: the state" in text
    assert text.index("## Next-letter probabilities") < text.index("## What the LSTM carries: the state")
    assert (
        f"Right after a reset, K leaves h at a distance of {stateful['cold_K_to_after_A']:.3f} from the state "
        f"after A and {stateful['cold_K_to_warm_K']:.3f} from the warm K" in text
    )
    right = numbers["window_features"]["correct_after_step"][0]
    assert (
        f"`window_features`, which takes the 3 letters in one step, names the right next letter for {right} "
        "of the 23 windows." in text
    )
    padding = numbers["variable_length"]
    assert padding["pad_vs_A_distance"] == 0.0 and (padding["queries"], padding["aliased_queries"]) == (115, 4)
    assert "`variable_length`: after the A of `ABC`, h is 0.0000 from h after the same step of `BC`" in text


def test_a_study_without_the_paired_framings_or_a_state_view_says_so_and_ends_in_one_newline(tmp_path):
    write_fake_inputs(tmp_path, [7])
    (tmp_path / "params.yaml").write_text(
        "seeds: [7]\nframings:\n  one_char:\n    dataset: {kind: sliding, seq_length: 1}\n    epochs: 3\n"
        "    units: 4\nreport:\n  tutorial_accuracy: {one_char: 0.84}\n"
    )
    report_stage.main(stage_argv(tmp_path))
    text = markdown(tmp_path)
    assert "Not compared: the study does not include both `window_features` and `one_char`.\n\n## Training" in text
    assert "## What the LSTM carries" not in text and "No table for" not in text and "\n\n\n" not in text
    assert text.endswith("\n\n*one_char: next-letter probabilities for each single letter.*\n")


def test_a_model_that_cannot_be_read_names_the_file(tmp_path):
    write_fake_inputs(tmp_path, [7])
    broken = tmp_path / "models/stateful/seed7.npz"
    broken.write_text("not a zip archive")
    with pytest.raises(UsageError, match=re.escape(str(broken))):
        report_stage.main(stage_argv(tmp_path))


def test_a_malformed_metrics_file_is_a_usage_error_naming_it_and_the_fix(tmp_path):
    write_fake_inputs(tmp_path, [7])
    broken = tmp_path / "metrics/history/one_char-seed7.csv"
    broken.write_text("epoch,loss\n1,x\n")
    with pytest.raises(UsageError, match=rf"^{re.escape(str(broken))}: cannot be read \(.*\); run `dvc repro`"):
        report_stage.main(stage_argv(tmp_path))
    assert not (tmp_path / "reports").exists()


# --------------------------------------------------------------------------- several seeds


def test_several_seeds_add_mean_interval_spread_and_range(three_seeds):
    text = markdown(three_seeds)
    assert "| Framing | Tutorial | Ours (seed 7) | Correct (seed 7) | Mean ± 95% CI (3 seeds) | Std | Min–max |" in text
    # window_features: 0.9, 0.9, 1.0 -> mean 0.9333, std 0.0577, half width 4.3027 * 0.0577 / sqrt 3.
    assert "| window_features | 86.96% | 90.00% | 9/10 | 93.33% ± 14.34 | 5.77 | 90.00%–100.00% |" in text
    assert "| stateful | 100.00% | 100.00% | 25/25 | 100.00% ± 0.00 | 0.00 | 100.00%–100.00% |" in text


def test_several_seeds_give_the_paired_test(three_seeds):
    text = markdown(three_seeds)
    assert "Over 3 seeds, `window_features` minus `one_char` is +10.00 pp on average" in text
    assert "95% CI [-14.84 pp, +34.84 pp]; paired t-test p = 0.2254 (t = 1.732).\n\n| Seed |" in text
    assert "\n\n\n" not in text and not text.endswith("\n\n")


def test_several_seeds_summary_averages_over_seeds(three_seeds):
    values = summary(three_seeds)
    # 0.9, 0.9, 1.0 -> 0.9333; 0.99, 0.98, 1.0 -> 0.99; the chain intact at 2 seeds of 3.
    assert values["window_features"] == {"acc": 0.9333}
    assert values["variable_length"] == {"acc": 0.99, "allq": 0.9913}
    assert values["stateful"] == {"acc": 1.0, "chain": 0.6667, "cold": 0.04, "warm": 1.0}
    assert set(key for results in values.values() for key in results) <= set(SUMMARY_KEYS)


# --------------------------------------------------------------------------- failures


def test_a_missing_input_names_the_file_and_says_to_run_dvc_repro(tmp_path):
    write_fake_inputs(tmp_path, [7])
    missing = tmp_path / "metrics/details/stateful-seed7.json"
    missing.unlink()
    with pytest.raises(UsageError) as raised:
        report_stage.main(stage_argv(tmp_path))
    assert str(missing) in str(raised.value) and "dvc repro" in str(raised.value)
    assert not (tmp_path / "reports").exists()


def test_a_malformed_input_names_the_file(tmp_path):
    write_fake_inputs(tmp_path, [7])
    broken = tmp_path / "metrics/probabilities/variable_length-seed7.csv"
    broken.write_text("input,A,B\nA,0.5,0.5\n")
    with pytest.raises(UsageError, match=re.escape(str(broken))):
        report_stage.main(stage_argv(tmp_path))
    assert not (tmp_path / "reports").exists()
    assert not (tmp_path / "metrics/summary.json").exists()


def test_the_models_and_probability_tables_of_later_seeds_are_not_read(three_seeds, tmp_path):
    # The report shows them at the first seed only: reading 69 files of the 10-seed study
    # for nothing cost seconds. Unreadable at seed 8, they change not one byte. The figures
    # come from the first report's cache, keyed by the data they show: one drawn from a
    # seed-8 table would be drawn anew, and differ.
    for name in ("reports", "metrics"):
        shutil.copytree(three_seeds / name, tmp_path / name)
    shutil.copytree(three_seeds / "models", tmp_path / "models")
    (tmp_path / "params.yaml").write_text((three_seeds / "params.yaml").read_text())
    (tmp_path / "models/stateful/seed8.npz").write_bytes(b"not a model")
    (tmp_path / "metrics/probabilities/one_char-seed8.csv").write_text("input,A,B\nA,0.5,0.5\n")
    report_stage.main(stage_argv(tmp_path, "again", figure_cache=three_seeds / FIGURE_CACHE))
    for path in (three_seeds / "reports").rglob("*.*"):
        assert (tmp_path / "again" / path.relative_to(three_seeds / "reports")).read_bytes() == path.read_bytes()


def leftovers(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir() if path.name.startswith(".reports"))


def test_a_failure_while_writing_leaves_no_reports_directory(tmp_path):
    # The second file needs "report.md" to be a directory: writing fails half way.
    files = {"report.md": b"# half\n", "report.md/figure.png": b"png"}
    with pytest.raises(OSError):
        publish_directory(tmp_path / "reports", files)
    assert not (tmp_path / "reports").exists()
    assert leftovers(tmp_path) == []


def test_a_failure_keeps_the_previous_report_whole(tmp_path):
    publish_directory(tmp_path / "reports", {"report.md": b"old\n", "figures/a.png": b"a"})
    with pytest.raises(OSError):
        publish_directory(tmp_path / "reports", {"report.md": b"new\n", "report.md/x": b"x"})
    assert (tmp_path / "reports/report.md").read_bytes() == b"old\n"
    assert (tmp_path / "reports/figures/a.png").read_bytes() == b"a"
    assert leftovers(tmp_path) == []


def test_publishing_replaces_the_whole_directory(tmp_path):
    publish_directory(tmp_path / "reports", {"report.md": b"old\n", "figures/stale.png": b"a"})
    publish_directory(tmp_path / "reports", {"report.md": b"new\n"})
    assert sorted(path.name for path in (tmp_path / "reports").rglob("*")) == ["report.md"]
    assert leftovers(tmp_path) == []


# --------------------------------------------------------------------------- optional inputs, sections


def test_a_malformed_evaluation_names_the_file_and_the_missing_key(tmp_path):
    write_fake_inputs(tmp_path, [7])
    broken = tmp_path / "metrics/evaluation/one_char-seed7.json"
    broken.write_text(json.dumps({"loss": 0.5, "correct": 8, "patterns": 10}))
    with pytest.raises(UsageError, match=re.escape(str(broken)) + ".*lacks accuracy"):
        report_stage.main(stage_argv(tmp_path))


def html_of(files: dict[str, bytes]) -> str:
    return files["report.html"].decode("utf-8")


def test_the_markdown_renders_in_both_formats_with_code_and_escaping():
    markdown = "# The `T`\n\n## The LSTM state\n\n`h` <and> `c` | per letter\n"
    files = document_files(markdown, {})
    assert files["report.md"] == markdown.encode("utf-8")
    page = html_of(files)
    assert "<title>The T</title>" in page  # a title is plain text
    assert "<h2>The LSTM state</h2>\n<p><code>h</code> &lt;and&gt; <code>c</code> | per letter</p>\n</body>" in page


def test_a_link_in_a_paragraph_becomes_an_anchor_in_html():
    page = html_of(document_files("# T\n\n## See\n\nOpen [the explorer](explorer.html) beside `report.md`.\n", {}))
    assert '<p>Open <a href="explorer.html">the explorer</a> beside <code>report.md</code>.</p>' in page


def test_a_table_and_a_figure_render_in_both_formats():
    table = markdown_table(["x", "y|z"], [["1", "a|b"]])
    assert table == "| x | y\\|z |\n|---|---|\n| 1 | a\\|b |"
    files = document_files(
        f"# T\n\n{table}\n\n![a <plot>](figures/a.png)\n\n*Its caption.*\n", {"a.png": b"\x89PNG fake"}
    )
    assert files["figures/a.png"] == b"\x89PNG fake"
    page = html_of(files)
    assert "<th>y|z</th>" in page and "<td>a|b</td>" in page
    assert '<img src="data:image/png;base64,iVBORyBmYWtl" alt="a &lt;plot&gt;"' in page
    assert "<p><em>Its caption.</em></p>" in page


def test_the_report_writes_the_state_explorer_and_links_it(one_seed):
    explorer = one_seed / "reports" / "explorer.html"
    assert explorer.stat().st_size > 0
    assert "(explorer.html)" in markdown(one_seed)
    assert '<a href="explorer.html">' in (one_seed / "reports/report.html").read_text(encoding="utf-8")


def test_plot_tables_hold_every_framing_with_the_last_epoch(one_seed):
    curves = list(csv.DictReader((one_seed / "metrics/plots/curves.csv").read_text().splitlines()))
    assert sorted({row["framing"] for row in curves}) == sorted(SCORES)
    assert [row["progress"] for row in curves if row["framing"] == "stateful"] == ["33.33", "66.67", "100.00"]
    seeds = list(csv.DictReader((one_seed / "metrics/plots/seeds.csv").read_text().splitlines()))
    assert [(row["framing"], row["seed"]) for row in seeds] == [(framing, "7") for framing in SCORES]


def test_long_curves_are_thinned_to_at_most_200_points_ending_at_the_last_epoch(tmp_path):
    from alphabet_lstm.formats import history_csv
    from alphabet_lstm.report.study import RunRecord, Study, curve_rows

    history = tmp_path / "history.csv"
    history.write_text(history_csv([1.0] * 5000, [0.5] * 5000))
    study = Study(
        framings=("batch_all",),
        seeds=(7,),
        tutorial_accuracy={},
        runs={("batch_all", 7): RunRecord({"history": history})},
    )
    rows = curve_rows(study)
    assert len(rows) == 200 and rows[0][1] == 25 and rows[-1][1:3] == [5000, "100.00"]
