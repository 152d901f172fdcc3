"""MLflow tracking: the names every part shares, and where to find the rest.

``server`` resolves the store and checks a tracking server (no MLflow import), ``records``
reads the stage outputs into what a run holds, ``store`` writes them by the claim protocol,
``registry`` registers the models and moves ``champion``, ``pyfunc_model`` is the MLflow model
of a training, ``ledger`` what this checkout logged to each store.
"""

from alphabet_lstm.tracking.server import (
    StoreMismatch,
    TrackingFailed,
    TrackingUnavailable,
    check_tracking_server,
    git_commit,
    tracking_uri,
)

EXPERIMENT_NAME = "alphabet-lstm"
SWEEPS_EXPERIMENT_NAME = "alphabet-lstm-sweeps"
SWEEPS_EXPERIMENT_DESCRIPTION = (
    "alphabet-lstm sweeps: one parent run per sweep (its question, each grid point's mean "
    "accuracy over seeds, the best point) with one child run per training (a grid point at a seed)."
)
DEFAULT_ARTIFACTS_NAME = "mlartifacts"
