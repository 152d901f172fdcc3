"""The log stage at the cost of what is new: runs its ledger names are not asked of the store.

A real SQLite store and the log stage in its own process, as DVC runs it, on outputs made by
the real stages (two framings on the small-epoch profile).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_tracking import LOG_ARGS, produce_outputs, stage_env, write_params

from alphabet_lstm.tracking.ledger import read_ledger

pytestmark = pytest.mark.slow

FRAMINGS = ("one_char", "variable_length")
LEDGER = ".dvc/tmp/mlflow-ledger.json"


def log_stage(root: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """The log stage in its own process, with Python's import log on stderr (-X importtime)."""
    return subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-m",
            "alphabet_lstm.stages.log",
            *LOG_ARGS,
            "--out",
            "mlflow-logged.json",
            "--ledger",
            LEDGER,
        ],
        cwd=root,
        env=stage_env(env),
        capture_output=True,
        text=True,
        timeout=900,
    )


def summary_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stderr[-3000:]
    return next(line for line in result.stderr.splitlines() if line.startswith("MLflow "))


def imported_mlflow(result: subprocess.CompletedProcess) -> bool:
    """Whether -X importtime's log names mlflow or one of its modules."""
    names = (line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:"))
    return any(name == "mlflow" or name.startswith("mlflow.") for name in names)


def store_runs(root: Path) -> list:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("alphabet-lstm")
    return client.search_runs([experiment.experiment_id], max_results=100)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    write_params(root, FRAMINGS)
    with contextlib.chdir(root):
        produce_outputs(root, FRAMINGS)
    return root


def test_a_repro_that_logged_everything_before_imports_no_mlflow(workspace: Path):
    first = log_stage(workspace)
    assert "(2 new runs, 0 already logged)" in summary_line(first) and imported_mlflow(first)
    manifest = (workspace / "mlflow-logged.json").read_bytes()
    uri = f"sqlite:///{workspace / 'mlflow.db'}"
    assert len(read_ledger(workspace / LEDGER, uri, set()).runs) == 3  # two trainings and the summary

    again = log_stage(workspace)
    assert "(0 new runs, 2 already logged)" in summary_line(again)
    assert not imported_mlflow(again), "the ledger held every run: MLflow must not be imported"
    assert (workspace / "mlflow-logged.json").read_bytes() == manifest
    assert len(store_runs(workspace)) == 3


def test_one_retrained_framing_logs_one_training_and_the_summary(workspace: Path):
    log_stage(workspace)
    # variable_length retrained with another batch size; one_char is unchanged.
    write_params(workspace, FRAMINGS, variable_length={"batch_size": 2})
    with contextlib.chdir(workspace):
        produce_outputs(workspace, ("variable_length",))
    result = log_stage(workspace)
    assert "(1 new runs, 1 already logged)" in summary_line(result) and "(new)" in summary_line(result)
    kinds = sorted(run.data.tags["run_kind"] for run in store_runs(workspace))
    assert kinds == ["summary", "summary", "training", "training", "training"]


def test_another_experiment_gets_its_summary_from_the_store(workspace: Path):
    log_stage(workspace)
    result = log_stage(workspace, {"DVC_EXP_NAME": "other-exp"})
    assert "(0 new runs, 2 already logged)" in summary_line(result) and "(new) for other-exp" in summary_line(result)
    assert sorted(run.data.tags["run_kind"] for run in store_runs(workspace)) == [
        "summary",
        "summary",
        "training",
        "training",
    ]


def test_a_store_deleted_since_is_logged_to_again(workspace: Path):
    log_stage(workspace)
    (workspace / "mlflow.db").unlink()
    shutil.rmtree(workspace / "mlartifacts")
    result = log_stage(workspace)
    assert "(2 new runs, 0 already logged)" in summary_line(result)
    assert len(store_runs(workspace)) == 3
    assert list(json.loads((workspace / LEDGER).read_text())) == [f"sqlite:///{workspace / 'mlflow.db'}"]


def test_a_run_deleted_from_the_store_is_logged_again(workspace: Path):
    from mlflow.tracking import MlflowClient

    log_stage(workspace)
    training = next(run for run in store_runs(workspace) if run.data.tags.get("framing") == "one_char")
    MlflowClient(f"sqlite:///{workspace / 'mlflow.db'}").delete_run(training.info.run_id)
    result = log_stage(workspace)
    assert "(1 new runs, 1 already logged)" in summary_line(result)
