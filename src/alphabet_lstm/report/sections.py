"""What the report says: one function per section, in the order of :data:`SECTIONS`.

Each section function takes the :class:`Study` and returns zero or more sections (none when
the study has nothing for it, several when it covers each stateful framing). To add a
section (a figure of the LSTM state, say), write a function here and put it in
:data:`SECTIONS`; the templates render any section without change.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from alphabet_lstm.alphabet import ALPHABET
from alphabet_lstm.artifacts import to_json
from alphabet_lstm.model.lstm import LSTMWeights, ModelSpec
from alphabet_lstm.report import figures
from alphabet_lstm.report.explorer import EXPLORER_NAME, explorer_page
from alphabet_lstm.report.render import Block, Heading, Image, Paragraph, Section, document_files, section, table
from alphabet_lstm.report.state_views import (
    COLD_LETTER,
    PADDED_QUERY,
    PaddingView,
    StatefulView,
    WindowView,
    is_window,
    padding_view,
    stateful_view,
    takes_padding,
    window_view,
)
from alphabet_lstm.report.statistics import Summary
from alphabet_lstm.report.study import (
    PAIRED_FRAMINGS,
    Study,
    all_queries_summaries,
    framing_summaries,
    has_paired_framings,
    paired_comparison,
)

TITLE = "Learning the alphabet with an LSTM: the tutorial's framings, reproduced"
EXPLORER_TITLE = "The state explorer: what each LSTM carries, step by step"
MISSING = "—"


def percent(value: float | None) -> str:
    """0.8696 -> '86.96%', as the tutorial prints accuracies; None -> a dash."""
    return MISSING if value is None else f"{100.0 * value:.2f}%"


def points(value: float) -> str:
    """A difference of accuracies in percentage points, signed: '+2.96 pp'."""
    return f"{100.0 * value:+.2f} pp"


def spaced(letters: str) -> str:
    return " ".join(letters)


def mean_and_half_width(statistics: Summary) -> str:
    """'93.33% ± 14.34': the mean and the half width of its 95% interval, in points."""
    assert statistics.ci_high is not None, "an interval needs two or more seeds"
    return f"{percent(statistics.mean)} ± {100 * (statistics.ci_high - statistics.mean):.2f}"


# --------------------------------------------------------------------------- sections


def introduction(study: Study) -> list[Section]:
    return [
        section(
            None,
            Paragraph(
                'Each framing of the Machine Learning Mastery tutorial "Understanding Stateful '
                'LSTM Recurrent Neural Networks in Python with Keras" trained with its '
                "hyperparameters, evaluated as the tutorial evaluates it, and compared with the "
                "accuracy it reports. Built by the `report` stage of `dvc.yaml`."
            ),
        )
    ]


def comparison(study: Study) -> list[Section]:
    """The main table: tutorial vs ours at the first seed, and over seeds when there are several."""
    seed = study.first_seed
    summaries = framing_summaries(study)
    columns = ["Framing", "Tutorial", f"Ours (seed {seed})", f"Correct (seed {seed})"]
    if study.several_seeds:
        columns += [f"Mean ± 95% CI ({len(study.seeds)} seeds)", "Std", "Min–max"]
    rows = []
    for framing in study.framings:
        metrics = study.run(framing).metrics
        row = [
            framing,
            percent(study.tutorial_accuracy.get(framing)),
            percent(metrics["accuracy"]),
            f"{metrics['correct']}/{metrics['patterns']}",
        ]
        if study.several_seeds:
            statistics = summaries[framing]
            row += [
                mean_and_half_width(statistics),
                f"{100 * statistics.std:.2f}",
                f"{percent(statistics.minimum)}–{percent(statistics.maximum)}",
            ]
        rows.append(row)
    seeds_text = ", ".join(str(value) for value in study.seeds)
    blocks: list[Block] = [
        Paragraph(
            "Accuracy is measured on the training patterns themselves, as the tutorial does. "
            f"Seeds: {seeds_text}; the tutorial seeds with 7. A dash means the tutorial "
            "reports no accuracy for that framing."
        ),
        table(columns, rows, "comparison", "comparison"),
    ]
    if study.several_seeds:
        blocks.append(
            Paragraph(
                "The 95% interval is a Student t interval over seeds; it can reach past 100% "
                "when accuracies cluster near the top."
            )
        )
    blocks.append(
        Image(
            "accuracy-by-seed.png",
            alt="Training accuracy per framing: one point per seed, mean with 95% CI, "
            "the tutorial's value as a red cross",
            caption="Accuracy per framing and seed, with the tutorial's reported accuracy.",
            png=figures.accuracy_by_seed_png(study, summaries),
        )
    )
    return [section("Accuracy of every framing", *blocks)]


def paired(study: Study) -> list[Section]:
    """window_features vs one_char, seed by seed: the tutorial's 'may or may not be real'."""
    first, second = PAIRED_FRAMINGS
    title = f"Does a 3-letter window help? {first} vs {second}"
    if not has_paired_framings(study):
        return [section(title, Paragraph(f"Not compared: the study does not include both `{first}` and `{second}`."))]
    first_patterns = study.run(first).metrics["patterns"]
    second_patterns = study.run(second).metrics["patterns"]
    blocks: list[Block] = [
        Paragraph(
            f"The tutorial reports {percent(study.tutorial_accuracy.get(first))} for `{first}` "
            f"against {percent(study.tutorial_accuracy.get(second))} for `{second}` and says the "
            f"gain may or may not be real. The two are scored on their own training patterns "
            f"({first_patterns} and {second_patterns}), so one pattern is worth "
            f"{100 / first_patterns:.2f} and {100 / second_patterns:.2f} points respectively."
        )
    ]
    rows = []
    for seed in study.seeds:
        first_accuracy = study.run(first, seed).metrics["accuracy"]
        second_accuracy = study.run(second, seed).metrics["accuracy"]
        rows.append(
            [str(seed), percent(first_accuracy), percent(second_accuracy), points(first_accuracy - second_accuracy)]
        )
    differences = table(["Seed", first, second, "Difference"], rows, "paired")
    result = paired_comparison(study)
    if result is None:
        blocks.append(
            Paragraph(
                f"Only one seed ({study.first_seed}) was run, so no paired test is possible: "
                "one difference says nothing about its spread. Run several seeds "
                "(`make study`) to test it."
            )
        )
    else:
        if result.p_value is None:
            test_text = "every seed gives the same difference, so the t-test is undefined"
        else:
            test_text = f"paired t-test p = {result.p_value:.4f} (t = {result.t_statistic:.3f})"
        blocks.append(
            Paragraph(
                f"Over {result.n} seeds, `{first}` minus `{second}` is "
                f"{points(result.mean_difference)} on average, 95% CI "
                f"[{points(result.ci_low)}, {points(result.ci_high)}]; {test_text}."
            )
        )
    return [section(title, *blocks, differences)]


