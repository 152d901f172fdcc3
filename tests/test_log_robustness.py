"""The log stage when things go wrong, with the real tools: a `kill -9` in the middle of
logging, the store moved to the team server (a wrong password, then the right one) and back,
two log stages racing for the same trainings on one server.

The clones are test_team's: two framings (one stateless, one stateful) on the small-epoch
profile, committed; the team server is PostgreSQL behind `mlflow server` with basic auth.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import time
import urllib.parse
from pathlib import Path

import pytest
import yaml
from conftest import REPO_ROOT, VENV_BIN, descendants, own_team_checkout, pipeline_env, run, stages_run
from team_helpers import (
    EXPERIMENT_NAME,
    FRAMINGS,
    SEED,
    SERVER_SCRIPT,
    embedded_runs,
    exported_lines,
    login,
    rest_json,
    use_store,
)

pytestmark = pytest.mark.e2e

LOG_STAGE = "alphabet_lstm.stages.log"
TEMPLATES = [
    "--model",
    "models/{framing}/seed{seed}.npz",
    "--history",
    "metrics/history/{framing}/seed{seed}.csv",
    "--evaluation",
    "metrics/evaluation/{framing}/seed{seed}.json",
    "--predictions",
    "metrics/predictions/{framing}/seed{seed}.csv",
    "--patterns",
    "data/patterns/{framing}.json",
    "--encoded",
    "data/encoded/{framing}.npz",
    "--report-dir",
    "reports",
]


@pytest.fixture(scope="module")
def reproduced(tmp_path_factory, team_reproduced: Path) -> Path:
    """A committed two-framing clone after `dvc repro` (logged to its own store)."""
    return own_team_checkout(team_reproduced, tmp_path_factory.mktemp("robust") / "repo")


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
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=1) as connection:
            return [row[0] for row in connection.execute("SELECT run_uuid FROM runs WHERE status = 'RUNNING'")]
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


def runs_by_status(uri: str) -> list:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(EXPERIMENT_NAME)
    return client.search_runs([experiment.experiment_id], max_results=1000)


def test_a_log_stage_killed_mid_log_leaves_no_run_hanging_and_no_duplicate(reproduced: Path):
    database = reproduced / "mlflow.db"
    # A store that has nothing yet: the forced log writes every run again, and is killed
    # with SIGKILL while the first of them is RUNNING.
    database.unlink()
    (reproduced / "mlflow.db.lock").unlink(missing_ok=True)
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
    runs = runs_by_status(f"sqlite:///{database}")
    assert [tracked.info.status for tracked in runs if tracked.info.status == "RUNNING"] == []
    statuses = {tracked.info.run_id: tracked.info.status for tracked in runs}
    assert statuses[hanging] == "KILLED"
    finished = [
        tracked.data.tags.get("training_key") or tracked.data.tags["summary_key"]
        for tracked in runs
        if tracked.info.status == "FINISHED"
    ]
    assert len(finished) == len(set(finished)) == len(FRAMINGS) + 1
    assert run(["dvc", "status", "log"], reproduced).stdout.strip() == "Data and pipelines are up to date."


@pytest.fixture(scope="module")
def alice(module_team_server) -> dict:
    """A teammate's account on the module's server (each test logs to an experiment of its own)."""
    added = run(
        ["bash", str(SERVER_SCRIPT), "add-user", "alice", "--dir", str(module_team_server.directory)], REPO_ROOT
    )
    return exported_lines(added.stdout)


def server_runs(uri: str, credentials: tuple[str, str], experiment_name: str = EXPERIMENT_NAME) -> list[dict]:
    experiment = rest_json(
        uri, "/api/2.0/mlflow/experiments/get-by-name?experiment_name=" + experiment_name, credentials=credentials
    )["experiment"]
    found = rest_json(
        uri,
        "/api/2.0/mlflow/runs/search",
        {"experiment_ids": [experiment["experiment_id"]], "max_results": 1000},
        credentials=credentials,
    )
    return [
        {
            "status": tracked["info"]["status"],
            "name": tracked["info"]["run_name"],
            "tags": {item["key"]: item["value"] for item in tracked["data"]["tags"]},
        }
        for tracked in found.get("runs", [])
    ]


def test_a_store_moved_to_the_server_and_back_is_logged_by_the_next_repro_even_after_a_wrong_password(
    module_team_server,
    alice: dict,
    reproduced: Path,
    tmp_path: Path,
):
    credentials = ("alice", alice["MLFLOW_TRACKING_PASSWORD"])
    root = tmp_path / "repo"
    run(["cp", "-a", str(reproduced), str(root)], tmp_path)
    (root / ".dvc" / "tmp" / "rwlock").unlink(missing_ok=True)
    local_runs = sorted(tracked["run_id"] for tracked in embedded_runs(root))

    # Logged to the embedded store already. The team names its server in params.yaml: DVC
    # sees the param change, and only the log stage's (validate checks the whole file).
    use_store(root, module_team_server.uri)
    changed = json.loads(run(["dvc", "status", "--json", "dvc.yaml"], root).stdout)
    assert set(changed) == {"validate", "log"}
    assert {"changed deps": {"params.yaml": {"tracking.uri": "modified"}}} in changed["log"]

    # A wrong password fails the stage before anything is logged, and leaves it to run again.
    wrong = pipeline_env({**login(alice), "MLFLOW_TRACKING_PASSWORD": "not-the-password"})
    failed = run(["dvc", "repro"], root, env=wrong, check=False)
    assert failed.returncode != 0
    assert (
        f"error: MLflow tracking server {module_team_server.uri} refused the user name and password of "
        "MLFLOW_TRACKING_USERNAME=alice (HTTP 401)" in failed.stderr
    )
    assert "log" in json.loads(run(["dvc", "status", "--json", "dvc.yaml"], root).stdout)

    # The right one: the next plain `dvc repro` logs every training and the summary there.
    logged = run(["dvc", "repro"], root, env=pipeline_env(login(alice)))
    assert stages_run(logged.stdout) == ["log"]
    runs = server_runs(module_team_server.uri, credentials)
    assert sorted(tracked["name"] for tracked in runs) == sorted(
        [f"{name}-seed{SEED}" for name in FRAMINGS] + ["summary@workspace"]
    )
    assert {tracked["status"] for tracked in runs} == {"FINISHED"}

    # Back to the embedded store: log runs again and finds every run there, adding none.
    use_store(root, "sqlite:///mlflow.db")
    back = run(["dvc", "repro"], root)
    assert stages_run(back.stdout) == ["validate", "log"]
    assert "(0 new runs" in back.stderr and "summary run" in back.stderr and "(already logged)" in back.stderr
    assert sorted(tracked["run_id"] for tracked in embedded_runs(root)) == local_runs
    assert run(["dvc", "status", "dvc.yaml"], root).stdout.strip() == "Data and pipelines are up to date."


RACERS = 2
RACE_EXPERIMENT = "alphabet-lstm-race"
# A log stage started from a barrier: each racer imports MLflow and the stage (seconds), marks
# itself ready, waits until every racer is, and only then logs, writing when it began and ended.
RACER = """
import json, sys, time
from pathlib import Path
from alphabet_lstm.stages import log
from alphabet_lstm.tracking import store
barrier, index, arguments = Path(sys.argv[1]), sys.argv[2], sys.argv[3:]
(barrier / f"ready-{index}").touch()
while len(list(barrier.glob("ready-*"))) < RACERS:
    time.sleep(0.005)
