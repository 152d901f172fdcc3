"""The team server as its admin runs it (scripts/mlflow-server.sh): accounts removed and
re-passworded and refused within 5 s on every request, secrets private from the first start,
a backup restored into a new directory with the same runs and logins, failing commands that
print no secret; and a teammate's pipeline logged through it with a login.

One server for the module (a start costs PostgreSQL's initdb and MLflow's migrations, some
20 s of CPU), with two workers: a login cached by the worker that did not make the change is
what a revocation has to outlive. Each test uses users of its own on it.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
import urllib.error
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import (
    REPO_ROOT,
    VENV_BIN,
    alphabet_lstm,
    commands_serialized_in,
    copy_of_shared,
    pipeline_env,
    run,
    stages_run,
)
from team_helpers import (
    EXPERIMENT_NAME,
    FRAMINGS,
    SECRET_FILES,
    SEED,
    SERVER_SCRIPT,
    TeamServer,
    add_user,
    admin_login,
    embedded_runs,
    free_ports,
    login,
    login_status,
    rest,
    rest_json,
    running_team_server,
    server_command,
    teammate_account,
    training_keys,
    use_store,
)

# What the script promises: a removed user or a changed password is refused within this.
REVOCATION_SECONDS = 5
# Requests before the change, so that both workers have the login cached.
WARM_UP_REQUESTS = 20
# How long requests keep coming after the change: past the promise, to see it hold.
WATCH_SECONDS = REVOCATION_SECONDS + 3
# A pause between one login's requests: some twenty a second, each worker seeing many of them
# past the promise, rather than a flood that leaves the admin's commands no CPU (a change under
# a flood took 11 s instead of 4).
REQUEST_PAUSE_SECONDS = 0.05


@pytest.fixture(scope="module")
def server() -> Iterator[TeamServer]:
    with running_team_server("--workers", "2") as started:
        yield started


def private_files(directory: Path) -> dict[str, int]:
    """The mode of every file in a server's secrets directory, and of the directory itself."""
    secrets = directory / "secrets"
    modes = {path.name: path.stat().st_mode & 0o777 for path in secrets.iterdir()}
    return {"secrets/": secrets.stat().st_mode & 0o777, **modes}


def watch_logins(uri: str, revocations: dict[tuple[str, str], Callable[[], object]]) -> dict:
    """Send requests with each login of ``revocations``, each from a thread of its own,
    before, during and for WATCH_SECONDS after its revocation (the revocations run one after
    the other); return, by login, when its revocation returned and each request's (start,
    status)."""
    statuses: dict[tuple[str, str], list[tuple[float, int]]] = {credentials: [] for credentials in revocations}
    revoked: dict[tuple[str, str], float] = {}
    stop = threading.Event()

    def hammer(credentials: tuple[str, str]) -> None:
        while not stop.wait(REQUEST_PAUSE_SECONDS):
            started = time.monotonic()
            statuses[credentials].append((started, login_status(uri, credentials)))

    for credentials in revocations:
        for _ in range(WARM_UP_REQUESTS):
            assert login_status(uri, credentials) == 200
    threads = [threading.Thread(target=hammer, args=(credentials,)) for credentials in revocations]
    for thread in threads:
        thread.start()
    try:
        for credentials, revoke in revocations.items():
            revoke()
            revoked[credentials] = time.monotonic()
        time.sleep(WATCH_SECONDS)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    return {credentials: (revoked[credentials], statuses[credentials]) for credentials in revocations}


def assert_refused_within_promise(revoked: float, statuses: list[tuple[float, int]]) -> float:
    """Every request started REVOCATION_SECONDS after the revocation was refused (and some
    were sent then); return how late after it the last one was accepted (0 if none was)."""
    late = [(round(started - revoked, 2), status) for started, status in statuses if started > revoked]
    after_promise = [status for started, status in late if started >= REVOCATION_SECONDS]
    assert after_promise and set(after_promise) == {401}, late
    accepted = [started for started, status in late if status == 200]
    return max(accepted, default=0.0)


