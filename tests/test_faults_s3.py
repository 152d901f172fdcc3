"""Faults of the team's DVC remote on S3 (moto's S3 server on 127.0.0.1, spoken to by DVC's
dvc-s3 as any S3-compatible service) and of the local DVC cache: a `dvc push` killed halfway
and the server restarted, an object deleted or damaged on the remote or in the cache.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from conftest import REPO_ROOT, VENV_BIN, copy_with_store, pipeline_env, run
from team_helpers import free_ports, output_files

REGION = "us-east-1"
KEYS = {"AWS_ACCESS_KEY_ID": "faults", "AWS_SECRET_ACCESS_KEY": "faults-secret", "AWS_DEFAULT_REGION": REGION}
# The maintainer's tool that finds objects whose content does not match their md5 name.
VERIFY_OBJECTS = str(REPO_ROOT / "tools" / "verify_objects.py")


class MotoServer:
    """moto's S3 server on one port of 127.0.0.1, which can be stopped and started again.

    moto keeps its objects in memory. With a ``recording``, its recorder (moto's own way to
    keep state across processes) appends every request it serves to that file, and a start
    replays the file: the server comes back holding what it held, as S3 keeps its objects."""

    def __init__(self, log: Path, recording: Path | None = None) -> None:
        [self.port] = free_ports(1)
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.recording = recording
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        recorder = {"MOTO_ENABLE_RECORDING": "True", "MOTO_RECORDER_FILEPATH": str(self.recording)}
        with self.log.open("a") as output:
            self.process = subprocess.Popen(
                [str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(self.port)],
                env={**os.environ, **(recorder if self.recording else {})},
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while True:
            try:
                bucket_client(self.url).list_buckets()
                break
            except Exception:
                assert self.process.poll() is None and time.monotonic() < deadline, self.log.read_text()[-3000:]
                time.sleep(0.2)
        if self.recording and self.recording.exists():
            replay = urllib.request.Request(f"{self.url}/moto-api/recorder/replay-recording", method="POST")
            urllib.request.urlopen(replay, timeout=300).close()

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)


@pytest.fixture(scope="module")
def moto(tmp_path_factory) -> Iterator[MotoServer]:
    server = MotoServer(tmp_path_factory.mktemp("moto") / "moto_server.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def bucket_client(url: str):
    return boto3.client(
        "s3",
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id=KEYS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=KEYS["AWS_SECRET_ACCESS_KEY"],
    )


def bucket_objects(url: str, bucket: str) -> dict[str, bytes]:
    client = bucket_client(url)
    found = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            found[item["Key"]] = client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
    return found


def bucket_size(client, bucket: str) -> int:
    return client.list_objects_v2(Bucket=bucket).get("KeyCount", 0)


def cached_objects(root: Path) -> dict[str, bytes]:
    cache = root / ".dvc" / "cache"
    return {
        path.relative_to(cache).as_posix(): path.read_bytes()
        for path in sorted((cache / "files").rglob("*"))
        if path.is_file()
    }


def object_key(data: bytes) -> str:
    """Where DVC keeps a file of content ``data``, in its cache and on the remote."""
    digest = hashlib.md5(data).hexdigest()
    return f"files/md5/{digest[:2]}/{digest[2:]}"


def fault_env() -> dict:
    """The user's shell with the S3 keys; DVC's usage analytics off (nothing leaves the machine)."""
    return pipeline_env({**KEYS, "DVC_NO_ANALYTICS": "1"})


def owner_with_remote(team_reproduced: Path, root: Path, moto: MotoServer, bucket: str) -> Path:
    """The reproduced team checkout with an S3 remote of its own, configured (verify included)
    and committed as docs/team.md says."""
    env = fault_env()
    bucket_client(moto.url).create_bucket(Bucket=bucket)
    # The shared clone is reproduced and committed: a `dvc repro` in the copy would find
    # everything up to date.
    copy_with_store(team_reproduced, root)
    run(["dvc", "remote", "add", "--default", "--force", "team", f"s3://{bucket}"], root, env)
    run(["dvc", "remote", "modify", "team", "endpointurl", moto.url], root, env)
    run(["dvc", "remote", "modify", "team", "verify", "true"], root, env)
    run(["git", "add", ".dvc/config"], root, env)
    run(["git", "commit", "-qm", "Team DVC remote"], root, env)
    return root


def pushed_owner(team_reproduced: Path, root: Path, moto: MotoServer, bucket: str) -> Path:
    """owner_with_remote, with every output pushed to its bucket."""
    owner = owner_with_remote(team_reproduced, root, moto, bucket)
    run(["dvc", "push"], owner, fault_env())
    return owner


def kill_push_halfway(owner: Path, moto: MotoServer, bucket: str) -> None:
    # One upload at a time, so that the kill lands between two of them.
    push = subprocess.Popen(
        ["dvc", "push", "--jobs", "1"],
        cwd=owner,
        env=fault_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    # One client for every look (a client costs more to make than a listing).
    client, deadline = bucket_client(moto.url), time.monotonic() + 300
    while push.poll() is None and time.monotonic() < deadline and bucket_size(client, bucket) == 0:
        time.sleep(0.01)
    os.killpg(push.pid, signal.SIGKILL)
    push.wait(timeout=60)


def files_pushed(result: subprocess.CompletedProcess) -> int:
    found = re.search(r"(\d+) files? pushed", result.stdout + result.stderr)
    assert found, result.stdout + result.stderr
    return int(found.group(1))


@pytest.mark.system
def test_a_push_killed_halfway_then_the_server_restarted_is_completed_by_the_next_push(
    team_reproduced: Path, tmp_path: Path
):
    env, bucket = fault_env(), "faults-killed-push"
    # A server of its own, which keeps its objects across a restart. moto's recorder writes
    # requests served at one moment into one another (a request of over 8 kB takes two
    # writes): the killed push sends one object at a time, and the server is restarted only
    # after it.
    server = MotoServer(tmp_path / "moto_server.log", recording=tmp_path / "moto-recording.jsonl")
    server.start()
    try:
        owner = owner_with_remote(team_reproduced, tmp_path / "owner", server, bucket)
        cached = cached_objects(owner)

        kill_push_halfway(owner, server, bucket)
        halfway = bucket_objects(server.url, bucket)
        print(f"killed with {len(halfway)} of {len(cached)} objects in the bucket")
        assert 0 < len(halfway) < len(cached), "the push was not caught halfway"
        # What is there is whole: S3 keeps an object only once its upload is complete.
        assert all(data == cached[key] for key, data in halfway.items())

        server.stop()
        server.start()
        assert bucket_objects(server.url, bucket) == halfway, "the restarted server lost objects"
        # The next push sends exactly what is missing, by content.
        assert files_pushed(run(["dvc", "push"], owner, env)) == len(cached) - len(halfway)
        # Every object, byte for byte: a pull from this bucket is any pull from S3, whose
        # outputs test_s3's test_teammate_pulls_byte_identical_outputs compares.
        assert bucket_objects(server.url, bucket) == cached
    finally:
        server.stop()


def verify_objects(root: Path, *arguments: str, check: bool = True) -> subprocess.CompletedProcess:
    return run(["python", VERIFY_OBJECTS, *arguments], root, fault_env(), check=check)


def pulled_files_are_the_owners(teammate: Path, owner: Path) -> None:
    """Every output file the teammate has is byte-identical to the owner's: nothing damaged
    or half-written reached the workspace."""
    theirs, owners = output_files(teammate), output_files(owner)
    assert {path: data for path, data in theirs.items() if owners.get(path) != data} == {}


def object_path(bucket: str, data: bytes) -> str:
    return f"{bucket}/{object_key(data)}"


def repair_line(remote: str) -> str:
    """What the tool tells a teammate whose pull failed to have run, and by whom."""
    return (
        "whoever pushed them (a checkout whose `dvc status` is clean) runs "
        f"`make verify-objects REMOTE={remote} REPAIR=1`"
    )


@pytest.mark.system
def test_an_object_damaged_or_deleted_on_the_remote_fails_the_pull_naming_it_and_the_owner_repairs_it(
    moto: MotoServer, team_reproduced: Path, tmp_path: Path
):
    env, bucket = fault_env(), "faults-remote-objects"
    owner = pushed_owner(team_reproduced, tmp_path / "owner", moto, bucket)
    owners = output_files(owner)
    client = bucket_client(moto.url)

    # Damaged: a model, one file of the directory output models/one_char, replaced on the
    # remote by other bytes.
    damaged, output = "models/one_char/seed7.npz", "models/one_char"
    client.put_object(Bucket=bucket, Key=object_key(owners[damaged]), Body=b"damaged on the remote\n")
    teammate = tmp_path / "teammate"
    run(["git", "clone", "-q", str(owner), str(teammate)], tmp_path, env)
    pulled = run(["dvc", "pull"], teammate, env, check=False)
    print(pulled.stdout + pulled.stderr)
    # The remote's `verify true` makes the pull check every object's md5; DVC names the
    # directory output only. Every other output is pulled, byte-identical; the model is not.
    assert pulled.returncode != 0
    assert re.search(rf"Checkout failed for following targets:\s+{output}\n", pulled.stderr)
    assert set(owners) - set(output_files(teammate)) == {damaged}
    pulled_files_are_the_owners(teammate, owner)
    # What the teammate runs next names the file, and what to run.
    found = verify_objects(teammate, "--remote", "team", check=False)
    print(found.stdout)
    assert found.returncode == 1
    assert found.stdout.startswith(
        f"damaged in remote 'team': {damaged} (object {object_path(bucket, owners[damaged])} has md5 "
    )
    assert found.stdout.endswith(
        f"1 file(s) missing or damaged in remote 'team': {repair_line('team')}, then `dvc pull` again\n"
    )

    unknown = verify_objects(owner, "--remote", "nosuch", check=False)
    assert (unknown.returncode, unknown.stdout) == (2, "")
    assert unknown.stderr == "error: config file error: remote 'nosuch' doesn't exist\n"
    # `dvc push` never sends again an object the remote has; the documented repair does:
    # the model, and the directory's listing (while it is there, a push skips the directory).
    assert "Everything is up to date" in run(["dvc", "push"], owner, env).stdout
    repaired = verify_objects(owner, "--remote", "team", "--repair")
    assert repaired.stdout == (
        "removed 2 bad object(s) from remote 'team'; 2 file(s) pushed again\n"
        "every file of this checkout is intact in remote 'team'\n"
    )
    assert output_files(owner) == owners
    assert run(["git", "status", "--porcelain"], owner, env).stdout == ""
    run(["dvc", "pull"], teammate, env)
    assert output_files(teammate) == owners

    # Deleted: a single-file output and a model inside a directory output. The pull stops
    # before its checkout (`failed to transfer '<md5>'`): the workspace is as it was.
    deleted = ["data/params-validated.json", "models/stateful/seed7.npz"]
    for path in deleted:
        client.delete_object(Bucket=bucket, Key=object_key(owners[path]))
    newcomer = tmp_path / "newcomer"
    run(["git", "clone", "-q", str(owner), str(newcomer)], tmp_path, env)
    before = output_files(newcomer)
    pulled = run(["dvc", "pull"], newcomer, env, check=False)
    print(pulled.stdout + pulled.stderr)
    assert pulled.returncode != 0
    assert "failed to transfer" in pulled.stderr and "2 files failed to download" in pulled.stderr
    assert output_files(newcomer) == before
    found = verify_objects(newcomer, "--remote", "team", check=False)
    assert found.returncode == 1
    assert found.stdout.splitlines()[:2] == [
        f"missing in remote 'team': {path} (object {object_path(bucket, owners[path])})" for path in deleted
    ]
    assert f"2 file(s) missing or damaged in remote 'team': {repair_line('team')}" in found.stdout
    # A plain push sends the single file again, not the model: the listing of models/stateful
    # is on the remote. The repair removes that listing and sends both.
    assert files_pushed(run(["dvc", "push"], owner, env)) == 1
    repaired = verify_objects(owner, "--remote", "team", "--repair")
    assert repaired.stdout == (
        "removed 1 bad object(s) from remote 'team'; 2 file(s) pushed again\n"
        "every file of this checkout is intact in remote 'team'\n"
    )
    run(["dvc", "pull"], newcomer, env)
    assert output_files(newcomer) == owners


@pytest.mark.system
def test_a_cache_object_damaged_locally_is_found_and_dvc_fetch_restores_it(
    moto: MotoServer, team_reproduced: Path, tmp_path: Path
):
    env, bucket = fault_env(), "faults-local-cache"
    owner = pushed_owner(team_reproduced, tmp_path / "owner", moto, bucket)
    cached, outputs = cached_objects(owner), output_files(owner)
    patterns = "data/patterns/one_char.json"
    cache_file = owner / ".dvc" / "cache" / object_key((owner / patterns).read_bytes())
    # The study's stages (the sweeps' are not reproduced in the team checkout).
    status = ["dvc", "status", "dvc.yaml"]

    # Rewritten (its modification time moves): DVC's own check sees it. `dvc status` says
    # the output (the directory data/patterns) is not in the cache, and drops the object.
    cache_file.chmod(0o644)
    cache_file.write_bytes(b"damaged in the cache\n")
    found = run(status, owner, env).stdout
    assert re.search(r"not in cache:\s+data/patterns\n", found), found
    assert not cache_file.exists()
    run(["dvc", "fetch"], owner, env)
    assert cached_objects(owner) == cached

    # Damaged in place, size and modification time kept (a disk's bit rot): DVC trusts its
    # state database and sees nothing, and `dvc checkout` would copy the damaged bytes.
    # The tool reads every object and finds it.
    timestamps = os.stat(cache_file)
    cache_file.chmod(0o644)
    data = bytearray(cache_file.read_bytes())
    data[0] ^= 0xFF
    cache_file.write_bytes(bytes(data))
    os.utime(cache_file, ns=(timestamps.st_atime_ns, timestamps.st_mtime_ns))
    # (Up to date also says the fetch restored what the status had dropped.)
    assert "Data and pipelines are up to date." in run(status, owner, env).stdout
    found = verify_objects(owner, check=False)
    assert found.returncode == 1
    assert found.stdout.startswith(f"damaged in the local cache: {patterns} (object {cache_file} has md5 ")
    assert found.stdout.endswith(
        "1 file(s) damaged in the local cache: `make verify-objects REPAIR=1` fetches them again\n"
    )
    # The object and the listing of data/patterns that names it, fetched again.
    repaired = verify_objects(owner, "--repair")
    assert repaired.stdout == (
        "removed 2 bad object(s) from the local cache; 2 file(s) fetched again\n"
        "every file of this checkout is intact in the local cache\n"
    )
    assert cached_objects(owner) == cached
    assert output_files(owner) == outputs
    assert run(["git", "status", "--porcelain"], owner, env).stdout == ""
