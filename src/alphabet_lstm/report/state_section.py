"""The report's sentences on the LSTM state at the first seed, one per figure, each read
from the numbers ``state.json`` records; their wording follows the numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from alphabet_lstm.alphabet import ALPHABET
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
