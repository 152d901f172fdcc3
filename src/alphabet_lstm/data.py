"""A framing's data set: its patterns read back from the data file, every possible query,
and the encoded arrays the encode stage, the sweeps and the benchmarks all build here.
"""

from __future__ import annotations

from alphabet_lstm.alphabet import VOCABULARY_SIZE, EncodedDataset, encode_patterns, letters_to_codes
from alphabet_lstm.params import FramingParams, Patterns


def all_queries(max_len: int) -> Patterns:
    """Every contiguous run of 1..max_len letters that has a next letter, in order."""
    runs = [
        tuple(range(start, start + length))
        for length in range(1, max_len + 1)
        for start in range(VOCABULARY_SIZE - length)
    ]
    return Patterns(tuple(runs), tuple(run[-1] + 1 for run in runs))


def patterns_from_records(records: list[dict]) -> Patterns:
    """The inverse of :meth:`Patterns.as_records`."""
    return Patterns(
        tuple(tuple(letters_to_codes(record["input"])) for record in records),
        tuple(letters_to_codes(record["target"])[0] for record in records),
    )


def encode_framing(framing: FramingParams, patterns: Patterns | None = None) -> EncodedDataset:
    """A framing's patterns (its dataset's own unless given) as its LSTM takes them: padded, scaled, laid out."""
    patterns = patterns or framing.dataset.patterns()
    return encode_patterns(
        patterns.inputs, patterns.targets, layout=framing.layout, input_length=framing.dataset.input_length
    )