def command(server: TeamServer, *arguments: str) -> None:
    server_command(server.directory, *arguments)


@pytest.mark.system
def test_secrets_are_mode_600_in_a_700_directory_from_the_first_start(server: TeamServer):
    modes = private_files(server.directory)
    assert set(SECRET_FILES) <= set(modes)
    assert modes == {"secrets/": 0o700, **{name: 0o600 for name in modes if name != "secrets/"}}
    # Nothing secret is left beside the rest of the server (logs, settings, artifacts).
    assert not any((server.directory / name).exists() for name in SECRET_FILES)


@pytest.mark.system
def test_removed_user_and_changed_password_are_refused_within_5_s(server: TeamServer):
    alice, bob = teammate_account(server, "alice"), teammate_account(server, "bob")
    old = ("alice", alice["MLFLOW_TRACKING_PASSWORD"])
    removed = ("bob", bob["MLFLOW_TRACKING_PASSWORD"])
    # Both logins watched at once: the password changed first, then the user removed.
    watched = watch_logins(
        server.uri,
        {
            old: lambda: command(server, "set-password", "alice"),
            removed: lambda: command(server, "remove-user", "bob"),
        },
    )
    changed_lag = assert_refused_within_promise(*watched[old])
    removed_lag = assert_refused_within_promise(*watched[removed])
    print(f"old password last accepted {changed_lag:.2f} s, removed user {removed_lag:.2f} s after the command")

    listed = server_command(server.directory, "list-users").stdout.split("\n")
    assert listed == ["admin  (admin)", "alice", ""]


@pytest.mark.system
def test_set_password_admin_changes_the_credentials_file(server: TeamServer):
    old = admin_login(server.directory)
    changed = server_command(server.directory, "set-password", "admin")
    new = admin_login(server.directory)
    assert new[1] != old[1] and f"export MLFLOW_TRACKING_PASSWORD={new[1]}\n" in changed.stdout
    assert private_files(server.directory)["admin-credentials"] == 0o600
    assert login_status(server.uri, new) == 200
    deadline = time.monotonic() + REVOCATION_SECONDS
    while login_status(server.uri, old) != 401:
        assert time.monotonic() < deadline, "admin's old password still accepted"
    # The next commands log in with the new one.
    assert "admin  (admin)" in server_command(server.directory, "list-users").stdout


@pytest.mark.system
def test_user_commands_fail_in_one_line_naming_the_problem(server: TeamServer):
    for arguments, expected in [
        (("remove-user", "nobody"), "there is no user 'nobody' (list-users names them); nothing changed"),
        (("remove-user", "admin"), "admin cannot be removed (set-password admin changes its password)"),
        (("remove-user",), "remove-user needs the teammate's user name"),
        (("backup",), "backup needs the backup directory"),
    ]:
        result = server_command(server.directory, *arguments, check=False)
        assert result.returncode != 0 and result.stdout == "", result
        assert result.stderr.count("\n") == 1 and expected in result.stderr, result.stderr


@contextlib.contextmanager
def client_of(uri: str, credentials: tuple[str, str]) -> Iterator:
    """An MLflow client of the server at ``uri`` with a teammate's login, in this process (MLflow
    reads the login from the environment at each request)."""
    from mlflow import MlflowClient

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_USERNAME", credentials[0])
        patch.setenv("MLFLOW_TRACKING_PASSWORD", credentials[1])
        patch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        yield MlflowClient(uri)


def log_runs(uri: str, credentials: tuple[str, str], count: int) -> None:
    """``count`` runs through the server with a teammate's login: params, metrics, an artifact."""
    with client_of(uri, credentials) as client:
        experiment_id = client.create_experiment("backup-check")
        for index in range(count):
            run_id = client.create_run(experiment_id, run_name=f"run-{index}").info.run_id
            client.log_param(run_id, "index", index)
            client.log_metric(run_id, "accuracy", index / 10, step=index)
            client.log_text(run_id, f"artifact {index}\n" * 100, "notes/text.txt")
            client.set_terminated(run_id)


