"""The alphabet, its integer codes and the tutorial's input scaling and one-hot targets."""

from __future__ import annotations

import numpy as np

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
VOCABULARY_SIZE = len(ALPHABET)
CHAR_TO_INT = {char: index for index, char in enumerate(ALPHABET)}

# The tutorial pads with 0 and scales by 26, so the pad value equals the code of "A".
PAD_CODE = 0


def letters_to_codes(letters: str) -> list[int]:
    """Map a string of capital letters to their codes 0-25.

    Raises ValueError naming the first character that is not a letter of the alphabet.
    """
    for position, char in enumerate(letters):
        if char not in CHAR_TO_INT:
            raise ValueError(
                f"character {char!r} at position {position + 1} of {letters!r} is not one of the letters {ALPHABET}"
            )
    return [CHAR_TO_INT[char] for char in letters]


def codes_to_letters(codes) -> str:
    """Map codes 0-25 back to a string of letters."""
    return "".join(ALPHABET[int(code)] for code in codes)


def scale_codes(codes: np.ndarray) -> np.ndarray:
    """Scale integer codes into [0, 1) as float32, as the tutorial does (code / 26)."""
    return np.asarray(codes, dtype=np.float32) / np.float32(VOCABULARY_SIZE)


def one_hot(target_codes: np.ndarray) -> np.ndarray:
    """One-hot encode target codes over the 26 letters, float32, shape (n, 26)."""
    target_codes = np.asarray(target_codes, dtype=np.int64)
    encoded = np.zeros((len(target_codes), VOCABULARY_SIZE), dtype=np.float32)
    encoded[np.arange(len(target_codes)), target_codes] = 1.0
    return encoded
