"""Working as a team, with the real tools: a shared DVC remote between two clones, the team
MLflow server (PostgreSQL behind `mlflow server`, started by scripts/mlflow-server.sh), and
a queue of experiments run by two DVC workers writing to one MLflow store at once.

The clones run a cut of params.yaml (two framings, the small-epoch profile) to keep the
tests short; everything else is the project as a teammate has it.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
import warnings
from pathlib import Path
from typing import NamedTuple

import pytest
import yaml

from conftest import REPO_ROOT, SMALL_EPOCHS, make_clone, pipeline_env, run

SERVER_SCRIPT = REPO_ROOT / "scripts" / "mlflow-server.sh"
EXPERIMENT_NAME = "alphabet-lstm"
# A stateless and a stateful framing: the two code paths, at a third of the full profile's cost.
FRAMINGS = ("one_char", "stateful")
SEED = 7
QUEUE_TIMEOUT_SECONDS = 600
QUEUE_POLL_SECONDS = 10
WORKER_EXIT_SECONDS = 60


def stages_run(output: str) -> list[str]:
    """Names of the stages a `dvc repro` output says it ran."""
    return re.findall(r"Running stage '([^']+)'", output)


def team_clone(destination: Path) -> Path:
    """A committed clone on the small-epoch profile, cut to FRAMINGS."""
    root = make_clone(destination)
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["framings"] = {name: params["framings"][name] for name in FRAMINGS}
    tutorial = params.get("report", {}).get("tutorial_accuracy")
    if tutorial:
        params["report"]["tutorial_accuracy"] = {name: tutorial[name] for name in FRAMINGS if name in tutorial}
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    # Outputs copied from the main working tree belong to the full profile, not to this one.
    for leftover in ("data", "models", "metrics", "reports"):
        shutil.rmtree(root / leftover, ignore_errors=True)
    run(["git", "add", "-A"], root)
    run(["git", "commit", "-q", "-m", "Two framings"], root)
    return root


def output_files(root: Path) -> dict[str, bytes]:
    """Every file the pipeline wrote or pulled, by path relative to the checkout."""
    return {
        str(path.relative_to(root)): path.read_bytes()
        for folder in ("data", "models", "metrics", "reports")
        for path in sorted((root / folder).rglob("*"))
        if path.is_file()
    }


def embedded_runs(root: Path) -> list[dict]:
    """Every run in a checkout's embedded store, as plain dicts (status, tags, params, metrics)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(EXPERIMENT_NAME)
    return [
        {
            "run_id": tracked.info.run_id,
            "status": tracked.info.status,
            "tags": tracked.data.tags,
            "params": tracked.data.params,
            "metrics": tracked.data.metrics,
        }
        for tracked in client.search_runs([experiment.experiment_id], max_results=1000)
    ]


@pytest.fixture(scope="module")
def pusher(tmp_path_factory) -> Path:
    """A teammate's clone after `dvc repro` and the commit docs/team.md asks for."""
    root = team_clone(tmp_path_factory.mktemp("team") / "pusher")
    run(["dvc", "repro"], root)
    run(["git", "add", "dvc.lock", "metrics"], root)
    run(["git", "commit", "-q", "-m", "Reproduce"], root)
    return root


# --- 1. A DVC remote shared by the team ---------------------------------------------------


@pytest.mark.e2e
def test_teammate_pulls_what_was_pushed_and_retrains_nothing(pusher: Path, tmp_path: Path):
    # The documented commit leaves nothing behind: every file a teammate needs is in git or DVC.
    assert run(["git", "status", "--porcelain"], pusher).stdout == ""
    remote = tmp_path / "team-remote"
    run(["dvc", "remote", "add", "--default", "team", str(remote)], pusher)
    run(["git", "commit", "-q", "-m", "Team remote", ".dvc/config"], pusher)
    run(["dvc", "push"], pusher)

    teammate = tmp_path / "teammate"
    run(["git", "clone", "-q", str(pusher), str(teammate)], tmp_path)
    run(["dvc", "pull"], teammate)

    assert json.loads(run(["dvc", "status", "--json"], teammate).stdout) == {}
    result = run(["dvc", "repro"], teammate)
    assert stages_run(result.stdout) == []
    assert "Data and pipelines are up to date" in result.stdout
    # Nothing trained, so nothing was logged.
    assert not (teammate / "mlflow.db").exists()

    pushed, pulled = output_files(pusher), output_files(teammate)
    assert sorted(pulled) == sorted(pushed)
    assert "reports/report.md" in pulled and "metrics/summary.json" in pulled
    for name in FRAMINGS:
        assert f"models/{name}-seed{SEED}.npz" in pulled
        assert f"metrics/evaluation/{name}-seed{SEED}.json" in pulled
    for relative, content in pushed.items():
        assert pulled[relative] == content, f"{relative} differs between pusher and teammate"


