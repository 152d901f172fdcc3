"""The exact patterns each framing's data holds, as the tutorial prints them."""

from __future__ import annotations

from pathlib import Path

import pytest

from alphabet_lstm.alphabet import ALPHABET
from alphabet_lstm.data import all_queries, patterns_from_records
from alphabet_lstm.params import (
    KINDS,
    Patterns,
    load_params,
    prefix_patterns,
    sliding_patterns,
    variable_length_patterns,
)

PARAMS_PATH = Path(__file__).resolve().parents[1] / "params.yaml"


def as_text(patterns: Patterns) -> list[str]:
    return [f"{record['input']}->{record['target']}" for record in patterns.as_records()]


def is_run_with_next_letter(letters: str, target: str) -> bool:
    """Whether ``letters`` are consecutive letters of the alphabet and ``target`` follows."""
    start = ALPHABET.find(letters)
    return bool(letters) and start >= 0 and ALPHABET[start + len(letters)] == target


def test_one_char_is_every_letter_and_the_next():
    text = as_text(sliding_patterns(1))
    assert text == [f"{ALPHABET[i]}->{ALPHABET[i + 1]}" for i in range(25)]
    assert text[0] == "A->B" and text[-1] == "Y->Z" and len(text) == 25


def test_windows_are_every_three_letters_and_the_next():
    text = as_text(sliding_patterns(3))
    assert len(text) == 23
    assert text[:3] == ["ABC->D", "BCD->E", "CDE->F"]
    assert text[-1] == "WXY->Z"
    assert text == [f"{ALPHABET[i : i + 3]}->{ALPHABET[i + 3]}" for i in range(23)]


def test_sliding_codes_are_the_letter_positions():
    patterns = sliding_patterns(3)
    assert patterns.inputs[0] == (0, 1, 2) and patterns.targets[0] == 3
    assert patterns.inputs[-1] == (22, 23, 24) and patterns.targets[-1] == 25


@pytest.mark.parametrize("seq_length", [1, 2, 5, 24, 25])
def test_sliding_sizes(seq_length):
    patterns = sliding_patterns(seq_length)
    assert len(patterns.inputs) == len(patterns.targets) == 26 - seq_length
    assert all(len(run) == seq_length for run in patterns.inputs)
    assert as_text(patterns)[-1] == f"{ALPHABET[25 - seq_length : 25]}->Z"


# The tutorial's printed variable-length data for numpy.random.seed(7).
TUTORIAL_VARIABLE_START = ["PQRST->U", "W->X", "O->P", "OPQ->R", "IJKLM->N", "QRSTU->V", "ABCD->E", "X->Y", "GHIJ->K"]


def test_variable_length_seed_7_is_the_tutorials_data_set():
    patterns = variable_length_patterns(1000, 5, 7)
    text = as_text(patterns)
    assert text[: len(TUTORIAL_VARIABLE_START)] == TUTORIAL_VARIABLE_START
    assert len(text) == 1000
    lengths = {len(run) for run in patterns.inputs}
    assert lengths == {1, 2, 3, 4, 5}
    for record in patterns.as_records():
        assert is_run_with_next_letter(record["input"], record["target"]), record
    # Starts are drawn from 0..23 (A..X), so no run starts at Y and Z is never an input.
    assert {run[0] for run in patterns.inputs} == set(range(24))
    assert all(25 not in run for run in patterns.inputs)


def test_variable_length_is_reproducible_and_seeded():
    assert variable_length_patterns(50, 5, 7) == variable_length_patterns(50, 5, 7)
    assert variable_length_patterns(50, 5, 8) != variable_length_patterns(50, 5, 7)
    # The first patterns do not depend on how many are drawn.
    assert variable_length_patterns(9, 5, 7).inputs == variable_length_patterns(1000, 5, 7).inputs[:9]


@pytest.mark.parametrize("max_len", [1, 3, 25])
def test_variable_length_respects_max_len(max_len):
    patterns = variable_length_patterns(300, max_len, 3)
    assert max(len(run) for run in patterns.inputs) <= max_len
    assert all(is_run_with_next_letter(r["input"], r["target"]) for r in patterns.as_records())


def test_prefix_padded_is_every_prefix_and_the_next():
    text = as_text(prefix_patterns())
    assert len(text) == 25
    assert text[:3] == ["A->B", "AB->C", "ABC->D"]
    assert text[-1] == f"{ALPHABET[:25]}->Z"
    assert text == [f"{ALPHABET[: i + 1]}->{ALPHABET[i + 1]}" for i in range(25)]


def test_all_queries_are_every_run_of_one_to_five_letters():
    queries = all_queries(5)
    text = as_text(queries)
    assert len(text) == 25 + 24 + 23 + 22 + 21 == 115
    assert len(set(text)) == 115
    expected = [
        f"{ALPHABET[start : start + length]}->{ALPHABET[start + length]}"
        for length in range(1, 6)
        for start in range(26 - length)
    ]
    assert text == expected
    assert text[0] == "A->B" and text[25] == "AB->C" and text[-1] == "UVWXY->Z"
    # Every training pattern of the variable-length framing is one of these queries.
    assert set(as_text(variable_length_patterns(1000, 5, 7))) <= set(text)


def test_all_queries_of_one_letter_are_the_one_char_patterns():
    assert all_queries(1) == sliding_patterns(1)


@pytest.mark.parametrize(
    "framing, first, last, size",
    [
        ("one_char", "A->B", "Y->Z", 25),
        ("window_features", "ABC->D", "WXY->Z", 23),
        ("window_timesteps", "ABC->D", "WXY->Z", 23),
        ("batch_all", "A->B", "Y->Z", 25),
        ("stateful", "A->B", "Y->Z", 25),
        ("variable_length", "PQRST->U", None, 1000),
        ("prefix_padded", "A->B", f"{ALPHABET[:25]}->Z", 25),
    ],
)
def test_each_framing_of_params_generates_its_patterns(framing, first, last, size):
    dataset = load_params(PARAMS_PATH).framing(framing).dataset
    text = as_text(dataset.patterns())
    assert len(text) == size == dataset.size
    assert text[0] == first
    if last is not None:
        assert text[-1] == last
    assert max(len(entry.split("->")[0]) for entry in text) == dataset.input_length


def test_records_round_trip():
    for patterns in (sliding_patterns(3), variable_length_patterns(40, 5, 7), prefix_patterns()):
        assert patterns_from_records(patterns.as_records()) == patterns


def test_records_refuse_letters_outside_the_alphabet():
    with pytest.raises(ValueError, match="'a'"):
        patterns_from_records([{"input": "aB", "target": "C"}])


def test_every_kind_keeps_what_its_params_promise():
    # What the rest of the study reads from a kind without asking which kind it is.
    datasets = [framing.dataset for framing in load_params(PARAMS_PATH).framings.values()]
    assert {dataset.kind for dataset in datasets} == set(KINDS)
    for dataset in datasets:
        patterns = dataset.patterns()
        lengths = {len(run) for run in patterns.inputs}
        assert len(patterns.inputs) == len(patterns.targets) == dataset.size, dataset
        assert min(lengths) == dataset.shortest_query and max(lengths) == dataset.input_length, dataset
        # Only kinds whose models take runs of several lengths score every query.
        assert dataset.scores_all_queries == (dataset.shortest_query < dataset.input_length), dataset