def stateful(study: Study) -> list[Section]:
    """For each stateful framing: the chain from A, the cold start from K, start tables."""
    sections = []
    for framing in study.framings:
        if "chain_from_A" not in study.run(framing).details:
            continue
        rows = []
        for seed in study.seeds:
            details = study.run(framing, seed).details
            metrics = study.run(framing, seed).metrics
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
        sections.append(
            section(
                f"Stateful LSTM ({framing}): reciting the alphabet",
                Paragraph(
                    "Seeded with A and fed its own predictions with the state carried, the "
                    "tutorial's model recites A -> B ... Y -> Z; from a cold (reset) start at K it "
                    "answers B C D E: it replays the sequence from the start. Cold starts begin "
                    "from a reset state; warm starts first feed A up to the letter before."
                ),
                table(
                    [
                        "Seed",
                        "Chain from A",
                        "Intact",
                        "Cold start from K",
                        "Cold-start accuracy",
                        "Warm-start accuracy",
                    ],
                    rows,
                    "stateful",
                ),
                *start_tables(study, framing),
            )
        )
    return sections


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
        Heading(3, f"Cold and warm starts from every letter (seed {study.first_seed})"),
        table(
            ["Start", "Expected", "Cold: predicted", "Cold accuracy", "Warm: predicted", "Warm accuracy"],
            rows,
            "starts",
        ),
    ]


