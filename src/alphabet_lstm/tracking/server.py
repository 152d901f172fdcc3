"""Where runs go: params.yaml's ``tracking.uri`` resolved to one store, and a tracking
server checked (it answers, it takes our credentials) before anything is logged.

A relative SQLite path is resolved at the main checkout, so runs from ``dvc exp run``
temporary and queued copies land in the same store (docs/mlflow.md). No MLflow import.
"""

from __future__ import annotations

import base64
import os
import subprocess
import urllib.error
import urllib.request
from collections.abc import Mapping
from contextlib import suppress
from pathlib import Path

from alphabet_lstm.artifacts import main_checkout_root
from alphabet_lstm.errors import UsageError
from alphabet_lstm.params import TrackingParams

SERVER_CHECK_TIMEOUT_SECONDS = 5.0
# An authenticated request every MLflow server answers (200), or refuses with 401.
_CREDENTIALS_CHECK_PATH = "/api/2.0/mlflow/experiments/search?max_results=1"


class TrackingUnavailable(UsageError):
    """The tracking server tracking.uri names does not answer, or refuses us."""


class TrackingFailed(UsageError):
    """MLflow refused a request while logging."""


class StoreMismatch(UsageError):
    """MLFLOW_TRACKING_URI names another store than tracking.uri."""


def _resolved(uri: str, start: Path | None) -> str:
    """A store's URI as MLflow is given it: a relative SQLite path made absolute at the main
    checkout, a server's address without a trailing slash (the same server either way)."""
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        return f"sqlite:///{main_checkout_root(start) / uri.removeprefix('sqlite:///')}"
    if uri.startswith(("http://", "https://")):
        return uri.rstrip("/")
    return uri


def tracking_uri(configured: str, start: Path | None = None, environ: Mapping[str, str] = os.environ) -> str:
    """The MLflow store to use: ``configured`` (params.yaml's tracking.uri) resolved, seen
    from ``start`` (the working directory by default). StoreMismatch if MLFLOW_TRACKING_URI
    (in ``environ``) names another store: DVC cannot see a variable (docs/mlflow.md)."""
    uri = _resolved(configured, start)
    environment = environ.get("MLFLOW_TRACKING_URI")
    if environment and _resolved(environment, start) != uri:
        shown = configured if configured == uri else f"{configured}, that is {uri}"
        raise StoreMismatch(
            f"MLFLOW_TRACKING_URI={environment} names another MLflow store than params.yaml's "
            f"tracking.uri ({shown}). DVC reruns the log stages when a param changes, never when an "
            "environment variable does, so the store is the param: set tracking.uri in params.yaml "
            f"(or `dvc exp run -S tracking.uri={environment}` for one experiment) and unset "
            "MLFLOW_TRACKING_URI."
        )
    return uri


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
    """For an http(s) tracking URI (as tracking_uri gives it), fail fast unless the server
    answers and takes our credentials (MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD)."""
    if not uri.startswith(("http://", "https://")):
        return
    status, reason = _http_status(uri + "/health", timeout)
    if status != 200:
        raise TrackingUnavailable(
            f"MLflow tracking server {uri} did not answer ({reason}). Start the server, or set "
            f"tracking.uri in params.yaml to another store ({TrackingParams().uri}: the embedded one)."
        )
    headers: dict[str, str] = {}
    who = "requests without credentials"
    if username := os.environ.get("MLFLOW_TRACKING_USERNAME"):
        credentials = f"{username}:{os.environ.get('MLFLOW_TRACKING_PASSWORD', '')}".encode()
        headers["Authorization"] = f"Basic {base64.b64encode(credentials).decode()}"
        who = f"the user name and password of MLFLOW_TRACKING_USERNAME={username}"
    status, reason = _http_status(uri + _CREDENTIALS_CHECK_PATH, timeout, headers)
    if status == 401:
        raise TrackingUnavailable(
            f"MLflow tracking server {uri} refused {who} (HTTP 401). Set MLFLOW_TRACKING_USERNAME "
            "and MLFLOW_TRACKING_PASSWORD to an account on that server (docs/team.md: admin makes one with add-user)."
        )
    if status != 200:
        raise TrackingUnavailable(f"MLflow tracking server {uri} failed a search request ({reason}).")


def git_commit(cwd: Path | None = None) -> str:
    with suppress(OSError, subprocess.SubprocessError):
        command = ["git", "rev-parse", "HEAD"]
        return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    return "unknown"
