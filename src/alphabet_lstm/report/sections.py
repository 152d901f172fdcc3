"""What the report says: one function per section, each the Markdown blocks of the
:class:`Study` (its ``## title`` first, none if it has nothing); a new one joins SECTIONS.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from alphabet_lstm.alphabet import ALPHABET
from alphabet_lstm.artifacts import to_json
from alphabet_lstm.report import figures, render
from alphabet_lstm.report.explorer import EXPLORER_NAME, explorer_page
from alphabet_lstm.report.render import MISSING, Block, Figure, markdown_table, percent
from alphabet_lstm.report.state_section import STATE_NUMBERS_NAME, lstm_state, state_numbers
from alphabet_lstm.report.study import Study, Summary, compare_paired, summarize

# The tutorial's own question about framing 2: is a 3-letter window, given as features,
# better than one letter? Compared seed by seed, first minus second.
PAIRED_FRAMINGS = ("window_features", "one_char")

TITLE = "Learning the alphabet with an LSTM: the tutorial's framings, reproduced"
EXPLORER_TITLE = "The state explorer: what each LSTM carries, step by step"


def points(value: float) -> str:
    """A difference of accuracies in percentage points, signed: '+2.96 pp'."""
    return f"{100.0 * value:+.2f} pp"


def spaced(letters: str) -> str:
    return " ".join(letters)


def mean_and_half_width(statistics: Summary) -> str:
    """'93.33% ± 14.34': the mean and the half width of its 95% interval, in points."""
    assert statistics.ci_high is not None  # the callers ask only with several seeds
    return f"{percent(statistics.mean)} ± {100 * (statistics.ci_high - statistics.mean):.2f}"


def introduction(study: Study) -> list[Block]:
    return [
        'Each framing of the Machine Learning Mastery tutorial "Understanding Stateful '
        'LSTM Recurrent Neural Networks in Python with Keras" trained with its '
        "hyperparameters, evaluated as the tutorial evaluates it, and compared with the "
        "accuracy it reports. Built by the `report` stage of `dvc.yaml`."
    ]


def comparison(study: Study) -> list[Block]:
    """The main table: tutorial vs ours at the first seed, and over seeds when there are several."""
    seed = study.first_seed
    summaries = {framing: summarize(study.accuracies(framing)) for framing in study.framings}
    columns = ["Framing", "Tutorial", f"Ours (seed {seed})", f"Correct (seed {seed})"]
    if study.several_seeds:
        columns += [f"Mean ± 95% CI ({len(study.seeds)} seeds)", "Std", "Min–max"]
    rows = []
    for framing in study.framings:
        metrics = study.run(framing).metrics
        statistics = summaries[framing]
        correct = f"{metrics['correct']}/{metrics['patterns']}"
        row = [framing, percent(study.tutorial_accuracy.get(framing)), percent(metrics["accuracy"]), correct]
        if study.several_seeds:
            spread = f"{percent(statistics.minimum)}–{percent(statistics.maximum)}"
            row += [mean_and_half_width(statistics), f"{100 * statistics.std:.2f}", spread]
        rows.append(row)
    blocks: list[Block] = [
        "## Accuracy of every framing",
        "Accuracy is measured on the training patterns themselves, as the tutorial does. "
        f"Seeds: {', '.join(map(str, study.seeds))}; the tutorial seeds with 7. A dash means the tutorial "
        "reports no accuracy for that framing.",
        markdown_table(columns, rows),
    ]
    if study.several_seeds:
        blocks.append(
            "The 95% interval is a Student t interval over seeds; it can reach past 100% "
            "when accuracies cluster near the top."
        )
    blocks.append(
        Figure(
            "accuracy-by-seed.png",
            alt="Training accuracy per framing: one point per seed, mean with 95% CI, "
            "the tutorial's value as a red cross",
            caption="Accuracy per framing and seed, with the tutorial's reported accuracy.",
            png=figures.accuracy_by_seed_png(
                {framing: study.accuracies(framing) for framing in study.framings},
                summaries,
                dict(study.tutorial_accuracy),
            ),
        )
    )
    return blocks


def paired(study: Study) -> list[Block]:
    """window_features vs one_char, seed by seed: the tutorial's 'may or may not be real'."""
    first, second = PAIRED_FRAMINGS
    title = f"## Does a 3-letter window help? {first} vs {second}"
    if not set(PAIRED_FRAMINGS) <= set(study.framings):
        return [title, f"Not compared: the study does not include both `{first}` and `{second}`."]
    first_patterns, second_patterns = (study.run(framing).metrics["patterns"] for framing in PAIRED_FRAMINGS)
    blocks: list[Block] = [
        title,
        f"The tutorial reports {percent(study.tutorial_accuracy.get(first))} for `{first}` "
        f"against {percent(study.tutorial_accuracy.get(second))} for `{second}` and says the "
        f"gain may or may not be real. The two are scored on their own training patterns "
        f"({first_patterns} and {second_patterns}), so one pattern is worth "
        f"{100 / first_patterns:.2f} and {100 / second_patterns:.2f} points respectively.",
    ]
    first_accuracies, second_accuracies = study.accuracies(first), study.accuracies(second)
    rows = [
        [str(seed), percent(first_accuracy), percent(second_accuracy), points(first_accuracy - second_accuracy)]
        for seed, first_accuracy, second_accuracy in zip(study.seeds, first_accuracies, second_accuracies)
    ]
    result = compare_paired(first_accuracies, second_accuracies)
    if result is None:
        blocks.append(
            f"Only one seed ({study.first_seed}) was run, so no paired test is possible: "
            "one difference says nothing about its spread. Run several seeds "
            "(`make study`) to test it."
        )
    else:
        if result.p_value is None:
            test_text = "every seed gives the same difference, so the t-test is undefined"
        else:
            test_text = f"paired t-test p = {result.p_value:.4f} (t = {result.t_statistic:.3f})"
        blocks.append(
            f"Over {result.n} seeds, `{first}` minus `{second}` is "
            f"{points(result.mean_difference)} on average, 95% CI "
            f"[{points(result.ci_low)}, {points(result.ci_high)}]; {test_text}."
        )
    return [*blocks, markdown_table(["Seed", first, second, "Difference"], rows)]