# --- 2. The team MLflow server: PostgreSQL behind `mlflow server` -------------------------


def postgres_binaries() -> str | None:
    """Where initdb and pg_ctl are (Debian keeps them out of PATH), or None."""
    newest_first = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda path: [int(number) for number in re.findall(r"\d+", path)],
        reverse=True,
    )
    for candidate in newest_first:
        if os.access(os.path.join(candidate, "initdb"), os.X_OK):
            return candidate
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    return os.path.dirname(os.path.realpath(pg_ctl)) if initdb and pg_ctl else None


def free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


class TeamServer(NamedTuple):
    uri: str
    directory: Path
    pg_port: int


@pytest.fixture
def team_server():
    """A throwaway PostgreSQL cluster and `mlflow server`, started by scripts/mlflow-server.sh."""
    if postgres_binaries() is None:
        message = "PostgreSQL server binaries (initdb, pg_ctl) are not installed: apt-get install postgresql"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    # Under /tmp rather than pytest's private tmp_path: as root, PostgreSQL runs as the
    # postgres user, who must be able to reach its data directory.
    base = Path(tempfile.mkdtemp(prefix="alphabet-lstm-mlflow-server-", dir="/tmp" if os.geteuid() == 0 else None))
    base.chmod(0o755)
    server_dir = base / "server"
    port, pg_port = free_ports(2)
    common = ["--dir", str(server_dir)]
    try:
        started = run(
            ["bash", str(SERVER_SCRIPT), "start", *common, "--port", str(port), "--pg-port", str(pg_port), "--workers", "1"],
            REPO_ROOT,
            timeout=600,
        )
        uri = started.stdout.strip().splitlines()[-1].removeprefix("export MLFLOW_TRACKING_URI=")
        assert uri == f"http://127.0.0.1:{port}"
        yield TeamServer(uri, server_dir, pg_port)
    finally:
        run(["bash", str(SERVER_SCRIPT), "stop", *common], REPO_ROOT, check=False, timeout=300)
        shutil.rmtree(base, ignore_errors=True)


