"""A team on object storage, with the real tools: the DVC remote and the tracking server's
artifacts in one S3 bucket, set up as docs/team.md says.

The S3 endpoint is moto's server (a real S3 API over HTTP) on 127.0.0.1, started and stopped
here. Every client talks to it as to any S3-compatible service: DVC through dvc-s3 (s3fs),
MLflow's server and these tests through boto3. It checks credentials as S3 does (IAM users
and their access keys, a signature on every request), so a wrong key is refused as AWS would
refuse it. Each teammate has their own clone, HOME and keys; keys live only in the
environment or in the git-ignored .dvc/config.local, never in a committed file.
"""

from __future__ import annotations

import json
import string
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import NamedTuple

import boto3
import pytest
from conftest import VENV_BIN, alphabet_lstm, copy_with_store, pipeline_env, run, stages_run
from team_helpers import (
    EXPERIMENT_NAME,
    FRAMINGS,
    SEED,
    free_ports,
    login,
    output_files,
    rest_json,
    running_team_server,
    teammate_account,
    use_store,
)

pytestmark = pytest.mark.e2e

BUCKET = "alphabet-lstm-team"
REMOTE = "team"
DVC_PREFIX = "alphabet-lstm"
REMOTE_URL = f"s3://{BUCKET}/{DVC_PREFIX}"
MLFLOW_PREFIX = "mlflow"
ARTIFACTS_DESTINATION = f"s3://{BUCKET}/{MLFLOW_PREFIX}"
# What B loads from the registry: the version the log stage registered from A's model.
MODEL_URI = "models:/alphabet-lstm-stateful@champion"
# The IAM users: two teammates, the tracking server, and these tests' own read-only look.
ACCOUNTS = ("alice", "bob", "mlflow-server", "auditor")
REGION = "us-east-1"
SERVER_START_SECONDS = 60


class S3Endpoint(NamedTuple):
    url: str
    keys: dict[str, dict[str, str]]  # IAM user -> AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY

    def objects(self, prefix: str) -> dict[str, int]:
        """Every object under ``prefix`` in the bucket: key -> size, listed by the auditor."""
        client = s3_client(self.url, self.keys["auditor"])
        found = {}
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
            found.update({item["Key"]: item["Size"] for item in page.get("Contents", [])})
        return found

    def read(self, key: str) -> bytes:
        return s3_client(self.url, self.keys["auditor"]).get_object(Bucket=BUCKET, Key=key)["Body"].read()


def s3_client(url: str, keys: dict[str, str]):
    return boto3.client(
        "s3",
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id=keys["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=keys["AWS_SECRET_ACCESS_KEY"],
    )


def wait_for_port(port: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"moto_server exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=5).close()
            return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"moto_server did not answer within {SERVER_START_SECONDS}s:\n{log.read_text()[-3000:]}")


def create_accounts(url: str) -> dict[str, dict[str, str]]:
    """The bucket, and an IAM user with an access key for each of ACCOUNTS.

    Runs before the server checks credentials (moto's default), so any key will do here.
    The auditor may only list and read; everyone else may read and write the bucket, nothing
    more. (moto names the action of a listing after the call, s3:ListObjectsV2, where AWS says
    s3:ListBucket: "s3:List*" is both.)
    """
    setup = {"AWS_ACCESS_KEY_ID": "setup", "AWS_SECRET_ACCESS_KEY": "setup"}
    s3_client(url, setup).create_bucket(Bucket=BUCKET)
    iam = boto3.client(
        "iam",
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id=setup["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=setup["AWS_SECRET_ACCESS_KEY"],
    )
    keys = {}
    for user in ACCOUNTS:
        actions = ["s3:List*", "s3:GetObject"] if user == "auditor" else ["s3:*"]
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": actions,
                    "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"],
                }
            ],
        }
        iam.create_user(UserName=user)
        iam.put_user_policy(UserName=user, PolicyName="team-bucket", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName=user)["AccessKey"]
        keys[user] = {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}
    return keys


def require_credentials(url: str) -> None:
    """From now on, every request must be signed with a known key that its policy allows.

    moto checks no credentials unless told to; this is the switch its own test decorator
    (set_initial_no_auth_action_count) uses against a moto server: count 0, check everything.
    """
    request = urllib.request.Request(
        f"{url}/moto-api/reset-auth", data=b"0", method="POST", headers={"Content-Type": "text/plain"}
    )
    urllib.request.urlopen(request, timeout=30).close()


