"""MLflow tracking: where runs go, checking the server first, and never leaving a run RUNNING.

The default store is the SQLite file ``mlflow.db`` at the root of the main checkout,
addressed by its absolute path, so runs from ``dvc exp run`` temporary and queued copies
(which live under ``<root>/.dvc/tmp/exps/``) land in the same store. ``MLFLOW_TRACKING_URI``
overrides it, for a team server.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

EXPERIMENT_NAME = "alphabet-lstm"
DEFAULT_STORE_NAME = "mlflow.db"
DEFAULT_ARTIFACTS_NAME = "mlartifacts"
SERVER_CHECK_TIMEOUT_SECONDS = 5.0
METRICS_PER_REQUEST = 1000
_EXPERIMENT_COPY_MARKER = os.sep + os.path.join(".dvc", "tmp", "exps") + os.sep


class TrackingUnavailable(RuntimeError):
    """The tracking server named by MLFLOW_TRACKING_URI does not answer."""


class Terminated(BaseException):
    """Raised in the main thread when the process receives SIGTERM."""


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


def check_tracking_server(uri: str, timeout: float = SERVER_CHECK_TIMEOUT_SECONDS) -> None:
    """For an http(s) tracking URI, fail fast unless the server answers its health check."""
    if not uri.startswith(("http://", "https://")):
        return
    health = uri.rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(health, timeout=timeout) as response:
            if response.status == 200:
                return
            reason = f"HTTP {response.status}"
    except urllib.error.HTTPError as error:
        reason = f"HTTP {error.code}"
    except (urllib.error.URLError, OSError) as error:
        reason = str(getattr(error, "reason", error))
    raise TrackingUnavailable(
        f"MLflow tracking server {uri} did not answer ({reason}). Start the server, or "
        f"unset MLFLOW_TRACKING_URI to use the embedded store {default_tracking_uri()}."
    )


def git_commit() -> str:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        )
        return result.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _experiment_id(client, uri: str) -> str:
    """Get or create the experiment; artifacts of the embedded store sit beside mlflow.db."""
    from mlflow.exceptions import MlflowException

    name = os.environ.get("MLFLOW_EXPERIMENT_NAME", EXPERIMENT_NAME)
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    artifact_location = None
    if uri.startswith("sqlite:///"):
        store = Path(uri[len("sqlite:///"):])
        artifact_location = (store.parent / DEFAULT_ARTIFACTS_NAME).as_uri()
    try:
        return client.create_experiment(name, artifact_location=artifact_location)
    except MlflowException:
        # Another process created it between our lookup and create.
        return client.get_experiment_by_name(name).experiment_id


def open_client(uri: str):
    """An MlflowClient on ``uri``, creating the SQLite store under a lock if needed.

    Two stages starting at once (the DVC queue's workers) would otherwise both run the
    store's schema migrations on a new database file.
    """
    import mlflow
    from mlflow.tracking import MlflowClient

    mlflow.set_tracking_uri(uri)
    if uri.startswith("sqlite:///"):
        from filelock import FileLock

        store = Path(uri[len("sqlite:///"):])
        store.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(store) + ".lock", timeout=300):
            client = MlflowClient(uri)
            experiment_id = _experiment_id(client, uri)
    else:
        client = MlflowClient(uri)
        experiment_id = _experiment_id(client, uri)
    return client, experiment_id


def _raise_terminated(signum, frame):
    raise Terminated(f"received signal {signum}")


class OpeningRun:
    """An MLflow run being opened in a background thread while the caller trains.

    Importing MLflow and opening its store take 5-6 s a process, longer than most
    trainings here; doing both at once roughly halves a train stage. :meth:`wait` returns
    ``(client, run_id)`` once the run exists, or raises what went wrong opening it.
    """

    def __init__(self, uri: str, run_name: str, tags: dict[str, str], params: dict[str, str]):
        self.uri, self.run_name, self.tags, self.params = uri, run_name, tags, params
        self.client = None
        self.run_id: str | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._open, name="mlflow-open", daemon=True)

    def start(self) -> "OpeningRun":
        self._thread.start()
        return self

    def _open(self) -> None:
        try:
            from mlflow.entities import Param

            client, experiment_id = open_client(self.uri)
            run = client.create_run(experiment_id, run_name=self.run_name, tags=self.tags)
            self.client, self.run_id = client, run.info.run_id
            if self.params:
                client.log_batch(
                    self.run_id, params=[Param(key, str(value)) for key, value in self.params.items()]
                )
        except BaseException as error:  # handed to the main thread by wait()
            self.error = error

    def wait(self) -> tuple[object, str]:
        self._thread.join()
        if self.error is not None:
            raise self.error
        return self.client, self.run_id

    def end(self, status: str) -> None:
        """Close the run with ``status`` if it was opened at all."""
        self._thread.join()
        if self.run_id is not None:
            self.client.set_terminated(self.run_id, status=status)


@contextmanager
def tracked_run(*, run_name: str, tags: dict[str, str], params: dict[str, str]) -> Iterator[OpeningRun]:
    """Open an MLflow run; end it FINISHED, FAILED on an error, KILLED on Ctrl-C or SIGTERM.

    A tracking server that does not answer fails here, before anything else happens. The
    run itself is opened in the background: call ``.wait()`` on the yielded object for
    ``(client, run_id)``. SIGTERM is turned into an exception for the duration so that the
    run is closed before the process exits.
    """
    uri = tracking_uri()
    check_tracking_server(uri)
    opening = OpeningRun(uri, run_name, tags, params).start()
    previous_handler = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield opening
    except (KeyboardInterrupt, Terminated):
        opening.end("KILLED")
        raise
    except BaseException:
        opening.end("FAILED")
        raise
    else:
        opening.end("FINISHED")
    finally:
        signal.signal(signal.SIGTERM, previous_handler)


def log_epoch_metrics(client, run_id: str, series: dict[str, list[float]]) -> None:
    """Per-epoch values as step metrics (step = epoch number), in batched requests."""
    from mlflow.entities import Metric

    timestamp = int(time.time() * 1000)
    metrics = [
        Metric(key, float(value), timestamp, step)
        for key, values in series.items()
        for step, value in enumerate(values, start=1)
    ]
    for start in range(0, len(metrics), METRICS_PER_REQUEST):
        client.log_batch(run_id, metrics=metrics[start : start + METRICS_PER_REQUEST])


def log_final_metrics(client, run_id: str, values: dict[str, float]) -> None:
    from mlflow.entities import Metric

    timestamp = int(time.time() * 1000)
    client.log_batch(run_id, metrics=[Metric(k, float(v), timestamp, 0) for k, v in values.items()])
