"""Helpers of the team tests (tests/test_team.py, tests/test_s3.py): a teammate's clone cut to
two framings, its outputs, and the team tracking server started by scripts/mlflow-server.sh.

Not a test module (pytest collects test_*.py only); both test modules import it.
"""

from __future__ import annotations

import base64
import contextlib
import glob
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest
import yaml
from conftest import REPO_ROOT, make_clone, run

SERVER_SCRIPT = REPO_ROOT / "scripts" / "mlflow-server.sh"
EXPERIMENT_NAME = "alphabet-lstm"
# A stateless and a stateful framing: the two code paths, at a third of the full profile's cost.
FRAMINGS = ("one_char", "stateful")
SEED = 7


def team_clone(destination: Path) -> Path:
    """A committed clone on the small-epoch profile, cut to FRAMINGS."""
    root = make_clone(destination)
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["framings"] = {name: params["framings"][name] for name in FRAMINGS}
    tutorial = params.get("report", {}).get("tutorial_accuracy")
    if tutorial:
        params["report"]["tutorial_accuracy"] = {name: tutorial[name] for name in FRAMINGS if name in tutorial}
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    # Outputs copied from the main working tree belong to the full profile, not to this one;
    # the .gitignore files DVC keeps beside them stay, as in any checkout.
    for leftover in ("data", "models", "metrics", "reports"):
        for path in sorted((root / leftover).rglob("*"), reverse=True):
            if path.is_dir():
                path.rmdir() if not any(path.iterdir()) else None
            elif path.name != ".gitignore":
                path.unlink()
    run(["git", "add", "-A"], root)
    run(["git", "commit", "-q", "-m", "Two framings"], root)
    return root


def use_store(root: Path, uri: str) -> None:
    """Point a clone's log stages at the MLflow store ``uri`` as a team does: tracking.uri in
    params.yaml, committed like the team's DVC remote (the login stays in each shell)."""
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["tracking"] = {"uri": uri}
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["git", "commit", "-q", "-m", f"MLflow store {uri}", "params.yaml"], root)


def login(exported: dict[str, str]) -> dict[str, str]:
    """A teammate's login alone, of the lines `add-user` hands over: the store is the param."""
    return {name: exported[name] for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")}


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


def training_keys(runs) -> dict[str, str]:
    return {
        tags["framing"]: tags["training_key"]
        for tags in (run["tags"] for run in runs)
        if tags.get("run_kind") == "training"
    }


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


@contextlib.contextmanager
def running_team_server(*options: str, env: dict | None = None) -> Iterator[TeamServer]:
    """A throwaway PostgreSQL cluster and `mlflow server`, started by scripts/mlflow-server.sh.

    ``options`` go to `start` after the directory and ports (e.g. --artifacts-destination);
    ``env`` is the environment `start` runs in, and so the server's (e.g. S3 credentials).
    """
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
            [
                "bash",
                str(SERVER_SCRIPT),
                "start",
                *common,
                "--port",
                str(port),
                "--pg-port",
                str(pg_port),
                "--workers",
                "1",
                *options,
            ],
            REPO_ROOT,
            env=env,
            timeout=600,
        )
        uri = started.stdout.strip().splitlines()[-1].removeprefix("export MLFLOW_TRACKING_URI=")
        assert uri == f"http://127.0.0.1:{port}"
        yield TeamServer(uri, server_dir, pg_port)
    finally:
        run(["bash", str(SERVER_SCRIPT), "stop", *common], REPO_ROOT, check=False, timeout=300)
        shutil.rmtree(base, ignore_errors=True)


def server_command(directory: Path, *arguments: str, check: bool = True) -> subprocess.CompletedProcess:
    """One command of scripts/mlflow-server.sh on the server in ``directory``."""
    return run(["bash", str(SERVER_SCRIPT), *arguments, "--dir", str(directory)], REPO_ROOT, check=check, timeout=600)


def add_user(server: TeamServer, name: str) -> dict[str, str]:
    """A teammate's account on the server (`add-user`): the export lines it prints, as a dict."""
    return exported_lines(server_command(server.directory, "add-user", name).stdout)


def teammate_account(server: TeamServer, name: str) -> dict[str, str]:
    """A teammate's login on the server, as the lines `add-user` hands over, made as add-user
    makes it (MLflow's users/create, logged in as admin) but in this process: for a test about
    what the login does, not how it is made. add-user's own output and logins are
    test_server_admin's; its process costs 4-5 CPU-s (it imports MLflow for the auth client)."""
    password = secrets.token_urlsafe(24)
    account = {"username": name, "password": password}
    rest(server.uri, "/api/2.0/mlflow/users/create", account, credentials=admin_login(server.directory))
    return {"MLFLOW_TRACKING_URI": server.uri, "MLFLOW_TRACKING_USERNAME": name, "MLFLOW_TRACKING_PASSWORD": password}


# Every file of a server that holds a secret: password hashes, passwords, the Flask secret.
SECRET_FILES = ("admin-credentials", "pgpass", "flask-secret", "basic_auth.ini", "basic_auth.db")


def admin_login(directory: Path) -> tuple[str, str]:
    """Admin's user name and password, from the server's admin-credentials."""
    values = dict(re.findall(r"^(\w+)=(.*)$", (directory / "secrets" / "admin-credentials").read_text(), re.MULTILINE))
    return values["MLFLOW_TRACKING_USERNAME"], values["MLFLOW_TRACKING_PASSWORD"]


def login_status(uri: str, credentials: tuple[str, str]) -> int:
    """The HTTP status of one request with ``credentials``: 200 accepted, 401 refused."""
    try:
        rest(uri, "/api/2.0/mlflow/users/current", credentials=credentials)
    except urllib.error.HTTPError as error:
        return error.code
    return 200


def rest(uri: str, path: str, body: dict | None = None, credentials: tuple[str, str] | None = None) -> bytes:
    """One call to the server's REST API: GET, or POST with a JSON body; basic auth if given."""
    headers = {"Content-Type": "application/json"}
    if credentials:
        headers["Authorization"] = "Basic " + base64.b64encode(":".join(credentials).encode()).decode()
    request = urllib.request.Request(
        uri + path,
        data=None if body is None else json.dumps(body).encode(),
        headers=headers,
        method="GET" if body is None else "POST",
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.read()


def rest_json(uri: str, path: str, body: dict | None = None, credentials: tuple[str, str] | None = None) -> dict:
    return json.loads(rest(uri, path, body, credentials))


def exported_lines(text: str) -> dict[str, str]:
    """``export NAME=value`` lines of a script's output, as a dict."""
    return dict(re.findall(r"^export (\w+)=(\S+)$", text, flags=re.MULTILINE))