def snapshot(uri: str, credentials: tuple[str, str], download: Path) -> dict[str, dict]:
    """Every run of the backup-check experiment: its metrics, params and artifact bytes."""
    download.mkdir(parents=True)
    found = {}
    with client_of(uri, credentials) as client:
        experiment = client.get_experiment_by_name("backup-check")
        for tracked in client.search_runs([experiment.experiment_id]):
            run_id = tracked.info.run_id
            (download / run_id).mkdir()
            folder = Path(client.download_artifacts(run_id, "notes", str(download / run_id)))
            found[run_id] = {
                "name": tracked.info.run_name,
                "params": tracked.data.params,
                "metrics": tracked.data.metrics,
                "history": [(metric.step, metric.value) for metric in client.get_metric_history(run_id, "accuracy")],
                "status": tracked.info.status,
                "artifact": (folder / "text.txt").read_text(),
            }
    return found


@pytest.mark.system
def test_backup_restores_into_a_new_directory_with_the_same_runs_and_logins(server: TeamServer, tmp_path: Path):
    carol = teammate_account(server, "carol")
    credentials = ("carol", carol["MLFLOW_TRACKING_PASSWORD"])
    log_runs(server.uri, credentials, count=3)
    before = snapshot(server.uri, credentials, tmp_path / "before")
    assert len(before) == 3

    backup = tmp_path / "backup"
    server_command(server.directory, "backup", str(backup))
    assert backup.stat().st_mode & 0o777 == 0o700
    assert {path.name: path.stat().st_mode & 0o777 for path in backup.iterdir()} == {
        name: 0o600
        for name in ("mlflow.pgdump", "basic_auth.db", "admin-credentials", "pgpass", "flask-secret", "artifacts.tar")
    }
    users = server_command(server.directory, "list-users").stdout

    restored = server.directory.parent / "restored"
    port, pg_port = free_ports(2)
    server_command(restored, "restore", str(backup))
    # Laid out as the script's previous version left a server (secrets beside the rest, the user
    # database readable by all): its next start moves them in and tightens them.
    for secret in (restored / "secrets").iterdir():
        secret.chmod(0o644)
        secret.rename(restored / secret.name)
    (restored / "secrets").rmdir()
    started = False
    try:
        run(
            ["bash", str(SERVER_SCRIPT), "start", "--dir", str(restored)]
            + ["--port", str(port), "--pg-port", str(pg_port), "--workers", "1"],
            REPO_ROOT,
            timeout=600,
        )
        started = True
        uri = f"http://127.0.0.1:{port}"
        after = snapshot(uri, credentials, tmp_path / "after")
        assert after == before
        assert server_command(restored, "list-users").stdout == users
        assert login_status(uri, admin_login(restored)) == 200
        assert admin_login(restored) == admin_login(server.directory)
        assert private_files(restored) == private_files(server.directory)
    finally:
        if started or (restored / "postgres").exists():
            server_command(restored, "stop", check=False)


# --- A teammate on the server, and the script's failures ------------------------------------


