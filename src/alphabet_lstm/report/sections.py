"""What the report shows, computed from the :class:`Study` for ``templates/report.md.j2``
(which holds its text): table rows, the figures drawn, the state's sentences; and every file
of the reports directory.
"""

from __future__ import annotations

from alphabet_lstm.alphabet import ALPHABET
from alphabet_lstm.artifacts import to_json
from alphabet_lstm.report import figures, state_section
from alphabet_lstm.report.explorer import EXPLORER_NAME, explorer_page
from alphabet_lstm.report.render import MISSING, document_files, percent, points, render_markdown
from alphabet_lstm.report.state_section import STATE_NUMBERS_NAME, state_numbers
from alphabet_lstm.report.state_views import COLD_LETTER, PADDED_QUERY
from alphabet_lstm.report.study import Study, Summary, compare_paired, summarize

# The tutorial's own question about framing 2: is a 3-letter window, given as features,
# better than one letter? Compared seed by seed, first minus second.
PAIRED_FRAMINGS = ("window_features", "one_char")

EXPLORER_TITLE = "The state explorer: what each LSTM carries, step by step"


def spaced(letters: str) -> str:
    return " ".join(letters)


def mean_and_half_width(statistics: Summary) -> str:
    """'93.33% ± 14.34': the mean and the half width of its 95% interval, in points."""
    assert statistics.ci_high is not None  # the callers ask only with several seeds
    return f"{percent(statistics.mean)} ± {100 * (statistics.ci_high - statistics.mean):.2f}"


def comparison_rows(study: Study, summaries: dict[str, Summary]) -> list[list[str]]:
    """Tutorial vs ours at the first seed, and the spread over seeds when there are several."""
    rows = []
    for framing in study.framings:
        metrics, statistics = study.run(framing).metrics, summaries[framing]
        correct = f"{metrics['correct']}/{metrics['patterns']}"
        row = [framing, percent(study.tutorial_accuracy.get(framing)), percent(metrics["accuracy"]), correct]
        if study.several_seeds:
            spread = f"{percent(statistics.minimum)}–{percent(statistics.maximum)}"
            row += [mean_and_half_width(statistics), f"{100 * statistics.std:.2f}", spread]
        rows.append(row)
    return rows


def paired(study: Study) -> dict | None:
    """window_features vs one_char seed by seed (the tutorial's 'may or may not be real'):
    their pattern counts, the rows and the paired test (None with one seed)."""
    if not set(PAIRED_FRAMINGS) <= set(study.framings):
        return None
    first, second = (study.accuracies(framing) for framing in PAIRED_FRAMINGS)
    rows = [
        [str(seed), percent(one), percent(other), points(one - other)]
        for seed, one, other in zip(study.seeds, first, second)
    ]
    patterns = [study.run(framing).metrics["patterns"] for framing in PAIRED_FRAMINGS]
    return {"patterns": patterns, "rows": rows, "test": compare_paired(first, second)}


def stateful_rows(study: Study, framing: str) -> list[list[str]]:
    """Per seed: the chain from A, the cold start from K, cold and warm accuracy."""
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
    return rows


def start_rows(study: Study, framing: str) -> list[list[str]]:
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
    return rows


def all_queries(study: Study) -> dict | None:
    """Accuracy on every run of 1..L letters, overall and by length, for the framings that
    take variable lengths."""
    framings = [framing for framing in study.framings if "all_queries" in study.run(framing).details]
    if not framings:
        return None
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
    return {"framings": framings, "rows": rows, "length_rows": length_rows}


def figure_files(study: Study, summaries: dict[str, Summary]) -> dict[str, bytes]:
    """Every figure the template links, by file name, drawn in the document's order."""
    accuracies = {framing: study.accuracies(framing) for framing in study.framings}
    pngs = {"accuracy-by-seed.png": figures.accuracy_by_seed_png(accuracies, summaries, dict(study.tutorial_accuracy))}
    for framing in study.framings:
        histories = {seed: study.run(framing, seed).history for seed in study.seeds}
        pngs[f"training-{framing}.png"] = figures.training_curves_png(framing, histories)
    for framing in study.framings:
        table_26 = study.run(framing).probabilities
        if table_26 is not None:
            pngs[f"probabilities-{framing}.png"] = figures.probability_heatmap_png(framing, study.first_seed, table_26)
    stateful, windows, padding = study.state_views
    for view in stateful:
        pngs[f"state-{view.framing}.png"] = figures.stateful_state_png(view)
    if windows:
        pngs["state-windows.png"] = figures.window_state_png(windows)
    if padding:
        pngs["state-padding.png"] = figures.padding_state_png(padding)
    return pngs


def report_files(study: Study) -> dict[str, bytes]:
    """Every file of the reports directory by relative path: the documents, their figures,
    ``state.json`` and ``explorer.html``."""
    summaries = {framing: summarize(study.accuracies(framing)) for framing in study.framings}
    stateful = [framing for framing in study.framings if "chain_from_A" in study.run(framing).details]
    markdown = render_markdown(
        "report.md.j2",
        study=study,
        comparison=comparison_rows(study, summaries),
        paired_framings=PAIRED_FRAMINGS,
        paired=paired(study),
        stateful=[(framing, stateful_rows(study, framing), start_rows(study, framing)) for framing in stateful],
        queries=all_queries(study),
        without_probabilities=[framing for framing in study.framings if study.run(framing).probabilities is None],
        stateful_sentence=state_section.stateful_sentence,
        window_sentence=state_section.window_sentence,
        padding_sentence=state_section.padding_sentence,
        cold_letter=COLD_LETTER,
        padded_query=PADDED_QUERY,
        state_numbers_name=STATE_NUMBERS_NAME,
        explorer_name=EXPLORER_NAME,
    )
    files = document_files(markdown, figure_files(study, summaries))
    files[STATE_NUMBERS_NAME] = to_json(state_numbers(study)).encode("utf-8")
    page = explorer_page(study.first_seed_models, title=EXPLORER_TITLE, stateful_views=study.state_views[0])
    files[EXPLORER_NAME] = page.encode("utf-8")
    return files