@pytest.fixture(scope="module")
def s3(tmp_path_factory) -> S3Endpoint:
    """moto's S3 server on a free port of 127.0.0.1, with the team's bucket and accounts."""
    [port] = free_ports(1)
    log = tmp_path_factory.mktemp("moto") / "moto_server.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            env=teammate_env(log.parent),
        )
    try:
        wait_for_port(port, process, log)
        url = f"http://127.0.0.1:{port}"
        keys = create_accounts(url)
        require_credentials(url)
        yield S3Endpoint(url, keys)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def teammate_env(home: Path, extra: dict | None = None) -> dict:
    """A teammate's shell: their own HOME, no AWS or MLflow settings but ``extra``.

    DVC's usage analytics are off: a test sends nothing off this machine.
    """
    env = {name: value for name, value in pipeline_env().items() if not name.startswith(("AWS_", "MLFLOW_", "XDG_"))}
    env.update(HOME=str(home), DVC_NO_ANALYTICS="1")
    env.update(extra or {})
    return env


class Teammate(NamedTuple):
    root: Path
    home: Path
    env: dict


def workspace_files(root: Path) -> dict[str, bytes]:
    """Every file of a checkout but git's and DVC's own (cache, state), by relative path."""
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
        and path.relative_to(root).parts[0] != ".git"
        and path.relative_to(root).parts[:2] not in ((".dvc", "cache"), (".dvc", "tmp"))
    }


@pytest.fixture(scope="module")
def alice(tmp_path_factory, s3: S3Endpoint, team_reproduced: Path) -> Teammate:
    """Teammate A: has reproduced and committed the study, and adds the S3 remote as
    docs/team.md says (no push yet).

    Her keys are in her shell's environment (`export AWS_ACCESS_KEY_ID=...`).
    """
    base = tmp_path_factory.mktemp("s3-team")
    home = base / "home-alice"
    home.mkdir()
    env = teammate_env(home, s3.keys["alice"])
    # A copy of the shared reproduced and committed clone, with a store of its own: a `dvc repro`
    # there finds everything up to date, and the team server test's repro checks what runs.
    root = copy_with_store(team_reproduced, base / "alice")
    run(["dvc", "remote", "add", "--default", REMOTE, REMOTE_URL], root, env)
    run(["dvc", "remote", "modify", REMOTE, "endpointurl", s3.url], root, env)
    run(["git", "add", ".dvc/config"], root, env)
    run(["git", "commit", "-q", "-m", "Team DVC remote"], root, env)
    return Teammate(root, home, env)


@pytest.fixture(scope="module")
def pushed(alice: Teammate) -> Teammate:
    """A's `dvc push`, with her keys."""
    run(["dvc", "push"], alice.root, alice.env)
    return alice


def assert_refused(result: subprocess.CompletedProcess, *words: str) -> None:
    """DVC failed, and one of its error lines, which carry the S3 client's reason, shows
    ``words``.

    Only the words a user looks for are pinned (the missing credentials, S3's 403, the remote's
    path), not DVC's or botocore's sentences, which an upgrade may reword.
    """
    assert result.returncode != 0
    errors = [line.lower() for line in result.stderr.splitlines() if "ERROR" in line]
    assert any(all(word.lower() in line for word in words) for line in errors), result.stderr[-3000:]


def test_push_without_or_with_wrong_credentials_fails_and_keeps_the_workspace(alice: Teammate, s3: S3Endpoint):
    before, in_bucket = workspace_files(alice.root), s3.objects(DVC_PREFIX)

    missing = run(["dvc", "push", "-v"], alice.root, teammate_env(alice.home), check=False)
    assert_refused(missing, "credentials")
    # DVC's own message says what is wrong, not where; its -v lines (stdout) name the remote.
    assert f"to '{REMOTE_URL}/files/md5'" in missing.stdout

    # A wrong secret: S3 refuses the first request, a HEAD, whose answer has no body to say why.
    wrong_secret = {**s3.keys["alice"], "AWS_SECRET_ACCESS_KEY": "not-the-secret-key"}
    wrong = run(["dvc", "push"], alice.root, teammate_env(alice.home, wrong_secret), check=False)
    assert_refused(wrong, "403")

    assert workspace_files(alice.root) == before
    assert run(["git", "status", "--porcelain"], alice.root).stdout == ""
    assert s3.objects(DVC_PREFIX) == in_bucket


def test_push_puts_every_cached_object_in_the_bucket(pushed: Teammate, s3: S3Endpoint):
    cache = pushed.root / ".dvc" / "cache"
    cached = {
        f"{DVC_PREFIX}/{path.relative_to(cache).as_posix()}": path.stat().st_size
        for path in sorted((cache / "files").rglob("*"))
        if path.is_file()
    }
    in_bucket = s3.objects(DVC_PREFIX + "/")
    assert in_bucket == cached
    print(f"\nbucket after A's push: {len(in_bucket)} objects, {sum(in_bucket.values())} bytes")
    # Nothing secret went into git: the committed config names the remote and its endpoint only.
    config = (pushed.root / ".dvc" / "config").read_text()
    assert REMOTE_URL in config and s3.url in config
    assert s3.keys["alice"]["AWS_SECRET_ACCESS_KEY"] not in config