@pytest.mark.system
def test_team_server_requires_login_and_logs_an_authenticated_pipeline(
    server: TeamServer, team_reproduced: Path, tmp_path: Path
):
    uri = server.uri
    search = "/api/2.0/mlflow/experiments/search?max_results=10"
    with pytest.raises(urllib.error.HTTPError) as refused:
        rest(uri, search)
    assert refused.value.code == 401

    dana = add_user(server, "dana")
    assert dana["MLFLOW_TRACKING_URI"] == uri and dana["MLFLOW_TRACKING_USERNAME"] == "dana"
    credentials = ("dana", dana["MLFLOW_TRACKING_PASSWORD"])
    assert "experiments" in rest_json(uri, search, credentials=credentials)
    check_failing_commands_print_no_secret(server, "dana", dana["MLFLOW_TRACKING_PASSWORD"])

    # The team's trained checkout with a store of its own; params.yaml's tracking.uri names
    # the store, the shell holds dana's login only.
    root = copy_of_shared(team_reproduced, tmp_path / "repo")

    # A server that does not answer: the log stage fails at once, naming it; nothing is
    # retrained on the way and the trainings stay (validate checks the changed params.yaml
    # first, in a second, and changes nothing). A wrong password fails the same way, naming
    # MLFLOW_TRACKING_USERNAME: tests/test_faults_tracking.py's
    # test_a_store_moved_to_the_server_and_back_is_logged_by_the_next_repro_even_after_a_wrong_password
    # runs that `dvc repro` on a team server and pins its message.
    [dead_port] = free_ports(1)
    down = f"http://127.0.0.1:{dead_port}"
    use_store(root, down)
    failed = run(["dvc", "repro"], root, env=pipeline_env(login(dana)), check=False)
    assert failed.returncode != 0
    assert f"error: MLflow tracking server {down} did not answer" in failed.stderr
    assert stages_run(failed.stdout) == ["validate", "log"]
    for name in FRAMINGS:
        assert (root / "models" / name / f"seed{SEED}.npz").is_file()
    assert not (root / "mlflow.db").exists()

    # The server, and the right login: validate checks the changed params.yaml again, the log
    # stage runs (nothing is retrained), and its runs are on the server. Dana's shell has all
    # the lines add-user printed: MLFLOW_TRACKING_URI names the same store as tracking.uri, so
    # it is no conflict.
    use_store(root, uri)
    logged = run(["dvc", "repro"], root, env=pipeline_env(dana))
    assert stages_run(logged.stdout) == ["validate", "log"]
    assert not (root / "mlflow.db").exists()
    experiment = rest_json(
        uri, "/api/2.0/mlflow/experiments/get-by-name?experiment_name=" + EXPERIMENT_NAME, credentials=credentials
    )["experiment"]
    assert experiment["artifact_location"].startswith("mlflow-artifacts:")
    runs = rest_json(
        uri,
        "/api/2.0/mlflow/runs/search",
        {"experiment_ids": [experiment["experiment_id"]], "max_results": 100},
        credentials=credentials,
    )["runs"]
    assert sorted(tracked["info"]["run_name"] for tracked in runs) == sorted(
        [f"{name}-seed{SEED}" for name in FRAMINGS] + ["summary@workspace"]
    )
    assert all(tracked["info"]["status"] == "FINISHED" for tracked in runs)
    plain = [{"tags": {item["key"]: item["value"] for item in tracked["data"]["tags"]}} for tracked in runs]
    assert {tags["tags"]["mlflow.user"] for tags in plain} == {"dana"}
    # The same trainings as the team clone's (deterministic): the same content keys as in its
    # embedded store.
    with commands_serialized_in(team_reproduced):
        embedded = embedded_runs(team_reproduced)
    assert training_keys(plain) == training_keys(embedded)

    # The model went through the server's artifact store and loads from it with dana's login.
    stateful = next(tracked for tracked in runs if tracked["info"]["run_name"] == f"stateful-seed{SEED}")
    loaded = run(
        [
            str(VENV_BIN / "python"),
            "-c",
            "import sys, mlflow.pyfunc, pandas; m = mlflow.pyfunc.load_model(sys.argv[1]); "
            "print(m.predict(pandas.DataFrame({'letters': ['A']}))['next_letter'][0])",
            f"runs:/{stateful['info']['run_id']}/model",
        ],
        tmp_path,
        env=pipeline_env(dana),
    )
    # The answer of the model the checkout trained, as `alphabet-lstm predict` gives it.
    predicted = alphabet_lstm("predict", "--framing", "stateful", "A", cwd=root)
    assert predicted.stdout.startswith(f"A -> {loaded.stdout.strip()}\n"), (loaded.stdout, predicted.stdout)
    versions = rest_json(
        uri,
        "/api/2.0/mlflow/model-versions/search?filter=" + urllib.parse.quote("name='alphabet-lstm-stateful'"),
        credentials=credentials,
    )["model_versions"]
    assert [version["run_id"] for version in versions] == [stateful["info"]["run_id"]]


