"""MLflow tracking: where runs go, and checking a tracking server before anything is logged.

This module is light (no MLflow import): it names the store and checks the server.
``records`` reads the stage outputs into what a run holds, ``store`` writes them with
MLflow's own APIs, ``registry`` registers the models and moves ``champion``,
``pyfunc_model`` is the MLflow model of a training.

The default store is the SQLite file ``mlflow.db`` at the root of the main checkout,
addressed by its absolute path, so runs from ``dvc exp run`` temporary and queued copies
(which live under ``<root>/.dvc/tmp/exps/``) land in the same store. ``MLFLOW_TRACKING_URI``
overrides it, for a team server; ``MLFLOW_TRACKING_USERNAME`` and
``MLFLOW_TRACKING_PASSWORD`` are its credentials (MLflow's own variables).
"""

from __future__ import annotations

import base64
import getpass
import os
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

from alphabet_lstm.errors import UsageError

EXPERIMENT_NAME = "alphabet-lstm"
SWEEPS_EXPERIMENT_NAME = "alphabet-lstm-sweeps"
SWEEPS_EXPERIMENT_DESCRIPTION = (
    "alphabet-lstm sweeps: one parent run per sweep (its question, each grid point's mean "
    "accuracy over seeds, the best point) with one child run per training (a grid point at a seed)."
)
DEFAULT_STORE_NAME = "mlflow.db"
DEFAULT_ARTIFACTS_NAME = "mlartifacts"
SERVER_CHECK_TIMEOUT_SECONDS = 5.0
_EXPERIMENT_COPY_MARKER = os.sep + os.path.join(".dvc", "tmp", "exps") + os.sep
# An authenticated request every MLflow server answers (200), or refuses with 401.
_CREDENTIALS_CHECK_PATH = "/api/2.0/mlflow/experiments/search?max_results=1"


class TrackingUnavailable(UsageError):
    """The tracking server named by MLFLOW_TRACKING_URI does not answer, or refuses us."""


class TrackingFailed(UsageError):
    """MLflow refused a request while logging."""


def main_checkout_root(start: Path | None = None) -> Path:
    """The main checkout, also when running inside a DVC experiment's temporary copy."""
    start = (start or Path.cwd()).resolve()
    text = str(start) + os.sep
    if _EXPERIMENT_COPY_MARKER in text:
        return Path(text.split(_EXPERIMENT_COPY_MARKER)[0])
    for candidate in [start, *start.parents]:
        if (candidate / "dvc.yaml").exists() and (candidate / ".dvc").is_dir():
            return candidate
    return start


def default_tracking_uri(root: Path | None = None) -> str:
    return f"sqlite:///{main_checkout_root(root) / DEFAULT_STORE_NAME}"


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri()


def tracking_user() -> str:
    """Who logs: the tracking server's user name if one is set, else the login name."""
    return os.environ.get("MLFLOW_TRACKING_USERNAME") or getpass.getuser()


def _http_status(url: str, timeout: float, headers: dict[str, str] | None = None) -> tuple[int | None, str]:
    """The HTTP status of a GET (None if nothing answered) and a reason to show."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, f"HTTP {response.status}"
    except urllib.error.HTTPError as error:
        return error.code, f"HTTP {error.code}"
    except (urllib.error.URLError, OSError) as error:
        return None, str(getattr(error, "reason", error))


def check_tracking_server(uri: str, timeout: float = SERVER_CHECK_TIMEOUT_SECONDS) -> None:
    """For an http(s) tracking URI, fail fast unless the server answers and takes our
    credentials (MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD)."""
    if not uri.startswith(("http://", "https://")):
        return
    base = uri.rstrip("/")
    status, reason = _http_status(base + "/health", timeout)
    if status != 200:
        raise TrackingUnavailable(
            f"MLflow tracking server {uri} did not answer ({reason}). Start the server, or "
            f"unset MLFLOW_TRACKING_URI to use the embedded store {default_tracking_uri()}."
        )
    username = os.environ.get("MLFLOW_TRACKING_USERNAME")
    password = os.environ.get("MLFLOW_TRACKING_PASSWORD", "")
    headers = {}
    if username:
        token = base64.b64encode(f"{username}:{password}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    status, reason = _http_status(base + _CREDENTIALS_CHECK_PATH, timeout, headers)
    if status == 401:
        who = (
            f"the user name and password of MLFLOW_TRACKING_USERNAME={username}"
            if username
            else "requests without credentials"
        )
        raise TrackingUnavailable(
            f"MLflow tracking server {uri} refused {who} (HTTP 401). Set MLFLOW_TRACKING_USERNAME "
            "and MLFLOW_TRACKING_PASSWORD to an account on that server (docs/mlflow.md, team server)."
        )
    if status != 200:
        raise TrackingUnavailable(f"MLflow tracking server {uri} failed a search request ({reason}).")


def git_commit(cwd: Path | None = None) -> str:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10, check=True
        )
        return result.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