def teammate_clone(source: Path, destination: Path, home: Path) -> Teammate:
    """A teammate's `git clone`, with their own HOME and no keys yet."""
    home.mkdir()
    env = teammate_env(home)
    run(["git", "clone", "-q", str(source), str(destination)], source.parent, env)
    return Teammate(destination, home, env)


def keep_keys_in_config_local(teammate: Teammate, keys: dict[str, str]) -> None:
    """The keys in the checkout's git-ignored .dvc/config.local (`dvc remote modify --local`)."""
    for option, variable in (("access_key_id", "AWS_ACCESS_KEY_ID"), ("secret_access_key", "AWS_SECRET_ACCESS_KEY")):
        run(["dvc", "remote", "modify", "--local", REMOTE, option, keys[variable]], teammate.root, teammate.env)


def test_pull_without_or_with_an_unknown_key_fails_naming_the_remote(pushed: Teammate, tmp_path: Path):
    carol = teammate_clone(pushed.root, tmp_path / "carol", tmp_path / "home-carol")
    before = workspace_files(carol.root)
    where = f"{BUCKET}/{DVC_PREFIX}/files/md5"

    missing = run(["dvc", "pull"], carol.root, carol.env, check=False)
    assert_refused(missing, "credentials", where)

    # An unknown key, in carol's shell (keys kept in .dvc/config.local are
    # test_teammate_pulls_byte_identical_outputs's).
    unknown_key = {"AWS_ACCESS_KEY_ID": "AKIAUNKNOWNTEAMMATE0", "AWS_SECRET_ACCESS_KEY": "not-a-key"}
    unknown = run(["dvc", "pull"], carol.root, teammate_env(carol.home, unknown_key), check=False)
    assert_refused(unknown, "403", where)

    # Nothing was written or lost.
    assert workspace_files(carol.root) == before
    assert run(["git", "status", "--porcelain"], carol.root).stdout == ""


def test_teammate_pulls_byte_identical_outputs(pushed: Teammate, s3: S3Endpoint, tmp_path: Path):
    bob = teammate_clone(pushed.root, tmp_path / "bob", tmp_path / "home-bob")
    keep_keys_in_config_local(bob, s3.keys["bob"])
    # The keys stay out of git: .dvc/config.local is ignored, the committed config has none.
    assert run(["git", "status", "--porcelain"], bob.root).stdout == ""
    assert s3.keys["bob"]["AWS_SECRET_ACCESS_KEY"] in (bob.root / ".dvc" / "config.local").read_text()

    run(["dvc", "pull"], bob.root, bob.env)
    pushed_files, pulled = output_files(pushed.root), output_files(bob.root)
    assert sorted(pulled) == sorted(pushed_files)
    for name in FRAMINGS:
        assert f"models/{name}/seed{SEED}.npz" in pulled
    assert "reports/report.md" in pulled and "data/encoded/stateful.npz" in pulled
    for relative, content in pushed_files.items():
        assert pulled[relative] == content, f"{relative} differs between A and B"
    assert run(["git", "status", "--porcelain"], bob.root).stdout == ""
    # What B's `dvc repro` then runs (the log stage only) does not depend on the kind of
    # remote: test_team's test_teammate_pulls_what_was_pushed_and_retrains_nothing checks it.


# The queries: each letter of the alphabet but the last.
QUERIES = list(string.ascii_uppercase[:-1])


def predict_letters(model_uri: str, env: dict, cwd: Path) -> list[str]:
    """The next letter after each of QUERIES and its probability (``"B 0.1234"``), from the
    MLflow model at ``model_uri``."""
    script = (
        "import json, sys, mlflow.pyfunc, pandas\n"
        "model = mlflow.pyfunc.load_model(sys.argv[1])\n"
        "answers = model.predict(pandas.DataFrame({'letters': json.loads(sys.argv[2])}))\n"
        "print(json.dumps([f'{letter} {probability:.4f}' for letter, probability in "
        "zip(answers['next_letter'], answers['probability'])]))\n"
    )
    result = run([str(VENV_BIN / "python"), "-c", script, model_uri, json.dumps(QUERIES)], cwd, env=env, timeout=300)
    return json.loads(result.stdout.strip().splitlines()[-1])


def project_predictions(root: Path, framing: str) -> list[str]:
    """What `alphabet-lstm predict` answers in checkout ``root`` for each of QUERIES: the
    top letter and its probability (the line after ``A -> B``)."""
    return [
        alphabet_lstm("predict", "--framing", framing, letter, cwd=root).stdout.splitlines()[1].strip()
        for letter in QUERIES
    ]


