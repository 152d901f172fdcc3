"""The log stage at the cost of what is new: runs its ledger names are not asked of the store.

A real SQLite store, on outputs made by the real stages (two framings on the small-epoch
profile). The first log, and the one that must import no MLflow, run the stage in its own
process, as DVC runs it; the later logs into a copy of the store run its entry point in the
test process (test_tracking.log_in_this_process), where MLflow is already imported.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import copy_with_store
from test_tracking import LOG_ARGS, log_in_this_process, produce_outputs, stage_env, write_params

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


def later_log(root: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """A later log stage, keeping the ledger at LEDGER, run in this process; the ledger it
    leaves names every run of the store (it wrote it, for this store, after logging)."""
    result = log_in_this_process(root, env, ledger=LEDGER)
    assert result.returncode == 0, result.stderr[-3000:]
    ledger = read_ledger(root / LEDGER, f"sqlite:///{root / 'mlflow.db'}", set())
    assert set(ledger.runs.values()) == {run.info.run_id for run in store_runs(root)}
    return result


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


@pytest.fixture(scope="module")
def first_log(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """A workspace of the two framings' outputs, after its first log stage, and that stage's
    result: made once for the module (a first log creates the store, the costliest log)."""
    root = tmp_path_factory.mktemp("ledger") / "repo"
    root.mkdir()
    write_params(root, FRAMINGS)
    with contextlib.chdir(root):
        produce_outputs(root, FRAMINGS)
    return root, log_stage(root)


@pytest.fixture
def logged(first_log, tmp_path: Path) -> Path:
    """A test's own copy of the logged workspace: its store, artifacts and ledger name the
    copy's paths, as if the copy had logged them itself."""
    source, _ = first_log
    root = copy_with_store(source, tmp_path / "repo")
    (root / LEDGER).parent.mkdir(parents=True, exist_ok=True)
    (root / LEDGER).write_text((source / LEDGER).read_text().replace(str(source.resolve()), str(root.resolve())))
    return root


def test_a_repro_that_logged_everything_before_imports_no_mlflow(first_log, logged: Path):
    source, first = first_log
    assert "(2 new runs, 0 already logged)" in summary_line(first) and imported_mlflow(first)
    uri = f"sqlite:///{source / 'mlflow.db'}"
    assert len(read_ledger(source / LEDGER, uri, set()).runs) == 3  # two trainings and the summary

    again = log_stage(logged)
    assert "(0 new runs, 2 already logged)" in summary_line(again)
    assert not imported_mlflow(again), "the ledger held every run: MLflow must not be imported"
    assert (logged / "mlflow-logged.json").read_bytes() == (source / "mlflow-logged.json").read_bytes()
    assert len(store_runs(logged)) == 3


def test_one_retrained_framing_logs_one_training_and_the_summary(logged: Path):
    # variable_length retrained with another batch size; one_char is unchanged.
    write_params(logged, FRAMINGS, variable_length={"batch_size": 2})
    with contextlib.chdir(logged):
        produce_outputs(logged, ("variable_length",))
    result = later_log(logged)
    assert "(1 new runs, 1 already logged)" in summary_line(result) and "(new)" in summary_line(result)
    kinds = sorted(run.data.tags["run_kind"] for run in store_runs(logged))
    assert kinds == ["summary", "summary", "training", "training", "training"]


def test_another_experiment_gets_its_summary_from_the_store(logged: Path):
    result = later_log(logged, {"DVC_EXP_NAME": "other-exp"})
    assert "(0 new runs, 2 already logged)" in summary_line(result) and "(new) for other-exp" in summary_line(result)
    assert sorted(run.data.tags["run_kind"] for run in store_runs(logged)) == [
        "summary",
        "summary",
        "training",
        "training",
    ]


def test_a_store_deleted_since_is_logged_to_again(logged: Path):
    (logged / "mlflow.db").unlink()
    shutil.rmtree(logged / "mlartifacts")
    result = later_log(logged)
    assert "(2 new runs, 0 already logged)" in summary_line(result)
    assert len(store_runs(logged)) == 3
    assert list(json.loads((logged / LEDGER).read_text())) == [f"sqlite:///{logged / 'mlflow.db'}"]


def test_a_run_deleted_from_the_store_is_logged_again(logged: Path):
    from mlflow.tracking import MlflowClient

    training = next(run for run in store_runs(logged) if run.data.tags.get("framing") == "one_char")
    MlflowClient(f"sqlite:///{logged / 'mlflow.db'}").delete_run(training.info.run_id)
    result = later_log(logged)
    assert "(1 new runs, 1 already logged)" in summary_line(result)
