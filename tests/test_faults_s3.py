"""Faults of the team's DVC remote on S3 (moto's S3 server on 127.0.0.1, spoken to by DVC's
dvc-s3 as any S3-compatible service): a `dvc push` killed halfway.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from conftest import VENV_BIN, pipeline_env, run
from team_helpers import free_ports, output_files, team_clone

pytestmark = pytest.mark.system

BUCKET = "alphabet-lstm-faults"
REGION = "us-east-1"
KEYS = {"AWS_ACCESS_KEY_ID": "faults", "AWS_SECRET_ACCESS_KEY": "faults-secret", "AWS_DEFAULT_REGION": REGION}


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory) -> Iterator[str]:
    """moto's S3 server with an empty bucket."""
    [port] = free_ports(1)
    log = tmp_path_factory.mktemp("moto") / "moto_server.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                bucket_client(url).create_bucket(Bucket=BUCKET)
                break
            except Exception:
                assert process.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def bucket_client(url: str):
    return boto3.client(
        "s3",
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id=KEYS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=KEYS["AWS_SECRET_ACCESS_KEY"],
    )


def bucket_objects(url: str) -> dict[str, bytes]:
    client = bucket_client(url)
    found = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for item in page.get("Contents", []):
            found[item["Key"]] = client.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
    return found


def bucket_size(url: str) -> int:
    return bucket_client(url).list_objects_v2(Bucket=BUCKET).get("KeyCount", 0)


def cached_objects(root: Path) -> dict[str, bytes]:
    cache = root / ".dvc" / "cache"
    return {
        path.relative_to(cache).as_posix(): path.read_bytes()
        for path in sorted((cache / "files").rglob("*"))
        if path.is_file()
    }


def test_a_push_killed_halfway_is_completed_by_the_next_push_and_a_teammate_pulls_the_same_bytes(
    endpoint: str, tmp_path: Path
):
    env = pipeline_env(KEYS)
    owner = team_clone(tmp_path / "owner")
    run(["dvc", "remote", "add", "--default", "team", f"s3://{BUCKET}"], owner, env)
    run(["dvc", "remote", "modify", "team", "endpointurl", endpoint], owner, env)
    run(["dvc", "repro"], owner, env)
    run(["git", "add", "-A"], owner, env)
    run(["git", "commit", "-qm", "Reproduce, with the team remote"], owner, env)
    cached = cached_objects(owner)

    # One upload at a time, so that the kill lands between two of them.
    push = subprocess.Popen(
        ["dvc", "push", "--jobs", "1"],
        cwd=owner,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    while push.poll() is None and time.monotonic() < deadline and bucket_size(endpoint) == 0:
        time.sleep(0.01)
    os.killpg(push.pid, signal.SIGKILL)
    push.wait(timeout=60)
    halfway = bucket_objects(endpoint)
    print(f"killed with {len(halfway)} of {len(cached)} objects in the bucket")
    assert 0 < len(halfway) < len(cached), "the push was not caught halfway"
    # What is there is whole: S3 keeps an object only once its upload is complete.
    assert all(data == cached[key] for key, data in halfway.items())

    # The next push sends only what is missing, by content.
    again = run(["dvc", "push"], owner, env)
    pushed = int(re.search(r"(\d+) files? pushed", again.stdout + again.stderr).group(1))
    assert pushed == len(cached) - len(halfway)
    assert bucket_objects(endpoint) == cached

    teammate = tmp_path / "teammate"
    run(["git", "clone", "-q", str(owner), str(teammate)], tmp_path, env)
    run(["dvc", "pull"], teammate, env)
    assert output_files(teammate) == output_files(owner)
