"""Evaluation over weights, spec and patterns: against Keras, and its tables' invariants.

A model that recites the alphabet perfectly is hard to build by hand, so these tests use
models from ``initial_weights`` whose Dense read-out is fitted by least squares to the
training patterns: every prediction is deterministic and accuracy is well above chance
but below 1, so a miscounted or misaligned metric shows.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest

from alphabet_lstm.alphabet import ALPHABET, codes_to_letters
from alphabet_lstm.data import all_queries, encode_framing
from alphabet_lstm.evaluation import (
    START_STEPS,
    cross_entropy,
    encode_runs,
    evaluate,
    next_letter_probabilities,
    prediction_table,
    query_accuracy,
    random_queries,
    recite,
    single_letter_probabilities,
    start_table,
    training_metrics,
)
from alphabet_lstm.model.lstm import LSTMWeights, forward, initial_weights, predict, predict_in_streams
from alphabet_lstm.model.training import model_spec
from alphabet_lstm.params import load_params

PARAMS_PATH = Path(__file__).resolve().parents[1] / "params.yaml"
TOLERANCE = 1e-5
SEED = 7


def hidden_states(weights: LSTMWeights, spec, inputs: np.ndarray) -> np.ndarray:
    """The LSTM's last hidden state per pattern, fed as the framing feeds it."""
    if not spec.stateful:
        return forward(weights, inputs)[1][0]
    state, hidden = None, []
    for start in range(0, len(inputs), spec.batch_size):
        _, state = forward(weights, inputs[start : start + spec.batch_size], state)
        hidden.append(state[0])
    return np.concatenate(hidden)


@functools.cache
def setup(name: str):
    """Patterns, encoded data, spec and read-out-fitted weights of one framing of params.yaml."""
    framing = load_params(PARAMS_PATH).framing(name)
    patterns = framing.dataset.patterns()
    dataset = encode_framing(framing, patterns)
    spec = model_spec(name, framing, dataset, seed=SEED, engine="fast")
    weights = initial_weights(features=spec.features, units=spec.units, seed=SEED)
    # A larger input kernel spreads the hidden states apart, so a linear read-out can
    # separate many (not all) patterns.
    weights.kernel *= 8
    hidden = hidden_states(weights, spec, dataset.inputs)
    design = np.c_[hidden, np.ones(len(hidden))]
    goal = 6 * dataset.targets - 3
    readout = np.linalg.solve(design.T @ design + 1e-4 * np.eye(design.shape[1]), design.T @ goal)
    weights = LSTMWeights.from_list([weights.kernel, weights.recurrent_kernel, weights.bias, readout[:-1], readout[-1]])
    return patterns, dataset, spec, weights


FRAMINGS = [
    "one_char",
    "window_features",
    "window_timesteps",
    "batch_all",
    "stateful",
    "variable_length",
    "prefix_padded",
]


# --- against Keras ------------------------------------------------------------------------


# One framing per way of feeding the model: a single step, a window as features, a stateful
# stream, padded runs. (Each model.evaluate compiles a graph: about a second apiece.)
@pytest.mark.parametrize("name", ["one_char", "window_features", "stateful", "variable_length"])
def test_training_metrics_match_keras_evaluate(keras_engine, name):
    _, dataset, spec, weights = setup(name)
    model = keras_engine.trained_keras_model(weights, spec)
    model.compile(loss="categorical_crossentropy", metrics=["accuracy"])
    # Stateless models answer the same in any batch size; a stateful one needs its own.
    batch_size = spec.batch_size if spec.stateful else len(dataset.inputs)
    results = model.evaluate(dataset.inputs, dataset.targets, batch_size=batch_size, verbose=0, return_dict=True)
    metrics = training_metrics(predict(weights, spec, dataset.inputs), dataset.target_codes)
    assert abs(metrics["loss"] - results["loss"]) < TOLERANCE
    assert abs(metrics["accuracy"] - results["accuracy"]) < TOLERANCE
    assert 0 < metrics["correct"] < metrics["patterns"] == len(dataset.inputs)
    assert metrics["accuracy"] == round(metrics["correct"] / metrics["patterns"], 6)