def stateful(study: Study) -> list[Block]:
    """For each stateful framing: the chain from A, the cold start from K, start tables."""
    blocks: list[Block] = []
    for framing in study.framings:
        if "chain_from_A" not in study.run(framing).details:
            continue
        columns = ["Seed", "Chain from A", "Intact", "Cold start from K", "Cold-start accuracy", "Warm-start accuracy"]
        rows = []
        for seed in study.seeds:
            record = study.run(framing, seed)
            details, metrics = record.details, record.metrics
            rows.append(
                [
                    str(seed),
                    spaced(details["chain_from_A"]),
                    "yes" if details.get("chain_intact") else "no",
                    f"K -> {spaced(details['cold_start_from_K'])}",
                    percent(metrics.get("cold_start_accuracy")),
                    percent(metrics.get("warm_start_accuracy")),
                ]
            )
        blocks += [
            f"## Stateful LSTM ({framing}): reciting the alphabet",
            "Seeded with A and fed its own predictions with the state carried, the "
            "tutorial's model recites A -> B ... Y -> Z; from a cold (reset) start at K it "
            "answers B C D E: it replays the sequence from the start. Cold starts begin "
            "from a reset state; warm starts first feed A up to the letter before.",
            markdown_table(columns, rows),
            *start_tables(study, framing),
        ]
    return blocks


def start_tables(study: Study, framing: str) -> list[Block]:
    """Per start letter at the first seed: five predictions fed back, cold and warm."""
    details = study.run(framing).details
    cold = {row["start"]: row for row in details.get("cold_starts", [])}
    warm = {row["start"]: row for row in details.get("warm_starts", [])}
    if not cold and not warm:
        return []
    rows = []
    for letter in ALPHABET:
        cold_row, warm_row = cold.get(letter, {}), warm.get(letter, {})
        expected = cold_row.get("expected", warm_row.get("expected", ""))
        rows.append(
            [
                letter,
                spaced(expected) or MISSING,
                spaced(cold_row.get("predicted", "")) or MISSING,
                percent(cold_row.get("accuracy")),
                spaced(warm_row.get("predicted", "")) or MISSING,
                percent(warm_row.get("accuracy")),
            ]
        )
    return [
        f"### Cold and warm starts from every letter (seed {study.first_seed})",
        markdown_table(
            ["Start", "Expected", "Cold: predicted", "Cold accuracy", "Warm: predicted", "Warm accuracy"], rows
        ),
    ]