@pytest.mark.pipeline
def test_server_script_refuses_unknown_options():
    result = run(["bash", str(SERVER_SCRIPT), "start", "--prot", "5000"], REPO_ROOT, check=False)
    assert result.returncode != 0
    assert "unknown option --prot" in result.stderr


# What a server's error may carry and a script's message must not: SQL, a password hash
# (werkzeug's scrypt or pbkdf2), a Python traceback.
LEAKS = re.compile(r"\[SQL:|INSERT INTO|password_hash|scrypt:|pbkdf2:|Traceback", re.IGNORECASE)


def server_secrets(directory: Path) -> list[str]:
    """The passwords and keys a server directory holds: admin's, PostgreSQL's, Flask's."""
    private = directory / "secrets"
    secrets = [admin_login(directory)[1], (private / "flask-secret").read_text().strip()]
    if (private / "pgpass").exists():
        secrets.append((private / "pgpass").read_text().strip().rsplit(":", 1)[-1])
    return [secret for secret in secrets if secret]


def assert_fails_in_one_clean_line(arguments: list[str], secrets: list[str], expected: str) -> None:
    """The script fails with one line on stderr saying ``expected``, and nothing secret."""
    result = run(["bash", str(SERVER_SCRIPT), *arguments], REPO_ROOT, check=False, timeout=300)
    shown = result.stdout + result.stderr
    assert result.returncode != 0, shown
    assert result.stdout == "" and result.stderr.count("\n") == 1, shown
    assert expected in result.stderr, shown
    assert not LEAKS.search(shown), shown
    for secret in secrets:
        assert secret not in shown, f"{arguments} printed a secret"


def check_failing_commands_print_no_secret(server: TeamServer, user: str, password: str) -> None:
    """Every way the server script's commands fail against a running server, ``user`` (whose
    password is ``password``) being a teammate's account on it (the ones without a server:
    test_failing_server_commands_without_a_server_print_no_secret)."""
    secrets = [*server_secrets(server.directory), password]
    common = ["--dir", str(server.directory)]
    # MLflow's own answer here quotes the INSERT and the new password's hash.
    assert_fails_in_one_clean_line(
        ["add-user", user, *common], secrets, f"user '{user}' already exists; nothing changed"
    )
    assert_fails_in_one_clean_line(["add-user", "admin", *common], secrets, "user 'admin' already exists")
    port = server.uri.rsplit(":", 1)[1]
    assert_fails_in_one_clean_line(
        ["start", "--dir", str(server.directory.parent / "other"), "--port", port],
        secrets,
        f"port {port} on 127.0.0.1 is already in use",
    )
    # A wrong admin password (the file edited by hand): refused, the password not repeated.
    credentials = server.directory / "secrets" / "admin-credentials"
    original = credentials.read_text()
    try:
        credentials.write_text(
            re.sub(r"(?m)^MLFLOW_TRACKING_PASSWORD=.*$", "MLFLOW_TRACKING_PASSWORD=wrong-admin-password", original)
        )
        assert_fails_in_one_clean_line(
            ["add-user", "bob", *common], [*secrets, "wrong-admin-password"], "HTTP 401 the admin login was refused"
        )
    finally:
        credentials.write_text(original)


@pytest.mark.pipeline
def test_failing_server_commands_without_a_server_print_no_secret(tmp_path: Path):
    directory = tmp_path / "server"
    assert_fails_in_one_clean_line(["add-user"], [], "add-user needs the teammate's user name")
    assert_fails_in_one_clean_line(["add-user", "alice", "--dir"], [], "--dir needs a value")
    assert_fails_in_one_clean_line(["status", "--bogus", "1"], [], "unknown option --bogus")
    assert_fails_in_one_clean_line(["add-user", "alice", "--dir", str(directory)], [], "the server is not running")
    stopped = run(["bash", str(SERVER_SCRIPT), "status", "--dir", str(directory)], REPO_ROOT, check=False)
    assert (stopped.returncode, stopped.stdout, stopped.stderr) == (3, "mlflow server: stopped\n", "")