def test_cross_entropy_clips_as_keras_does():
    probabilities = np.array([[1.0, 0.0], [0.5, 0.5]], dtype=np.float32)
    # log(1 - 1e-7) for the sure right answer, log(1e-7) for the impossible one.
    expected = -(np.log(1 - 1e-7) + np.log(0.5)) / 2
    assert cross_entropy(probabilities, np.array([0, 1])) == pytest.approx(expected)
    assert cross_entropy(probabilities, np.array([1, 0])) == pytest.approx(-(np.log(1e-7) + np.log(0.5)) / 2)


# --- the prediction table and metrics ---------------------------------------------------


@pytest.mark.parametrize("name", FRAMINGS)
def test_prediction_table_rows_follow_the_patterns(name):
    patterns, dataset, spec, weights = setup(name)
    probabilities = predict(weights, spec, dataset.inputs)
    table = prediction_table(probabilities, patterns)
    assert len(table) == len(patterns.inputs)
    for row, run, target, row_probabilities in zip(table, patterns.inputs, patterns.targets, probabilities):
        assert row["input"] == codes_to_letters(run)
        assert row["expected"] == ALPHABET[target]
        assert row["predicted"] == ALPHABET[int(row_probabilities.argmax())]
        assert row["probability"] == round(float(row_probabilities.max()), 6)
        assert 0 < row["probability"] <= 1
        assert row["correct"] == (row["predicted"] == row["expected"])
    metrics = training_metrics(probabilities, dataset.target_codes)
    assert metrics["correct"] == sum(row["correct"] for row in table)


def test_a_stateful_table_is_read_in_one_stream():
    patterns, dataset, spec, weights = setup("stateful")
    _, table, _, _ = evaluate(weights, spec, patterns, dataset.inputs, dataset.target_codes)
    streamed = predict_in_streams(weights, dataset.inputs, 1).argmax(axis=1)
    cold = forward(weights, dataset.inputs)[0].argmax(axis=1)
    assert [row["predicted"] for row in table] == [ALPHABET[code] for code in streamed]
    # The streamed answers are not what each letter gets from a cold start.
    assert list(streamed) != list(cold)


# --- reciting ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["one_char", "batch_all", "prefix_padded", "variable_length"])
def test_stateless_recite_feeds_back_its_predictions(name):
    _, _, spec, weights = setup(name)
    chain = recite(weights, spec, [0], 8)
    assert len(chain) == 8 and all(0 <= code < 26 for code in chain)
    context = [0]
    for code in chain:
        window = context[-spec.input_length :]
        expected = int(forward(weights, encode_runs(spec, [window]))[0][0].argmax())
        assert code == expected
        context.append(code)


def test_single_letter_recite_follows_the_single_letter_table():
    _, _, spec, weights = setup("one_char")
    table = single_letter_probabilities(weights, spec).argmax(axis=1)
    chain = recite(weights, spec, [10], 6)
    letter = 10
    for code in chain:
        letter = int(table[letter])
        assert code == letter


def test_stateful_recite_is_one_stream_of_its_own_predictions():
    _, _, spec, weights = setup("stateful")
    chain = recite(weights, spec, [0], 25)
    fed = np.array([0] + chain[:-1])
    streamed = predict_in_streams(weights, encode_runs(spec, [[code] for code in fed]), 1).argmax(axis=1)
    assert chain == [int(code) for code in streamed]
    # Several start letters are the same stream, fed before the predictions.
    warm = recite(weights, spec, [0, 1, 2, 3], 4)
    streamed = predict_in_streams(weights, encode_runs(spec, [[0], [1], [2], [3]] + [[c] for c in warm[:-1]]), 1)
    assert warm == [int(code) for code in streamed.argmax(axis=1)[3:]]