def all_queries(study: Study) -> list[Section]:
    """Accuracy on every run of 1..L letters, for the framings that take variable lengths."""
    framings = [framing for framing in study.framings if "all_queries" in study.run(framing).details]
    if not framings:
        return []
    summaries: Mapping[str, Summary | None] = all_queries_summaries(study)
    columns = ["Framing", "Queries", f"Accuracy (seed {study.first_seed})"]
    if study.several_seeds:
        columns.append(f"Mean ± 95% CI ({len(study.seeds)} seeds)")
    rows = []
    for framing in framings:
        queries = study.run(framing).details["all_queries"]
        row = [framing, str(queries["queries"]), percent(queries["accuracy"])]
        if study.several_seeds:
            statistics = summaries.get(framing)
            row.append(MISSING if statistics is None else mean_and_half_width(statistics))
        rows.append(row)
    by_length = {framing: study.run(framing).details["all_queries"]["accuracy_by_length"] for framing in framings}
    longest = max(len(accuracies) for accuracies in by_length.values())
    length_rows = [
        [str(length), *(percent(by_length[framing].get(str(length))) for framing in framings)]
        for length in range(1, longest + 1)
    ]
    return [
        section(
            "Any query, not only the training patterns",
            Paragraph(
                "Every contiguous run of letters the model accepts (1 up to its padded length) "
                "that has a next letter, each asked alone."
            ),
            table(columns, rows, "all-queries"),
            Heading(3, f"By query length (seed {study.first_seed})"),
            table(["Letters", *framings], length_rows, "by-length"),
        )
    ]


def training(study: Study) -> list[Section]:
    """One figure per framing, every seed's loss and accuracy curves overlaid."""
    images = [
        Image(
            f"training-{framing}.png",
            alt=f"Loss and accuracy per epoch for {framing}, one line per seed",
            caption=f"{framing}: loss and accuracy per epoch.",
            png=figures.training_curves_png(framing, {seed: study.run(framing, seed).history for seed in study.seeds}),
        )
        for framing in study.framings
    ]
    return [section("Training curves", *images)]


def probabilities(study: Study) -> list[Section]:
    """Heatmaps at the first seed for the framings that take a single letter; a note naming the others."""
    seed = study.first_seed
    blocks: list[Block] = [
        Paragraph(
            f"Seed {seed}. Row: the input letter given alone (stateful models from "
            "a reset state); column: the next letter. Hollow squares mark the true next letter, "
            "red dots the predicted one. Each colour scale runs from 0 to that table's largest "
            "probability."
        )
    ]
    without = []
    for framing in study.framings:
        table_26 = study.run(framing).probabilities
        if table_26 is None:
            without.append(framing)
            continue
        blocks.append(
            Image(
                f"probabilities-{framing}.png",
                alt=f"Heatmap of next-letter probabilities for each single input letter, {framing}, seed {seed}",
                caption=f"{framing}: next-letter probabilities for each single letter.",
                png=figures.probability_heatmap_png(framing, seed, table_26),
            )
        )
    if without:
        names = ", ".join(f"`{framing}`" for framing in without)
        blocks.append(Paragraph(f"No table for {names}: a fixed window takes no single letter."))
    return [section("Next-letter probabilities for each single letter", *blocks)]


# --------------------------------------------------------------------------- the LSTM state

STATE_NUMBERS_NAME = "state.json"


@dataclass(frozen=True)
class StateViews:
    """The state views of a study at its first seed (empty where no model was read)."""

    stateful: tuple[StatefulView, ...]
    windows: tuple[WindowView, ...]
    padding: tuple[PaddingView, ...]

    def numbers(self) -> dict:
        """Per framing, the numbers its figure's sentence quotes (``state.json``)."""
        views: tuple[StatefulView | WindowView | PaddingView, ...] = (*self.stateful, *self.windows, *self.padding)
        return {view.framing: view.numbers() for view in views}


