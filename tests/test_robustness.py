"""Failures never corrupt outputs or leave MLflow runs RUNNING, and say what went wrong."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from conftest import make_clone, pipeline_env, run

pytestmark = pytest.mark.e2e

STAGE = "train@variable_length-7"
MODEL = Path("models/variable_length-seed7.npz")


def run_statuses(root: Path) -> list[str]:
    store = root / "mlflow.db"
    if not store.exists():
        return []
    with sqlite3.connect(store) as connection:
        return [row[0] for row in connection.execute("select status from runs order by start_time")]


def set_epochs(root: Path, framing: str, epochs: int) -> None:
    params = root / "params.yaml"
    lines = params.read_text().splitlines(keepends=True)
    inside = False
    for index, line in enumerate(lines):
        if line.startswith(f"  {framing}:"):
            inside = True
        elif inside and line.strip().startswith("epochs:"):
            lines[index] = line.split("epochs:")[0] + f"epochs: {epochs}\n"
            break
    params.write_text("".join(lines))


@pytest.fixture(scope="module")
def trained_clone(tmp_path_factory) -> Path:
    root = make_clone(tmp_path_factory.mktemp("robust") / "repo")
    run(["dvc", "repro", STAGE], root)
    return root


@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupted_training_ends_run_and_keeps_outputs(trained_clone: Path, signal_number):
    root = trained_clone
    previous_model = (root / MODEL).read_bytes()
    previous_lock = (root / "dvc.lock").read_bytes()
    runs_before = len(run_statuses(root))
    set_epochs(root, "variable_length", 2000)
    process = subprocess.Popen(
        ["dvc", "repro", STAGE], cwd=root, env=pipeline_env(), start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while run_statuses(root)[runs_before:] != ["RUNNING"]:
            assert process.poll() is None, process.stdout.read()
            assert time.monotonic() < deadline, "training never started"
            time.sleep(0.2)
        time.sleep(2.0)  # well inside training: 2000 epochs take over a minute
        os.killpg(process.pid, signal_number)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode != 0, output
    assert run_statuses(root)[runs_before:] == ["KILLED"], output
    model = root / MODEL
    assert not model.exists() or model.read_bytes() == previous_model
    assert (root / "dvc.lock").read_bytes() == previous_lock
    assert not list((root / "models").glob(".*.tmp"))
    set_epochs(root, "variable_length", 3)
    run(["dvc", "repro", STAGE], root)
    assert (root / MODEL).read_bytes() == previous_model


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_tracking_server_down_fails_fast_before_training(tmp_path: Path):
    root = make_clone(tmp_path / "repo")
    run(["dvc", "repro", "encode@one_char"], root)
    uri = f"http://127.0.0.1:{closed_port()}"
    started = time.monotonic()
    result = run(["dvc", "repro", "train@one_char-7"], root, env=pipeline_env({"MLFLOW_TRACKING_URI": uri}), check=False)
    elapsed = time.monotonic() - started
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert f"error: MLflow tracking server {uri} did not answer" in output
    assert "unset MLFLOW_TRACKING_URI" in output
    assert "Traceback" not in output
    assert elapsed < 10, f"took {elapsed:.1f}s"
    assert not list(root.glob("models/*.npz")) and not list(root.glob("models/*.run.json"))
    assert not (root / "mlflow.db").exists()