def test_next_letter_probabilities_carry_state():
    _, _, spec, weights = setup("stateful")
    # Not from A: its code 0 leaves a fresh model's zero state at zero.
    first, state = next_letter_probabilities(weights, spec, [5])
    carried, _ = next_letter_probabilities(weights, spec, [6], state)
    cold, _ = next_letter_probabilities(weights, spec, [6])
    assert first.shape == (26,) and first.sum() == pytest.approx(1, abs=1e-5)
    assert not np.allclose(carried, cold)


@pytest.mark.parametrize("warm", [False, True])
def test_start_tables_score_five_steps_from_every_letter(warm):
    patterns, dataset, spec, weights = setup("stateful")
    table = start_table(weights, spec, warm=warm)
    assert [row["start"] for row in table] == list(ALPHABET)
    for index, row in enumerate(table):
        steps = min(START_STEPS, 25 - index)
        assert row["expected"] == ALPHABET[index + 1 : index + 1 + steps]
        assert len(row["predicted"]) == START_STEPS
        start = list(range(index + 1)) if warm else [index]
        assert row["predicted"] == codes_to_letters(recite(weights, spec, start, START_STEPS))
        if steps == 0:
            assert row["accuracy"] is None
        else:
            hits = sum(p == e for p, e in zip(row["predicted"], row["expected"]))
            assert row["accuracy"] == round(hits / steps, 6)
    # From A there is nothing to warm up with: both tables agree on that row.
    assert table[0] == start_table(weights, spec, warm=not warm)[0]
    scored = [row["accuracy"] for row in table if row["accuracy"] is not None]
    assert len(scored) == 25
    # The stage's metric is their mean, the table in its details.
    metrics, _, details, _ = evaluate(weights, spec, patterns, dataset.inputs, dataset.target_codes)
    kind = "warm" if warm else "cold"
    assert (metrics[f"{kind}_start_accuracy"], details[f"{kind}_starts"]) == (round(float(np.mean(scored)), 6), table)


# --- ad-hoc queries and single letters --------------------------------------------------


def test_query_accuracy_counts_every_run_of_one_to_five():
    _, _, spec, weights = setup("variable_length")
    result = query_accuracy(weights, spec, 5)
    assert result["queries"] == 115
    assert list(result["accuracy_by_length"]) == ["1", "2", "3", "4", "5"]
    counts = {1: 25, 2: 24, 3: 23, 4: 22, 5: 21}
    weighted = sum(result["accuracy_by_length"][str(n)] * count for n, count in counts.items()) / 115
    assert result["accuracy"] == pytest.approx(weighted, abs=1e-5)
    queries = all_queries(5)
    predicted = forward(weights, encode_runs(spec, queries.inputs))[0].argmax(axis=1)
    assert result["accuracy"] == round(float(np.mean(predicted == np.array(queries.targets))), 6)
    assert 0 < result["accuracy"] < 1