def all_queries(study: Study) -> list[Block]:
    """Accuracy on every run of 1..L letters, for the framings that take variable lengths."""
    framings = [framing for framing in study.framings if "all_queries" in study.run(framing).details]
    if not framings:
        return []
    columns = ["Framing", "Queries", f"Accuracy (seed {study.first_seed})"]
    if study.several_seeds:
        columns.append(f"Mean ± 95% CI ({len(study.seeds)} seeds)")
    rows = []
    for framing in framings:
        queries = study.run(framing).details["all_queries"]
        row = [framing, str(queries["queries"]), percent(queries["accuracy"])]
        if study.several_seeds:
            values = study.metric(framing, "all_queries_accuracy")
            row.append(MISSING if None in values else mean_and_half_width(summarize(values)))
        rows.append(row)
    by_length = {framing: study.run(framing).details["all_queries"]["accuracy_by_length"] for framing in framings}
    longest = max(len(accuracies) for accuracies in by_length.values())
    length_rows = [
        [str(length), *(percent(by_length[framing].get(str(length))) for framing in framings)]
        for length in range(1, longest + 1)
    ]
    return [
        "## Any query, not only the training patterns",
        "Every contiguous run of letters the model accepts (1 up to its padded length) "
        "that has a next letter, each asked alone.",
        markdown_table(columns, rows),
        f"### By query length (seed {study.first_seed})",
        markdown_table(["Letters", *framings], length_rows),
    ]


def training(study: Study) -> list[Block]:
    """One figure per framing, every seed's loss and accuracy curves overlaid."""
    return [
        "## Training curves",
        *(
            Figure(
                f"training-{framing}.png",
                alt=f"Loss and accuracy per epoch for {framing}, one line per seed",
                caption=f"{framing}: loss and accuracy per epoch.",
                png=figures.training_curves_png(
                    framing, {seed: study.run(framing, seed).history for seed in study.seeds}
                ),
            )
            for framing in study.framings
        ),
    ]


def probabilities(study: Study) -> list[Block]:
    """Heatmaps at the first seed for the framings that take a single letter; a note naming the others."""
    seed = study.first_seed
    blocks: list[Block] = [
        "## Next-letter probabilities for each single letter",
        f"Seed {seed}. Row: the input letter given alone (stateful models from "
        "a reset state); column: the next letter. Hollow squares mark the true next letter, "
        "red dots the predicted one. Each colour scale runs from 0 to that table's largest "
        "probability.",
    ]
    without = []
    for framing in study.framings:
        table_26 = study.run(framing).probabilities
        if table_26 is None:
            without.append(framing)
            continue
        blocks.append(
            Figure(
                f"probabilities-{framing}.png",
                alt=f"Heatmap of next-letter probabilities for each single input letter, {framing}, seed {seed}",
                caption=f"{framing}: next-letter probabilities for each single letter.",
                png=figures.probability_heatmap_png(framing, seed, table_26),
            )
        )
    if without:
        names = ", ".join(f"`{framing}`" for framing in without)
        blocks.append(f"No table for {names}: a fixed window takes no single letter.")
    return blocks


# The report, top to bottom. A new section goes here.
SECTIONS: tuple[Callable[[Study], list[Block]], ...] = (
    introduction,
    comparison,
    paired,
    stateful,
    all_queries,
    training,
    probabilities,
    lstm_state,
)


def report_blocks(study: Study, builders: Sequence[Callable[[Study], list[Block]]] = SECTIONS) -> list[Block]:
    """Every block of the report, figures drawn; the same for the same study."""
    return [block for build in builders for block in build(study)]


def report_files(study: Study) -> dict[str, bytes]:
    """Every file of the reports directory by relative path: the documents, their figures,
    ``state.json`` and ``explorer.html``."""
    files = render.document_files(TITLE, report_blocks(study))
    files[STATE_NUMBERS_NAME] = to_json(state_numbers(study)).encode("utf-8")
    page = explorer_page(study.first_seed_models, title=EXPLORER_TITLE, stateful_views=study.state_views[0])
    files[EXPLORER_NAME] = page.encode("utf-8")
    return files
