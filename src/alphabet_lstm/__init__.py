"""alphabet-lstm: the stateful-LSTM alphabet study as a reproducible DVC pipeline.

The package is a small core of pure functions (alphabet, datasets, encoding, model,
engines, evaluation, statistics) under thin stage modules in ``alphabet_lstm.stages``,
one per DVC stage. Nothing here does work at import time.
"""

__version__ = "0.1.0"