@pytest.mark.parametrize(
    "name, accepts_one",
    [("one_char", True), ("window_timesteps", False), ("variable_length", True), ("prefix_padded", True)],
)
def test_single_letter_table(name, accepts_one):
    _, _, spec, weights = setup(name)
    assert spec.accepts_length(1) is accepts_one
    table = single_letter_probabilities(weights, spec)
    if not accepts_one:
        assert table is None
        assert spec.accepts_length(3)
        return
    assert table.shape == (26, 26)
    np.testing.assert_allclose(table.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(table[7], next_letter_probabilities(weights, spec, [7])[0], atol=1e-6)


def test_padded_models_accept_runs_up_to_their_length_only():
    _, _, spec, _ = setup("variable_length")
    assert [spec.accepts_length(n) for n in range(7)] == [False, True, True, True, True, True, False]
    with pytest.raises(ValueError, match=r"framing variable_length takes 1 to 5 letters; got 6 \('abcdef'\)"):
        spec.query_codes("abcdef")
    assert spec.query_codes("kLm") == [10, 11, 12]


def test_a_stateful_model_takes_any_number_of_letters_from_one():
    _, _, spec, _ = setup("stateful")
    assert [spec.accepts_length(n) for n in (0, 1, 2, 26, 40)] == [False, True, True, True, True]
    with pytest.raises(ValueError, match="the query is empty; framing stateful takes 1 or more letters"):
        spec.query_codes("")


def test_random_queries_are_training_patterns_drawn_reproducibly():
    patterns, dataset, spec, weights = setup("variable_length")
    table = prediction_table(predict(weights, spec, dataset.inputs), patterns)
    rows = random_queries(table, seed=SEED)
    assert len(rows) == 20
    known = {(record["input"], record["target"]) for record in patterns.as_records()}
    for row in rows:
        # The details file's columns: the prediction table's, without the probability.
        assert list(row) == ["input", "expected", "predicted", "correct"]
        assert (row["input"], row["expected"]) in known
        # The answer is the forward pass's most probable letter for that input, alone.
        probabilities = forward(weights, encode_runs(spec, [[ALPHABET.index(c) for c in row["input"]]]))[0][0]
        assert row["predicted"] == ALPHABET[int(np.argmax(probabilities))]
        assert row["correct"] == (row["predicted"] == row["expected"])
    # Another seed draws other queries.
    assert [row["input"] for row in random_queries(table, seed=SEED + 1)] != [row["input"] for row in rows]


# --- everything the evaluate stage records ----------------------------------------------


@pytest.mark.parametrize("name", ["one_char", "stateful", "variable_length"])
def test_evaluate_records_what_each_framing_needs(name):
    patterns, dataset, spec, weights = setup(name)
    metrics, table, details, letters = evaluate(weights, spec, patterns, dataset.inputs, dataset.target_codes)
    # Expectations computed here from the forward pass alone, not from evaluation's helpers.
    probabilities = predict(weights, spec, dataset.inputs)
    predicted = probabilities.argmax(axis=1)
    correct = int((predicted == dataset.target_codes).sum())
    assert (metrics["correct"], metrics["patterns"]) == (correct, len(dataset.inputs))
    assert metrics["accuracy"] == round(correct / len(dataset.inputs), 6)
    chosen = probabilities[np.arange(len(predicted)), dataset.target_codes]
    assert metrics["loss"] == pytest.approx(float(-np.mean(np.log(np.clip(chosen, 1e-7, 1.0)))), abs=1e-6)
    assert [(row["input"], row["expected"], row["predicted"], row["correct"]) for row in table] == [
        (record["input"], record["target"], ALPHABET[int(code)], ALPHABET[int(code)] == record["target"])
        for record, code in zip(patterns.as_records(), predicted)
    ]
    assert (details["framing"], details["seed"]) == (name, SEED)
    assert letters is not None and letters.shape == (26, 26)
    if spec.stateful:
        # Recited by hand: feed each answer back one step at a time, state carried.
        state, letter, chain = None, 0, "A"
        for _ in range(25):
            step, state = forward(weights, encode_runs(spec, [[letter]]), state)
            letter = int(step[0].argmax())
            chain += ALPHABET[letter]
        assert details["chain_from_A"] == chain
        assert details["chain_intact"] == (chain == ALPHABET) == metrics["chain_intact"]
        # Cold starts by hand: each letter from a reset, five answers fed back, scored
        # against the letters that follow it (Z has none and is not scored).
        scores = []
        for start in range(25):
            state, letter, hits, steps = None, start, 0, min(START_STEPS, 25 - start)
            for step in range(steps):
                output, state = forward(weights, encode_runs(spec, [[letter]]), state)
                letter = int(output[0].argmax())
                hits += letter == start + 1 + step
            scores.append(hits / steps)
        assert metrics["cold_start_accuracy"] == pytest.approx(float(np.mean(scores)), abs=1e-6)
        assert "random_queries" not in details
    else:
        assert len(details["random_queries"]) == 20
        assert "chain_from_A" not in details
    if name == "variable_length":
        assert metrics["all_queries_accuracy"] == details["all_queries"]["accuracy"]
        assert details["all_queries"]["queries"] == 115
    else:
        assert "all_queries" not in details
