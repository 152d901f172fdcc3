"""The files stages exchange: each written and read back by formats.py, byte for byte."""

from __future__ import annotations

import numpy as np
import pytest

from alphabet_lstm import formats
from alphabet_lstm.alphabet import ALPHABET
from alphabet_lstm.artifacts import write_json


def read_back(tmp_path, reader, text: str):
    """``text`` written to a file and read back with ``reader``."""
    path = tmp_path / "table.csv"
    path.write_text(text, encoding="utf-8")
    return reader(path)


def test_history_round_trip_and_exact_text(tmp_path):
    text = formats.history_csv([3.5, 3.0], [0.0, 0.25])
    # Six decimals, "\n" line ends: the file DVC plots and git diff read.
    assert text == "epoch,loss,accuracy\n1,3.500000,0.000000\n2,3.000000,0.250000\n"
    (tmp_path / "h.csv").write_text(text)
    history = formats.read_history(tmp_path / "h.csv")
    assert (history.epochs, history.losses, history.accuracies) == ((1, 2), (3.5, 3.0), (0.0, 0.25))
    with pytest.raises(ValueError, match="history header"):
        read_back(tmp_path, formats.read_history, "step,loss\n1,2\n")


def test_predictions_round_trip(tmp_path):
    rows = [
        {"input": "A", "expected": "B", "predicted": "B", "probability": 0.912345, "correct": True},
        {"input": "XY", "expected": "Z", "predicted": "Y", "probability": 1e-05, "correct": False},
    ]
    text = formats.predictions_csv(rows)
    assert text.splitlines()[:2] == ["input,expected,predicted,probability,correct", "A,B,B,0.912345,True"]
    assert read_back(tmp_path, formats.read_predictions, text) == rows
    with pytest.raises(ValueError, match="predictions header"):
        read_back(tmp_path, formats.read_predictions, "input,expected\nA,B\n")


def test_probabilities_round_trip_and_the_header_only_form(tmp_path):
    table = np.zeros((26, 26))
    table[np.arange(25), np.arange(1, 26)] = 0.75
    text = formats.probabilities_csv(table)
    assert text.splitlines()[0] == "input," + ",".join(ALPHABET)
    np.testing.assert_array_equal(read_back(tmp_path, formats.read_probabilities, text), table)
    # A fixed window takes no single letter: the header alone, read back as None.
    assert read_back(tmp_path, formats.read_probabilities, formats.probabilities_csv(None)) is None
    with pytest.raises(ValueError, match="probabilities"):
        read_back(tmp_path, formats.read_probabilities, "input,A\nA,1.0\n")
    with pytest.raises(ValueError, match="one row per letter"):
        read_back(tmp_path, formats.read_probabilities, text.replace("\nB,", "\nb,"))


def test_evaluation_and_details_json(tmp_path):
    metrics = {"accuracy": 0.8, "loss": 0.5, "correct": 8, "patterns": 10, "chain_intact": True}
    write_json(tmp_path / "e.json", metrics)
    assert formats.read_evaluation(tmp_path / "e.json") == metrics
    write_json(tmp_path / "bad.json", {"loss": 0.5})
    with pytest.raises(ValueError, match="lacks accuracy, correct, patterns"):
        formats.read_evaluation(tmp_path / "bad.json")
    write_json(tmp_path / "d.json", {"framing": "stateful", "chain_from_A": ALPHABET})
    assert formats.read_details(tmp_path / "d.json")["chain_from_A"] == ALPHABET
    (tmp_path / "list.json").write_text("[1]")
    with pytest.raises(ValueError, match="JSON object"):
        formats.read_details(tmp_path / "list.json")


def test_tables_are_the_bytes_pandas_writes():
    """The stages write CSV without importing pandas: the same bytes as its to_csv, NaN and
    None empty, text quoted where it must be, numpy scalars as numpy prints them."""
    import pandas as pd

    values = [np.nan, np.inf, -0.0, 1e-05, 0.1, 123456.789, np.float32(0.1), np.float64(2.5e-7)]
    floats = [[float(value), float(value) * 3] for value in values]
    expected = pd.DataFrame(floats, columns=["a", "b"]).to_csv(index=False, lineterminator="\n", float_format="%.6f")
    assert formats.table_csv(("a", "b"), floats, formats.FIXED_DECIMALS) == expected
    mixed = [
        ["x,y", 3, np.int64(4), np.float32(0.1), None, np.nan, True, 'q"t', 1e16],
        ["", 0, 0, 0.5, 1, 2, False, "", 7.0],
    ]
    header = [f"c{index}" for index in range(9)]
    assert formats.table_csv(header, mixed) == pd.DataFrame(mixed, columns=header, dtype=object).to_csv(
        index=False, lineterminator="\n"
    )
    table = np.random.default_rng(1).random((26, 26)) ** 9
    table[3, 4] = np.nan
    expected = pd.DataFrame(table, index=pd.Index(list(ALPHABET), name="input"), columns=list(ALPHABET))
    assert formats.probabilities_csv(table) == expected.to_csv(lineterminator="\n", float_format="%.6f")