def first_seed_models(study: Study) -> list[tuple[LSTMWeights, ModelSpec]]:
    """Each framing's model at the first seed, in params order (none where no model was read)."""
    runs = [study.run(framing) for framing in study.framings]
    return [(run.weights, run.spec) for run in runs if run.weights is not None and run.spec is not None]


def state_views(study: Study) -> StateViews:
    """Every state view the study's models allow, in params order, at the first seed."""
    models = first_seed_models(study)
    return StateViews(
        stateful=tuple(stateful_view(weights, spec) for weights, spec in models if spec.stateful),
        windows=tuple(window_view(weights, spec) for weights, spec in models if is_window(spec)),
        padding=tuple(padding_view(weights, spec) for weights, spec in models if takes_padding(spec)),
    )


def stateful_sentence(numbers: Mapping) -> str:
    """Where the cold K lands, from the distances in full h (not in the projection)."""
    nearest = numbers["nearest_to_cold_K"]
    if nearest == "A" and numbers["cold_K_answer"] == numbers["after_A_answer"]:
        verdict = (
            "so the cold K sits next to the after-A state and answers as A does: the state, "
            "not the letter, decides the answer"
        )
    elif numbers["cold_K_to_after_A"] < numbers["cold_K_to_warm_K"]:
        verdict = "so the cold K is nearer the after-A state than the warm K, though not next to it"
    else:
        verdict = "so the cold K is not next to the after-A state: that does not explain its answer"
    return (
        f"Right after a reset, {COLD_LETTER} leaves h at a distance of {numbers['cold_K_to_after_A']:.3f} "
        f"from the state after A and {numbers['cold_K_to_warm_K']:.3f} from the warm {COLD_LETTER} "
        f"(after A..{COLD_LETTER}); the nearest state on the A..Z path is the one after {nearest} "
        f"({numbers['nearest_distance']:.3f}, where consecutive letters are {numbers['mean_step']:.3f} "
        f"apart on average), and the cold {COLD_LETTER} answers {numbers['cold_K_answer']} where the "
        f"warm {COLD_LETTER} answers {numbers['warm_K_answer']}, {verdict}."
    )


def _counted(values: Sequence[int]) -> str:
    texts = [str(value) for value in values]
    return texts[0] if len(texts) == 1 else ", ".join(texts[:-1]) + " and " + texts[-1]


def window_sentence(views: Sequence[WindowView]) -> str:
    """How many windows h names right after each step, per window framing (steps first)."""
    parts: list[str] = []
    for view in sorted(views, key=lambda item: -item.steps):
        right = view.correct_after_step()
        names = "names the right next letter" if not parts else "names it"
        if view.steps > 1:
            steps = _counted(list(range(1, view.steps + 1)))
            parts.append(
                f"read from h after step {steps}, `{view.framing}` {names} for "
                f"{_counted(right)} of the {len(view.windows)} windows"
            )
        else:
            parts.append(
                f"`{view.framing}`, which takes the {len(view.windows[0])} letters in one step, "
                f"{names} for {right[0]} of the {len(view.windows)} windows"
            )
    text = "; ".join(parts)
    return text[0].upper() + text[1:] + "."


def padding_sentence(view: PaddingView) -> str:
    numbers = view.numbers()
    gap = numbers["pad_vs_A_distance"]
    sees = "the same state" if gap == 0.0 else "a different state"
    if numbers["ambiguous_queries"]:
        verdict = f"so {numbers['ambiguous_queries']} queries cannot all be answered right whatever the training"
    elif gap == 0.0:
        verdict = "so the model cannot see an A, yet no query needs it to: the shared 0 alone explains no failure"
    else:
        verdict = "so the model can tell an A from padding"
    pad_move = "" if numbers["pad_step_move"] is None else f", the pad before it by {numbers['pad_step_move']:.3f}"
    answers = (
        f"the model answers {numbers['answer_ABC']} to both"
        if numbers["answer_ABC"] == numbers["answer_BC"]
        else f"the model answers {numbers['answer_ABC']} and {numbers['answer_BC']}"
    )
    return (
        f"`{view.framing}`: after the A of `{PADDED_QUERY}`, h is {gap:.4f} from h after the same step "
        f"of `{PADDED_QUERY[1:]}`, which is a pad there ({sees}; the A moves h by "
        f"{numbers['A_step_move']:.3f}{pad_move}; {answers}, where {ALPHABET[view.query.letters[-1] + 1]} "
        f"is next); {numbers['aliased_queries']} of the {numbers['queries']} queries of "
        f"1-{view.query.spec.input_length} letters share their input with a shorter query and "
        f"{numbers['ambiguous_queries']} of these want another next letter, {verdict}."
    )


