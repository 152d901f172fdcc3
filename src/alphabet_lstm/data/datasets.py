"""Patterns and what every dataset kind shares: pure functions, numpy only.

A pattern is an input run of letter codes and the code of the letter that follows it.
Each kind's own generator lives with its params in ``alphabet_lstm.data.kinds``.
"""

from __future__ import annotations

from dataclasses import dataclass

from alphabet_lstm.alphabet import VOCABULARY_SIZE, codes_to_letters, letters_to_codes


@dataclass(frozen=True)
class Patterns:
    """Input code runs (ragged) and their target codes."""

    inputs: tuple[tuple[int, ...], ...]
    targets: tuple[int, ...]

    def as_records(self) -> list[dict]:
        """Letters, for the human-readable data file: [{"input": "ABC", "target": "D"}]."""
        return [
            {"input": codes_to_letters(run), "target": codes_to_letters([target])}
            for run, target in zip(self.inputs, self.targets)
        ]


def all_queries(max_len: int) -> Patterns:
    """Every contiguous run of 1..max_len letters that has a next letter, in order."""
    inputs, targets = [], []
    for length in range(1, max_len + 1):
        for start in range(VOCABULARY_SIZE - length):
            inputs.append(tuple(range(start, start + length)))
            targets.append(start + length)
    return Patterns(tuple(inputs), tuple(targets))


def patterns_from_records(records: list[dict]) -> Patterns:
    """The inverse of :meth:`Patterns.as_records`."""
    return Patterns(
        tuple(tuple(letters_to_codes(record["input"])) for record in records),
        tuple(letters_to_codes(record["target"])[0] for record in records),
    )