began = time.time()
log.main(arguments)
(barrier / f"span-{index}.json").write_text(json.dumps([began, time.time()]))
""".replace("RACERS", str(RACERS))


def logged_counts(stderr: str) -> tuple[int, int, str]:
    """New and already logged trainings, and the summary run's state, from the stage's line."""
    found = re.search(r"\((\d+) new runs, (\d+) already logged\), summary run \w+ \((new|already logged)\)", stderr)
    assert found, stderr[-3000:]
    return int(found[1]), int(found[2]), found[3]


def test_two_log_stages_racing_on_one_server_end_with_one_run_per_training(
    module_team_server,
    alice: dict,
    reproduced: Path,
    tmp_path: Path,
):
    # An experiment of the race's own on the module's server, both racers logged in as alice.
    credentials = ("alice", alice["MLFLOW_TRACKING_PASSWORD"])
    env = pipeline_env({**login(alice), "MLFLOW_EXPERIMENT_NAME": RACE_EXPERIMENT})
    # The clone's params with the server as the store, beside it (the shared clone stays as it is).
    params = yaml.safe_load((reproduced / "params.yaml").read_text())
    params["tracking"] = {"uri": module_team_server.uri}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    racers = [
        subprocess.Popen(
            [
                str(VENV_BIN / "python"),
                "-c",
                RACER,
                str(barrier),
                str(index),
                "--params",
                str(tmp_path / "params.yaml"),
                *TEMPLATES,
                "--out",
                str(tmp_path / f"logged-{index}.json"),
            ],
            cwd=reproduced,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for index in range(RACERS)
    ]
    said = []
    for racer in racers:
        _, stderr = racer.communicate(timeout=600)
        assert racer.returncode == 0, stderr[-3000:]
        said.append(stderr)
    # The two log stages were logging at the same time: each began before the other ended.
    spans = [json.loads((barrier / f"span-{index}.json").read_text()) for index in range(RACERS)]
    assert max(start for start, _ in spans) < min(end for _, end in spans), spans
    # Each training and the summary were written by one racer; the other gave way to it (found
    # the run the first was writing, or deleted its own twin) and reports it already logged.
    counts = [logged_counts(stderr) for stderr in said]
    assert sum(new for new, _, _ in counts) == len(FRAMINGS), said
    assert sum(already for _, already, _ in counts) == len(FRAMINGS), said
    assert sorted(summary for _, _, summary in counts) == ["already logged", "new"], said
    runs = server_runs(alice["MLFLOW_TRACKING_URI"], credentials, RACE_EXPERIMENT)
    live = [tracked for tracked in runs if tracked["status"] in ("RUNNING", "FINISHED")]
    keys = [tracked["tags"].get("training_key") or tracked["tags"]["summary_key"] for tracked in live]
    assert len(keys) == len(set(keys)) == len(FRAMINGS) + 1
    assert {tracked["status"] for tracked in live} == {"FINISHED"}
    # One registry version per framing, whichever racer created it.
    for name in FRAMINGS:
        versions = rest_json(
            alice["MLFLOW_TRACKING_URI"],
            "/api/2.0/mlflow/model-versions/search?filter=" + urllib.parse.quote(f"name='alphabet-lstm-{name}'"),
            credentials=credentials,
        )
        assert len(versions["model_versions"]) == 1, name
    # Both racers name the same trainings in their outputs.
    assert (tmp_path / "logged-0.json").read_text() == (tmp_path / "logged-1.json").read_text()
