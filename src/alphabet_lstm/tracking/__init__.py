"""MLflow tracking: where runs go, checking the server first, and never leaving a run RUNNING.

The default store is the SQLite file ``mlflow.db`` at the root of the main checkout,
addressed by its absolute path, so runs from ``dvc exp run`` temporary and queued copies
(which live under ``<root>/.dvc/tmp/exps/``) land in the same store. ``MLFLOW_TRACKING_URI``
overrides it, for a team server.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from alphabet_lstm.errors import UsageError

EXPERIMENT_NAME = "alphabet-lstm"
DEFAULT_STORE_NAME = "mlflow.db"
DEFAULT_ARTIFACTS_NAME = "mlartifacts"
SERVER_CHECK_TIMEOUT_SECONDS = 5.0
METRICS_PER_REQUEST = 1000
_EXPERIMENT_COPY_MARKER = os.sep + os.path.join(".dvc", "tmp", "exps") + os.sep


class TrackingUnavailable(UsageError):
    """The tracking server named by MLFLOW_TRACKING_URI does not answer."""


from alphabet_lstm.interrupts import Terminated  # noqa: E402  (re-exported for callers)


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


class TrackingFailed(UsageError):
    """MLflow refused a request, or its worker process went away."""


class BackgroundRun:
    """An MLflow run held by a ``tracking_worker`` process while the caller trains.

    The worker imports MLflow and opens the run on the other core while this process
    starts numba and trains (in a thread, both would take turns on the GIL: about 8 s a
    train stage instead of about 5.5). The methods block until the worker has done the
    request, and raise :class:`TrackingFailed` with its message if it could not.
    """

    def __init__(self):
        """Start the worker: it imports MLflow, then waits for :meth:`open`."""
        self._process = subprocess.Popen(
            [sys.executable, "-m", "alphabet_lstm.tracking.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            # Out of the terminal's process group: Ctrl-C reaches the stage, which ends the run.
            start_new_session=True,
        )
        self._run_id: str | None = None
        self._opened = False
        self._open_failed = False
        self._ended = False

    def open(self, uri: str, run_name: str, tags: dict[str, str], params: dict[str, str]) -> "BackgroundRun":
        """Ask the worker to open the run (see :attr:`run_id` for waiting on it)."""
        self._send({"op": "open", "uri": uri, "run_name": run_name, "tags": tags, "params": params})
        self._opened = True
        return self

    def _send(self, request: dict) -> None:
        try:
            self._process.stdin.write(json.dumps(request) + "\n")
            self._process.stdin.flush()
        except (BrokenPipeError, ValueError):
            raise self._gone() from None

    def _receive(self) -> dict:
        line = self._process.stdout.readline()
        if not line:
            raise self._gone()
        reply = json.loads(line)
        if "error" in reply:
            raise TrackingFailed(f"MLflow: {reply['error']}")
        return reply

    def _gone(self) -> TrackingFailed:
        code = self._process.wait()
        return TrackingFailed(f"the MLflow worker process exited with status {code}; see the messages above")

    @property
    def run_id(self) -> str:
        """The run's id, once the worker has opened it (waits for that)."""
        return self._wait_until_open()

    def _wait_until_open(self) -> str:
        if self._run_id is None:
            try:
                self._run_id = self._receive()["run_id"]
            except TrackingFailed:
                self._open_failed = True
                raise
        return self._run_id

    def _call(self, **request) -> None:
        self._wait_until_open()  # the run must exist before anything is logged to it
        self._send(request)
        self._receive()

    def log_epoch_metrics(self, series: dict[str, list[float]]) -> None:
        """Per-epoch values as step metrics, step = epoch number."""
        self._call(op="log_metrics", series={key: [float(v) for v in values] for key, values in series.items()})

    def log_final_metrics(self, values: dict[str, float]) -> None:
        self._call(op="log_metrics", values={key: float(value) for key, value in values.items()})

    def log_table(self, rows: list[dict], artifact_file: str) -> None:
        self._call(op="log_table", rows=rows, artifact_file=artifact_file)

    def log_artifact(self, path: str | Path, artifact_path: str) -> None:
        self._call(op="log_artifact", path=str(Path(path).resolve()), artifact_path=artifact_path)

    def close(self) -> None:
        """Let the worker exit; a run still open is ended KILLED. Once ended, does nothing."""
        if not self._opened and self._process.poll() is None:
            # Nothing opened, nothing to lose: do not wait for it to finish importing MLflow.
            self._process.kill()
        self.end("KILLED")

    def end(self, status: str) -> None:
        """Close the run with ``status`` if it was opened at all, and let the worker exit."""
        if self._ended:
            return
        self._ended = True
        try:
            if self._opened and not self._open_failed:
                self._wait_until_open()  # an interrupted stage still waits for the open, to end the run
                self._send({"op": "end", "status": status})
                self._receive()
        finally:
            # Closing stdin ends a run the worker still holds (KILLED) and lets it exit.
            if self._process.stdin and not self._process.stdin.closed:
                try:
                    self._process.stdin.close()
                except BrokenPipeError:
                    pass
            self._process.wait()


@contextmanager
def tracked_run(
    *, run_name: str, tags: dict[str, str], params: dict[str, str], worker: BackgroundRun | None = None
) -> Iterator[BackgroundRun]:
    """Open an MLflow run; end it FINISHED, FAILED on an error, KILLED on Ctrl-C or SIGTERM.

    A tracking server that does not answer fails here, before anything else happens. The
    run itself is opened in the background by a worker process (``worker``, started early
    so that MLflow's imports overlap the caller's; a new one if None); the yielded
    :class:`BackgroundRun` logs to it (its ``run_id`` waits for the open). SIGTERM is
    turned into an exception for the duration so that the run is closed before the
    process exits.
    """
    uri = tracking_uri()
    check_tracking_server(uri)
    run = (worker or BackgroundRun()).open(uri, run_name, tags, params)
    previous_handler = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield run
    except (KeyboardInterrupt, Terminated):
        run.end("KILLED")
        raise
    except BaseException:
        run.end("FAILED")
        raise
    else:
        run.end("FINISHED")
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