def lstm_state(study: Study) -> list[Section]:
    """The state itself (issue 14): each figure with one sentence read from its numbers."""
    views = state_views(study)
    blocks: list[Block] = []
    for view in views.stateful:
        blocks += [
            Heading(3, f"Stateful model `{view.framing}`: A..Z from a reset, and a cold {COLD_LETTER}"),
            Paragraph(stateful_sentence(view.numbers())),
            Image(
                f"state-{view.framing}.png",
                alt=f"Heatmap of the hidden state over A..Z from a reset and its 2-D PCA projection, "
                f"{view.framing}, seed {view.seed}, with the cold and warm {COLD_LETTER} marked",
                caption=f"{view.framing}: h after each letter from a reset (left) and in the plane of "
                f"its first two principal components (right); the dashed lines' numbers are distances in full h.",
                png=figures.stateful_state_png(view),
            ),
        ]
    if views.windows:
        blocks += [
            Heading(3, "A window as time steps or as features"),
            Paragraph(window_sentence(views.windows)),
            Image(
                "state-windows.png",
                alt="Heatmaps of the hidden state after each time step for every 3-letter window",
                caption="h after each step for every training window; the title counts the windows "
                "whose next letter h names at that step.",
                png=figures.window_state_png(list(views.windows)),
            ),
        ]
    if views.padding:
        blocks += [Heading(3, "Zero-padding and the letter A")]
        blocks += [Paragraph(padding_sentence(view)) for view in views.padding]
        blocks.append(
            Image(
                "state-padding.png",
                alt=f"Heatmaps of the hidden state over the padded steps of {PADDED_QUERY}, with the A step boxed",
                caption=f"h over the steps of `{PADDED_QUERY}` left-padded with zeros (the A boxed), and how "
                "far each step moves h.",
                png=figures.padding_state_png(list(views.padding)),
            )
        )
    if not blocks:
        return []
    intro = Paragraph(
        f"Seed {study.first_seed}. The hidden state h that each model carries from step to step, "
        "computed by the numpy forward pass from the saved weights (`alphabet-lstm predict "
        "--show-state` prints it for any query; docs/understanding-state.md). The numbers are "
        f"in `{STATE_NUMBERS_NAME}`."
    )
    explore = Paragraph(
        f"To type your own letters into any framing and watch h, c and the gates step by step, open "
        f"[the state explorer]({EXPLORER_NAME}): one self-contained page beside this report that "
        "runs the same forward pass in the browser."
    )
    return [section("What the LSTM carries: the state", intro, explore, *blocks)]


# The report, top to bottom. A new section goes here.
SECTIONS: tuple[Callable[[Study], list[Section]], ...] = (
    introduction,
    comparison,
    paired,
    stateful,
    all_queries,
    training,
    probabilities,
    lstm_state,
)


def report_sections(study: Study, builders: Sequence[Callable[[Study], list[Section]]] = SECTIONS) -> list[Section]:
    """Every section of the report, figures drawn; the same for the same study."""
    return [item for build in builders for item in build(study)]


def report_files(study: Study) -> dict[str, bytes]:
    """Every file of the reports directory, by path relative to it: the documents, their
    figures, ``state.json`` (the numbers the state figures' sentences quote) and, when the
    study has models, ``explorer.html`` (the state explorer)."""
    files = document_files(TITLE, report_sections(study))
    files[STATE_NUMBERS_NAME] = to_json(state_views(study).numbers()).encode("utf-8")
    models = first_seed_models(study)
    if models:
        files[EXPLORER_NAME] = explorer_page(models, title=EXPLORER_TITLE).encode("utf-8")
    return files