def run_artifacts(uri: str, run_id: str, credentials: tuple[str, str], path: str = "") -> list[str]:
    """Every file among a run's artifacts, as the tracking server lists them (recursively)."""
    query = urllib.parse.urlencode({"run_id": run_id, "path": path})
    listed = rest_json(uri, f"/api/2.0/mlflow/artifacts/list?{query}", credentials=credentials).get("files", [])
    found = []
    for entry in listed:
        if entry.get("is_dir"):
            found += run_artifacts(uri, run_id, credentials, entry["path"])
        else:
            found.append(entry["path"])
    return found


def test_team_server_keeps_every_artifact_in_the_bucket(pushed: Teammate, s3: S3Endpoint, tmp_path: Path):
    # The server alone holds S3 keys; teammates log and load through it with their MLflow login.
    server_env = {**s3.keys["mlflow-server"], "MLFLOW_S3_ENDPOINT_URL": s3.url}
    with running_team_server(
        "--artifacts-destination", ARTIFACTS_DESTINATION, env=teammate_env(tmp_path, server_env)
    ) as server:
        alice_login, bob_login = teammate_account(server, "alice"), teammate_account(server, "bob")
        # The team names its server in params.yaml (committed); alice's shell holds her login.
        use_store(pushed.root, server.uri)
        logged = run(["dvc", "repro"], pushed.root, teammate_env(pushed.home, login(alice_login)))
        assert stages_run(logged.stdout) == ["validate", "log"]
        # Nothing in the checkout changed but the lock, which now records the store.
        assert run(["git", "status", "--porcelain", "--", ".", ":!dvc.lock"], pushed.root).stdout == ""
        assert not (server.directory / "artifacts").exists()

        credentials = ("alice", alice_login["MLFLOW_TRACKING_PASSWORD"])
        experiment = rest_json(
            server.uri,
            f"/api/2.0/mlflow/experiments/get-by-name?experiment_name={EXPERIMENT_NAME}",
            credentials=credentials,
        )["experiment"]
        runs = rest_json(
            server.uri,
            "/api/2.0/mlflow/runs/search",
            {"experiment_ids": [experiment["experiment_id"]], "max_results": 100},
            credentials=credentials,
        )["runs"]
        experiment_id = experiment["experiment_id"]
        in_bucket = s3.objects(f"{MLFLOW_PREFIX}/")
        print(
            f"\nbucket's {MLFLOW_PREFIX}/ after A's log stage: {len(in_bucket)} objects, "
            f"{sum(in_bucket.values())} bytes"
        )
        # Every artifact of every run, as the server lists it, is an object in the bucket...
        expected = {
            f"{MLFLOW_PREFIX}/{experiment_id}/{tracked['info']['run_id']}/artifacts/{path}"
            for tracked in runs
            for path in run_artifacts(server.uri, tracked["info"]["run_id"], credentials)
        }
        assert expected <= set(in_bucket)
        # ...and so is every logged model, holding the very weights A trained.
        run_names = {tracked["info"]["run_id"]: tracked["info"]["run_name"] for tracked in runs}
        models = rest_json(
            server.uri,
            "/api/2.0/mlflow/logged-models/search",
            {"experiment_ids": [experiment_id]},
            credentials=credentials,
        )["models"]
        framings = []
        for model in models:
            prefix = f"{MLFLOW_PREFIX}/{experiment_id}/models/{model['info']['model_id']}/artifacts/"
            assert model["info"]["artifact_uri"].endswith(prefix.removeprefix(MLFLOW_PREFIX).rstrip("/"))
            framing = run_names[model["info"]["source_run_id"]].removesuffix(f"-seed{SEED}")
            framings.append(framing)
            weights = (pushed.root / "models" / framing / f"seed{SEED}.npz").read_bytes()
            assert s3.read(f"{prefix}artifacts/seed{SEED}.npz") == weights
            assert f"{prefix}MLmodel" in in_bucket
            expected |= {key for key in in_bucket if key.startswith(prefix)}
        assert sorted(framings) == sorted(FRAMINGS)
        # Nothing else is there: the bucket holds the runs' and the models' artifacts only.
        assert set(in_bucket) == expected

        # B, with no S3 key at all, loads A's registered model through the server and predicts
        # what A's own copy predicts.
        bob_home = tmp_path / "home-bob"
        bob_home.mkdir()
        # Through the server: by default MLflow's client fetches each file straight from the
        # bucket with a URL the server signs, which moto refuses while it checks keys (it
        # reads signatures from the Authorization header only, not from a URL).
        streamed = {**bob_login, "MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD": "false"}
        from_server = predict_letters(MODEL_URI, teammate_env(bob_home, streamed), tmp_path)
    # The answers (letter and probability) of the model A trained, as `alphabet-lstm predict`
    # gives them in A's checkout.
    assert from_server == project_predictions(pushed.root, "stateful")