def rest(uri: str, path: str, body: dict | None = None) -> bytes:
    """One call to the server's REST API: GET, or POST with a JSON body."""
    request = urllib.request.Request(
        uri + path,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="GET" if body is None else "POST",
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.read()


def rest_json(uri: str, path: str, body: dict | None = None) -> dict:
    return json.loads(rest(uri, path, body))


@pytest.mark.e2e
def test_pipeline_logs_to_team_server_as_to_embedded_store(team_server, pusher: Path, tmp_path: Path):
    uri = team_server.uri
    root = team_clone(tmp_path / "repo")
    run(["dvc", "repro"], root, env=pipeline_env({"MLFLOW_TRACKING_URI": uri}))
    assert not (root / "mlflow.db").exists()
    # The runs are rows in PostgreSQL, read here past the server.
    count = run(
        [
            os.path.join(postgres_binaries(), "psql"), "-h", "127.0.0.1", "-p", str(team_server.pg_port),
            "-U", "mlflow", "-d", "mlflow", "-tAc", "SELECT count(*) FROM runs WHERE status = 'FINISHED'",
        ],
        tmp_path,
        env=pipeline_env({"PGPASSFILE": str(team_server.directory / "pgpass")}),
    )
    assert int(count.stdout) == len(FRAMINGS)

    experiment = rest_json(uri, "/api/2.0/mlflow/experiments/get-by-name?experiment_name=" + EXPERIMENT_NAME)
    experiment_id = experiment["experiment"]["experiment_id"]
    assert experiment["experiment"]["artifact_location"].startswith("mlflow-artifacts:")
    runs = rest_json(uri, "/api/2.0/mlflow/runs/search", {"experiment_ids": [experiment_id], "max_results": 100})
    runs = runs["runs"]
    assert sorted(tracked["info"]["run_name"] for tracked in runs) == sorted(f"{name}-seed{SEED}" for name in FRAMINGS)

    reference = {
        tracked["tags"]["framing"]: tracked
        for tracked in embedded_runs(pusher)
        if tracked["tags"]["dvc_exp_name"] == "workspace"
    }
    for tracked in runs:
        info, data = tracked["info"], tracked["data"]
        params = {item["key"]: item["value"] for item in data["params"]}
        tags = {item["key"]: item["value"] for item in data["tags"]}
        metrics = {item["key"]: item["value"] for item in data["metrics"]}
        framing, run_id = tags["framing"], info["run_id"]
        embedded = reference[framing]
        assert info["status"] == "FINISHED"
        assert params == embedded["params"]
        assert params["epochs"] == str(SMALL_EPOCHS)
        for key in ("framing", "seed", "engine", "dvc_stage", "dvc_exp_name"):
            assert tags[key] == embedded["tags"][key]
        assert set(metrics) == set(embedded["metrics"])
        for key in ("accuracy", "loss"):
            assert metrics[key] == pytest.approx(embedded["metrics"][key], abs=1e-12)

        # Step metrics: one point per epoch, the values the history CSV and the embedded store hold.
        history_rows = (root / "metrics" / "history" / f"{framing}-seed{SEED}.csv").read_text().splitlines()[1:]
        from mlflow.tracking import MlflowClient

        embedded_client = MlflowClient(f"sqlite:///{pusher / 'mlflow.db'}")
        for key, column in (("epoch_loss", 1), ("epoch_accuracy", 2)):
            query = urllib.parse.urlencode({"run_id": run_id, "metric_key": key})
            points = rest_json(uri, f"/api/2.0/mlflow/metrics/get-history?{query}")["metrics"]
            assert [point["step"] for point in points] == list(range(1, SMALL_EPOCHS + 1))
            assert [point["value"] for point in points] == pytest.approx(
                [float(row.split(",")[column]) for row in history_rows], abs=1e-6
            )
            embedded_points = embedded_client.get_metric_history(embedded["run_id"], key)
            assert [point["value"] for point in points] == [point.value for point in embedded_points]

        # Artifacts went through the server to its artifact store, and read back the same.
        listing = rest_json(uri, f"/api/2.0/mlflow/artifacts/list?run_id={run_id}")
        assert {item["path"] for item in listing["files"]} == {"predictions.json", "model"}
        model_listing = rest_json(uri, f"/api/2.0/mlflow/artifacts/list?run_id={run_id}&path=model")
        assert [item["path"] for item in model_listing["files"]] == ["model/model.npz"]
        served = f"/api/2.0/mlflow-artifacts/artifacts/{experiment_id}/{run_id}/artifacts"
        table = json.loads(rest(uri, f"{served}/predictions.json"))
        embedded_artifacts = Path(embedded_client.get_run(embedded["run_id"]).info.artifact_uri.removeprefix("file://"))
        assert table == json.loads((embedded_artifacts / "predictions.json").read_text())
        assert table["columns"][:5] == ["input", "expected", "predicted", "probability", "correct"]
        model = rest(uri, f"{served}/model/model.npz")
        assert model == (root / "models" / f"{framing}-seed{SEED}.npz").read_bytes()
        assert model == (embedded_artifacts / "model" / "model.npz").read_bytes()

        run_info = json.loads((root / "models" / f"{framing}-seed{SEED}.run.json").read_text())
        assert run_info == {"run_id": run_id, "run_name": f"{framing}-seed{SEED}", "tracking_uri": uri}


def test_server_script_refuses_unknown_options():
    result = run(["bash", str(SERVER_SCRIPT), "start", "--prot", "5000"], REPO_ROOT, check=False)
    assert result.returncode != 0
    assert "unknown option --prot" in result.stderr


# --- 3. Parallel experiments: the DVC queue with two workers, one MLflow store ------------

# Each experiment changes one thing; against the committed baseline, exactly these train
# stages re-run (unchanged ones are skipped, and no two experiments share a train signature,
# so DVC's run-cache cannot stand in for any of them).
QUEUED = {
    "units-8": (["framings.one_char.units=8"], {("one_char", 7): {"units": "8"}}),
    "units-12": (["framings.stateful.units=12"], {("stateful", 7): {"units": "12"}}),
    "epochs-4": (["framings.one_char.epochs=4"], {("one_char", 7): {"epochs": "4"}}),
    "seeds-7-8": (["seeds=[7,8]"], {("one_char", 8): {}, ("stateful", 8): {}}),
}


def start_queue_workers(root: Path, jobs: int) -> None:
    """`dvc queue start`, returning as soon as the workers are spawned.

    dvc-task forks a helper per worker that keeps this command's stdout and stderr open
    until its worker exits: capturing them through pipes would wait for the whole queue,
    with no chance to look at it meanwhile. They go to a file instead.
    """
    log = root / ".dvc" / "tmp" / "queue-start.log"
    with log.open("w") as output:
        result = subprocess.run(
            ["dvc", "queue", "start", "--jobs", str(jobs)],
            cwd=root, env=pipeline_env(), stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
            timeout=120,
        )
    assert result.returncode == 0, log.read_text()


def queue_status(root: Path) -> tuple[bool, bool, str]:
    """Whether every experiment has finished, whether every worker has gone, and the status text."""
    status = run(["dvc", "queue", "status"], root).stdout
    finished = not re.search(r"\b(Queued|Running)\b", status)
    workers = re.search(r"Worker status: (\d+) active, (\d+) idle", status)
    gone = workers is None or workers.groups() == ("0", "0")
    return finished, gone, status


def wait_for_workers_to_leave(root: Path) -> tuple[bool, str]:
    deadline = time.monotonic() + WORKER_EXIT_SECONDS
    gone, status = False, ""
    while not gone and time.monotonic() < deadline:
        time.sleep(QUEUE_POLL_SECONDS / 2)
        _, gone, status = queue_status(root)
    return gone, status


def experiment_log(root: Path, name: str) -> str:
    """The tail of `dvc queue logs <name>`: what one queued experiment printed."""
    logs = run(["dvc", "queue", "logs", name], root, check=False, timeout=60)
    return f"--- dvc queue logs {name}\n{logs.stdout[-4000:]}{logs.stderr[-2000:]}"


def queue_diagnostics(root: Path, names) -> str:
    """What a stalled queue looks like: each experiment's log, each worker's log, the processes."""
    parts = [experiment_log(root, name) for name in names]
    for worker_log in sorted((root / ".dvc" / "tmp" / "exps" / "celery").glob("*.out")):
        parts.append(f"--- {worker_log.name}\n{worker_log.read_text(errors='replace')[-3000:]}")
    parts.append("--- processes (pid, command)\n" + "\n".join(pipeline_processes()))
    return "\n".join(parts)


def pipeline_processes() -> list[str]:
    """The DVC and pipeline processes alive on this machine, from /proc (no `ps` needed)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            command = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:  # it exited meanwhile
            continue
        if "dvc" in command or "alphabet_lstm" in command:
            found.append(f"{cmdline.parent.name} {command}")
    return found


def wait_for_queue(root: Path, names) -> str:
    """Poll until every experiment has finished and the workers have gone; return the status.

    On a stall, fail with what the queue and its workers were doing, after stopping the
    workers so that nothing outlives the test.
    """
    def fail(reason: str, status: str) -> None:
        diagnostics = queue_diagnostics(root, names)
        run(["dvc", "queue", "stop", "--kill"], root, check=False, timeout=120)
        pytest.fail(f"{reason}:\n{status}\n{diagnostics}")

    # Each `dvc queue status` costs a DVC start-up, so look every so often only.
    deadline = time.monotonic() + QUEUE_TIMEOUT_SECONDS
    finished, gone, status = False, False, ""
    while not finished and time.monotonic() < deadline:
        time.sleep(QUEUE_POLL_SECONDS)
        finished, gone, status = queue_status(root)
    if not finished:
        fail(f"the queue did not finish in {QUEUE_TIMEOUT_SECONDS}s", status)
    if not gone:
        gone, status = wait_for_workers_to_leave(root)
    if not gone:
        # dvc-task's idle check (every ~10 s) let a worker stay: `dvc queue stop`, what a
        # user would run, asks it to leave. Not our pipeline's doing, but worth seeing.
        warnings.warn(f"a queue worker stayed after the queue emptied; stopping it:\n{status}")
        run(["dvc", "queue", "stop"], root, timeout=120)
        gone, status = wait_for_workers_to_leave(root)
        if not gone:
            fail(f"the workers did not exit within {WORKER_EXIT_SECONDS}s of `dvc queue stop`", status)
    return status


def experiment_metrics(shown: list[dict]) -> dict[str, dict]:
    """`dvc exp show --json` -> {experiment name: {metrics file: its data}}."""
    found = {}
    for baseline in shown:
        for experiment in baseline.get("experiments") or []:
            for revision in experiment["revs"]:
                data = revision.get("data") or {}
                found[revision["name"]] = {
                    path: entry.get("data") for path, entry in (data.get("metrics") or {}).items()
                }
    return found


@pytest.mark.e2e
def test_queued_experiments_with_two_workers(pusher: Path):
    for name, (settings, _) in QUEUED.items():
        command = ["dvc", "exp", "run", "--queue", "--name", name]
        for setting in settings:
            command += ["--set-param", setting]
        run(command, pusher)
    start_queue_workers(pusher, jobs=2)
    status = wait_for_queue(pusher, QUEUED)
    for name in QUEUED:
        if not re.search(rf"{re.escape(name)}\s.*Success", status):
            pytest.fail(f"{name} did not succeed:\n{status}\n{experiment_log(pusher, name)}")
    # The executors' temporary copies are gone (they lived under .dvc/tmp/exps/).
    assert not list((pusher / ".dvc" / "tmp" / "exps").glob("tmp*"))

    metrics = experiment_metrics(json.loads(run(["dvc", "exp", "show", "--json"], pusher).stdout))
    assert set(QUEUED) <= set(metrics)

    runs = embedded_runs(pusher)
    assert all(tracked["status"] == "FINISHED" for tracked in runs)
    by_experiment: dict[str, list[dict]] = {}
    for tracked in runs:
        by_experiment.setdefault(tracked["tags"]["dvc_exp_name"], []).append(tracked)
    # The baseline's runs, then exactly the re-run train stages of each experiment: none lost,
    # none duplicated, each tagged with its own experiment.
    assert sorted(by_experiment) == sorted(["workspace", *QUEUED])
    assert len(by_experiment["workspace"]) == len(FRAMINGS)
    assert len(runs) == len(FRAMINGS) + sum(len(expected) for _, expected in QUEUED.values())
    for name, (_, expected) in QUEUED.items():
        logged = {(tracked["tags"]["framing"], int(tracked["tags"]["seed"])): tracked for tracked in by_experiment[name]}
        assert sorted(logged) == sorted(expected), name
        for (framing, seed), changed in expected.items():
            tracked = logged[(framing, seed)]
            assert {key: tracked["params"][key] for key in changed} == changed
            evaluation = metrics[name][f"metrics/evaluation/{framing}-seed{seed}.json"]
            # The run's training accuracy is the one the experiment's evaluation recorded.
            assert tracked["metrics"]["accuracy"] == pytest.approx(evaluation["accuracy"]), name
        assert metrics[name]["metrics/summary.json"]

    # The concurrent writers left the store consistent.
    with sqlite3.connect(pusher / "mlflow.db") as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_main_checkout_root_from_queue_executor_copy(tmp_path: Path):
    """Stages of queued experiments run in <root>/.dvc/tmp/exps/tmpXXXX (DVC 3.x TempDirExecutor)."""
    from alphabet_lstm.tracking import default_tracking_uri, main_checkout_root

    root = tmp_path / "checkout"
    copy = root / ".dvc" / "tmp" / "exps" / "tmpab12cd34"
    (copy / ".dvc").mkdir(parents=True)
    (copy / "dvc.yaml").write_text("stages: {}\n")
    (root / "dvc.yaml").write_text("stages: {}\n")
    assert main_checkout_root(copy) == root
    assert main_checkout_root(copy / "src") == root
    assert default_tracking_uri(copy) == f"sqlite:///{root / 'mlflow.db'}"
