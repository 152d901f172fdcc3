"""The MLflow worker process of a train stage, against a real SQLite store.

A train stage logs through :class:`tracking.BackgroundRun`, which hands every request to
``python -m alphabet_lstm.tracking.worker``. These tests drive it directly: a run logged
and finished, a stage that vanishes without ending its run, a store MLflow cannot open.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from alphabet_lstm import tracking


@pytest.fixture()
def store(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


def stored_run(uri: str, run_id: str):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    return client, client.get_run(run_id)


def test_a_run_is_logged_and_finished(store: str, tmp_path: Path):
    artifact = tmp_path / "model.npz"
    artifact.write_bytes(b"weights")
    run = tracking.BackgroundRun().open(store, "one_char-seed7", {"framing": "one_char"}, {"epochs": "3"})
    run.log_epoch_metrics({"epoch_accuracy": [0.25, 0.5, 0.75]})
    run.log_final_metrics({"accuracy": 0.8})
    run.log_table([{"input": "A", "expected": "B", "correct": True}], artifact_file="predictions.json")
    run.log_artifact(artifact, artifact_path="model")
    run.end("FINISHED")
    run.close()  # as the stage's own exit path does: a second end is a no-op

    client, stored = stored_run(store, run.run_id)
    assert stored.info.status == "FINISHED"
    assert stored.info.run_name == "one_char-seed7"
    assert stored.data.params == {"epochs": "3"}
    assert stored.data.tags["framing"] == "one_char"
    assert stored.data.metrics["accuracy"] == 0.8
    history = client.get_metric_history(run.run_id, "epoch_accuracy")
    assert [(m.step, m.value) for m in history] == [(1, 0.25), (2, 0.5), (3, 0.75)]
    assert sorted(a.path for a in client.list_artifacts(run.run_id)) == ["model", "predictions.json"]
    table = json.loads(Path(client.download_artifacts(run.run_id, "predictions.json", str(tmp_path))).read_text())
    assert table["columns"] == ["input", "expected", "correct"] and table["data"] == [["A", "B", True]]


def test_a_stage_that_vanishes_leaves_no_run_running(store: str):
    """The stage killed outright (no ``end``): the worker sees stdin close and ends the run KILLED."""
    run = tracking.BackgroundRun().open(store, "gone", {}, {})
    run_id = run.run_id
    run._process.stdin.close()
    assert run._process.wait(timeout=60) == 0
    _, stored = stored_run(store, run_id)
    assert stored.info.status == "KILLED"


def test_a_store_mlflow_cannot_open_is_a_clear_error():
    run = tracking.BackgroundRun().open("nosuchscheme://store", "x", {}, {})
    with pytest.raises(tracking.TrackingFailed, match="MLflow: .*nosuchscheme"):
        run.run_id
    run.end("FAILED")  # nothing to end; returns once the worker has exited
    assert run._process.returncode == 1


def test_a_worker_never_asked_to_open_is_stopped_at_once(tmp_path: Path, monkeypatch):
    """A stage that fails before training (bad params) closes its worker: it is stopped
    mid-import, without opening the store."""
    store = tmp_path / "mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{store}")
    run = tracking.BackgroundRun()
    run.close()
    assert run._process.returncode is not None
    assert not store.exists()
