"""The report's section on the LSTM state at the first seed: each view's figure with one
sentence read from its numbers, which ``state.json`` records.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from alphabet_lstm.alphabet import ALPHABET
from alphabet_lstm.report import figures
from alphabet_lstm.report.explorer import EXPLORER_NAME
from alphabet_lstm.report.render import Block, Figure
from alphabet_lstm.report.state_views import COLD_LETTER, PADDED_QUERY, PaddingView, WindowView
from alphabet_lstm.report.study import Study

STATE_NUMBERS_NAME = "state.json"


def state_numbers(study: Study) -> dict:
    """Per framing, the numbers its figure's sentence quotes (``state.json``)."""
    return {view.framing: view.numbers() for views in study.state_views for view in views}


def stateful_sentence(numbers: Mapping) -> str:
    """Where the cold K lands, from the distances in full h (not in the projection)."""
    nearest = numbers["nearest_to_cold_K"]
    if nearest == "A" and numbers["cold_K_answer"] == numbers["after_A_answer"]:
        verdict = "sits next to the after-A state and answers as A does: the state, not the letter, decides the answer"
    elif numbers["cold_K_to_after_A"] < numbers["cold_K_to_warm_K"]:
        verdict = "is nearer the after-A state than the warm K, though not next to it"
    else:
        verdict = "is not next to the after-A state: that does not explain its answer"
    return (
        f"Right after a reset, {COLD_LETTER} leaves h at a distance of {numbers['cold_K_to_after_A']:.3f} "
        f"from the state after A and {numbers['cold_K_to_warm_K']:.3f} from the warm {COLD_LETTER} "
        f"(after A..{COLD_LETTER}); the nearest state on the A..Z path is the one after {nearest} "
        f"({numbers['nearest_distance']:.3f}, where consecutive letters are {numbers['mean_step']:.3f} "
        f"apart on average), and the cold {COLD_LETTER} answers {numbers['cold_K_answer']} where the "
        f"warm {COLD_LETTER} answers {numbers['warm_K_answer']}, so the cold {COLD_LETTER} {verdict}."
    )


def _counted(values: Sequence[int]) -> str:
    texts = [str(value) for value in values]
    return texts[0] if len(texts) == 1 else ", ".join(texts[:-1]) + " and " + texts[-1]


def window_sentence(views: Sequence[WindowView]) -> str:
    """How many windows h names right after each step, per window framing (steps first)."""
    parts: list[str] = []
    for view in sorted(views, key=lambda item: -item.steps):
        names = "names the right next letter" if not parts else "names it"
        counts = f"{names} for {_counted(view.correct_after_step())} of the {len(view.windows)} windows"
        if view.steps > 1:
            parts.append(f"read from h after step {_counted(range(1, view.steps + 1))}, `{view.framing}` {counts}")
        else:
            parts.append(f"`{view.framing}`, which takes the {len(view.windows[0])} letters in one step, {counts}")
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
    same = numbers["answer_ABC"] == numbers["answer_BC"]
    answers = f"the model answers {numbers['answer_ABC']}" + (" to both" if same else f" and {numbers['answer_BC']}")
    return (
        f"`{view.framing}`: after the A of `{PADDED_QUERY}`, h is {gap:.4f} from h after the same step "
        f"of `{PADDED_QUERY[1:]}`, which is a pad there ({sees}; the A moves h by "
        f"{numbers['A_step_move']:.3f}{pad_move}; {answers}, where {ALPHABET[view.query.letters[-1] + 1]} "
        f"is next); {numbers['aliased_queries']} of the {numbers['queries']} queries of "
        f"1-{view.query.spec.input_length} letters share their input with a shorter query and "
        f"{numbers['ambiguous_queries']} of these want another next letter, {verdict}."
    )


def lstm_state(study: Study) -> list[Block]:
    """The state itself (issue 14): each figure with one sentence read from its numbers."""
    stateful, windows, padding = study.state_views
    blocks: list[Block] = []
    for view in stateful:
        blocks += [
            f"### Stateful model `{view.framing}`: A..Z from a reset, and a cold {COLD_LETTER}",
            stateful_sentence(view.numbers()),
            Figure(
                f"state-{view.framing}.png",
                alt=f"Heatmap of the hidden state over A..Z from a reset and its 2-D PCA projection, "
                f"{view.framing}, seed {view.seed}, with the cold and warm {COLD_LETTER} marked",
                caption=f"{view.framing}: h after each letter from a reset (left) and in the plane of "
                f"its first two principal components (right); the dashed lines' numbers are distances in full h.",
                png=figures.stateful_state_png(view),
            ),
        ]
    if windows:
        blocks += [
            "### A window as time steps or as features",
            window_sentence(windows),
            Figure(
                "state-windows.png",
                alt="Heatmaps of the hidden state after each time step for every 3-letter window",
                caption="h after each step for every training window; the title counts the windows "
                "whose next letter h names at that step.",
                png=figures.window_state_png(windows),
            ),
        ]
    if padding:
        blocks += [
            "### Zero-padding and the letter A",
            *(padding_sentence(view) for view in padding),
            Figure(
                "state-padding.png",
                alt=f"Heatmaps of the hidden state over the padded steps of {PADDED_QUERY}, with the A step boxed",
                caption=f"h over the steps of `{PADDED_QUERY}` left-padded with zeros (the A boxed), and how "
                "far each step moves h.",
                png=figures.padding_state_png(padding),
            ),
        ]
    if not blocks:
        return []
    return [
        "## What the LSTM carries: the state",
        f"Seed {study.first_seed}. The hidden state h that each model carries from step to step, "
        "computed by the numpy forward pass from the saved weights (`alphabet-lstm predict "
        "--show-state` prints it for any query; docs/understanding-state.md). The numbers are "
        f"in `{STATE_NUMBERS_NAME}`.",
        f"To type your own letters into any framing and watch h, c and the gates step by step, open "
        f"[the state explorer]({EXPLORER_NAME}): one self-contained page beside this report that "
        "runs the same forward pass in the browser.",
        *blocks,
    ]
