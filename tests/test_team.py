"""Working as a team, with the real tools: a shared DVC remote between two clones, and a queue
of experiments run by two DVC workers writing to one MLflow store at once. (A teammate's
pipeline logged through the team MLflow server, PostgreSQL behind `mlflow server`, is tested
on tests/test_server_admin.py's server.)

The clones run a cut of params.yaml (two framings, the small-epoch profile) to keep the
tests short; everything else is the project as a teammate has it.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import own_team_checkout, pipeline_env, run, stages_run
from team_helpers import (
    FRAMINGS,
    SEED,
    embedded_runs,
    output_files,
    training_keys,
)

QUEUE_TIMEOUT_SECONDS = 600
QUEUE_POLL_SECONDS = 10
# How often /proc is read for the queue's workers (cheap, unlike `dvc queue status`).
WORKER_POLL_SECONDS = 1
WORKER_START_SECONDS = 60
WORKER_EXIT_SECONDS = 60


@pytest.fixture(scope="module")
def pusher(tmp_path_factory, team_reproduced: Path) -> Iterator[Path]:
    """A teammate's clone after `dvc repro` and the commit docs/team.md asks for."""
    root = own_team_checkout(team_reproduced, tmp_path_factory.mktemp("team") / "pusher")
    yield root
    # dvc-task's idle worker has been seen to outlive a queue that `dvc queue status` reported
    # empty with no worker: `dvc queue stop` (what a user would run) ends it with the module.
    run(["dvc", "queue", "stop"], root, check=False, timeout=120)


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

    # Only the log stage is due: its output is git-ignored, so the teammate logs the pulled
    # trainings to their own store; nothing is retrained. (`dvc repro` runs every stage that is
    # due and no other: the stages it ran are the ones `dvc status` would have named.)
    result = run(["dvc", "repro"], teammate)
    assert stages_run(result.stdout) == ["log"]
    assert training_keys(embedded_runs(teammate)) == training_keys(embedded_runs(pusher))
    assert run(["git", "status", "--porcelain"], teammate).stdout == ""

    pushed, pulled = output_files(pusher), output_files(teammate)
    assert sorted(pulled) == sorted(pushed)
    assert "reports/report.md" in pulled and "metrics/summary.json" in pulled
    for name in FRAMINGS:
        assert f"models/{name}/seed{SEED}.npz" in pulled
        assert f"metrics/evaluation/{name}/seed{SEED}.json" in pulled
    for relative, content in pushed.items():
        assert pulled[relative] == content, f"{relative} differs between pusher and teammate"


# --- 2. Parallel experiments: the DVC queue with two workers, one MLflow store ------------

# Each experiment changes one thing; against the committed baseline, exactly these train
# stages re-run (unchanged ones are skipped, and no two experiments share a train signature,
# so DVC's run-cache cannot stand in for any of them).
# Three experiments for two workers: one waits in the queue while two run at once.
# One experiment per worker: both run at once, in two temporary copies, writing one store.
QUEUED = {
    "units-8": (["framings.one_char.units=8"], {("one_char", 7): {"units": "8"}}),
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
            cwd=root,
            env=pipeline_env(),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
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


def processes() -> list[tuple[str, str, str]]:
    """(pid, command line, working directory) of every process on this machine, from /proc."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            command = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
            cwd = os.readlink(cmdline.parent / "cwd")
        except OSError:  # it exited meanwhile, or is not ours to read
            continue
        found.append((cmdline.parent.name, command, cwd))
    return found


def pipeline_processes() -> list[str]:
    """The DVC and pipeline processes alive on this machine (no `ps` needed)."""
    return [f"{pid} {command}" for pid, command, _ in processes() if "dvc" in command or "alphabet_lstm" in command]


def queue_workers(root: Path) -> list[str]:
    """Pids of the `dvc exp queue-worker` processes serving ``root``'s queue."""
    return [
        pid for pid, command, cwd in processes() if "exp queue-worker" in command and Path(cwd).is_relative_to(root)
    ]


def wait_for_workers_to_serve(root: Path) -> None:
    """Watch /proc until the queue's workers have come and gone (or the time is up).

    Each `dvc queue status` costs a DVC start-up, about 4 s of CPU taken from the
    experiments; reading /proc costs nothing. The workers leave once the queue is empty.
    """
    deadline = time.monotonic() + WORKER_START_SECONDS
    while not queue_workers(root) and time.monotonic() < deadline:
        time.sleep(WORKER_POLL_SECONDS)
    deadline = time.monotonic() + QUEUE_TIMEOUT_SECONDS
    while queue_workers(root) and time.monotonic() < deadline:
        time.sleep(WORKER_POLL_SECONDS)


def wait_for_queue(root: Path, names) -> str:
    """Wait until every experiment has finished and the workers have gone; return the status.

    On a stall, fail with what the queue and its workers were doing, after stopping the
    workers so that nothing outlives the test.
    """

    def fail(reason: str, status: str) -> None:
        diagnostics = queue_diagnostics(root, names)
        run(["dvc", "queue", "stop", "--kill"], root, check=False, timeout=120)
        pytest.fail(f"{reason}:\n{status}\n{diagnostics}")

    wait_for_workers_to_serve(root)
    finished, gone, status = queue_status(root)
    deadline = time.monotonic() + QUEUE_TIMEOUT_SECONDS
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
        warnings.warn(f"a queue worker stayed after the queue emptied; stopping it:\n{status}", stacklevel=2)
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
    trainings = {tracked["run_id"]: tracked for tracked in runs if tracked["tags"]["run_kind"] == "training"}
    summaries = {
        tracked["tags"]["dvc_exp_name"]: tracked for tracked in runs if tracked["tags"]["run_kind"] == "summary"
    }
    # One summary per experiment (and the baseline's); one training run per distinct training:
    # the baseline's, then exactly the re-run trainings of each experiment, none duplicated
    # although every experiment's log stage logged all of its trainings.
    assert sorted(summaries) == sorted(["workspace", *QUEUED])
    assert len(trainings) == len(FRAMINGS) + sum(len(expected) for _, expected in QUEUED.values())
    baseline_links = summaries["workspace"]["tags"]
    for name, (_, expected) in QUEUED.items():
        links = {
            (match.group(1), int(match.group(2))): run_id
            for key, run_id in summaries[name]["tags"].items()
            if (match := re.fullmatch(r"training\.(\w+)\.seed(\d+)", key))
        }
        assert set(expected) <= set(links), name
        for (framing, seed), run_id in links.items():
            tracked = trainings[run_id]
            if (framing, seed) in expected:
                # A training this experiment made: its own run, its params, its experiment's tag.
                assert tracked["tags"]["dvc_exp_name"] == name
                changed = expected[(framing, seed)]
                assert {key: tracked["params"][key] for key in changed} == changed
                if len({linked_seed for _, linked_seed in links}) == 1:  # else the mean over seeds
                    assert (
                        summaries[name]["metrics"][f"{framing}/accuracy"] == tracked["metrics"]["evaluation/accuracy"]
                    )
            else:
                # One it did not retrain: the baseline's run, side by side in its summary.
                assert run_id == baseline_links[f"training.{framing}.seed{seed}"], name
        assert metrics[name]["metrics/summary.json"]

    # The concurrent writers left the store consistent.
    with sqlite3.connect(pusher / "mlflow.db") as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
