"""The log stage killed with `kill -9` in the middle of logging to the embedded store, with
the real tools: the next `dvc repro` settles it.

The clone is test_team's: two framings (one stateless, one stateful) on the small-epoch
profile, committed. The faults of logging to the team server (a wrong password, a store moved
to the server and back, log stages racing) are in test_faults_tracking.py, on its one server.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from conftest import copy_of_shared, descendants, pipeline_env, read_store, run, stages_run
from team_helpers import EXPERIMENT_NAME, FRAMINGS

pytestmark = pytest.mark.e2e

LOG_STAGE = "alphabet_lstm.stages.log"


@pytest.fixture(scope="module")
def reproduced(tmp_path_factory, team_reproduced: Path) -> Path:
    """A committed two-framing clone after `dvc repro`, without the store it logged to (the
    test's log starts a new one): a copy, with no store to move and no `dvc repro` to run."""
    return copy_of_shared(team_reproduced, tmp_path_factory.mktemp("robust") / "repo")


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def running_runs(database: Path) -> list[str]:
    """RUNNING runs in an embedded store, read straight from SQLite (no MLflow import)."""
    if not database.exists():
        return []
    try:
        running = read_store(database, "SELECT run_uuid FROM runs WHERE status = 'RUNNING'", timeout=1)
        return [run_id for (run_id,) in running]
    except sqlite3.OperationalError:  # the tables are not there yet, or the store is busy
        return []


def kill_while_a_run_is_running(dvc_pid: int, database: Path) -> list[int]:
    """SIGKILL the log stage at a moment a run is RUNNING; an empty list if none is.

    The stage's processes (a shell may stand between DVC and Python) are frozen with SIGSTOP
    before the store is read again: between one look at the store and a plain kill, the run
    could finish, and the kill would land between runs.
    """
    stage = [pid for pid in descendants(dvc_pid) if LOG_STAGE in command_line(pid)]
    for pid in stage:
        os.kill(pid, signal.SIGSTOP)
    if running_runs(database):
        for pid in stage:
            os.kill(pid, signal.SIGKILL)
        return stage
    for pid in stage:
        os.kill(pid, signal.SIGCONT)
    return []


# Each live run of the experiment: its id, its status and its training's or the summary's key.
LIVE_RUNS = """
SELECT runs.run_uuid, runs.status, COALESCE(training.value, summary.value)
FROM runs JOIN experiments USING (experiment_id)
LEFT JOIN tags AS training ON training.run_uuid = runs.run_uuid AND training.key = 'training_key'
LEFT JOIN tags AS summary ON summary.run_uuid = runs.run_uuid AND summary.key = 'summary_key'
WHERE experiments.name = ? AND runs.lifecycle_stage = 'active'
"""


def live_runs(database: Path) -> list[tuple[str, str, str | None]]:
    """The experiment's live runs in an embedded store as (id, status, key)."""
    return read_store(database, LIVE_RUNS, EXPERIMENT_NAME)


def test_a_log_stage_killed_mid_log_leaves_no_run_hanging_and_no_duplicate(reproduced: Path):
    database = reproduced / "mlflow.db"
    # A store that has nothing yet (the copy has none): the forced log writes every run
    # again, and is killed with SIGKILL while the first of them is RUNNING.
    assert not database.exists()
    dvc = subprocess.Popen(
        ["dvc", "repro", "-f", "-s", "log"],
        cwd=reproduced,
        env=pipeline_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    killed: list[int] = []
    deadline = time.monotonic() + 300
    while not killed and time.monotonic() < deadline and dvc.poll() is None:
        if running_runs(database):
            killed = kill_while_a_run_is_running(dvc.pid, database)
        time.sleep(0.05)
    output = dvc.communicate(timeout=120)[0]
    assert killed, f"the log stage was not caught RUNNING:\n{output[-3000:]}"
    assert dvc.returncode != 0
    [hanging] = running_runs(database)

    # The next plain `dvc repro` reruns the log stage (its output is gone) and settles it.
    again = run(["dvc", "repro"], reproduced)
    assert stages_run(again.stdout) == ["log"]
    runs = live_runs(database)
    assert [run_id for run_id, status, _ in runs if status == "RUNNING"] == []
    statuses = {run_id: status for run_id, status, _ in runs}
    assert statuses[hanging] == "KILLED"
    finished = [key for _, status, key in runs if status == "FINISHED"]
    assert None not in finished, runs
    assert len(finished) == len(set(finished)) == len(FRAMINGS) + 1
    assert run(["dvc", "status", "log"], reproduced).stdout.strip() == "Data and pipelines are up to date."
