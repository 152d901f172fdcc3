"""Faults of the Dask cluster a sweep runs on, with a real `dask scheduler` and workers
(test_sweeps' dask_cluster): a scheduler that does not answer, a worker killed in the middle
of `dvc repro sweeps/dvc.yaml`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from conftest import make_clone, pipeline_env, run, stages_run
from team_helpers import free_ports
from test_sweeps import KILLED_SWEEP, TINY_SWEEP, dask_cluster, killed_sweep, params_with, undisturbed_killed_sweep

from alphabet_lstm.params import Sweep, parse_params
from alphabet_lstm.sweep import sweep_tasks

__all__ = ["dask_cluster", "undisturbed_killed_sweep"]  # the fixtures, imported for pytest

# Issue 29: a sweep stage pointed at a scheduler that is not there fails within this.
UNREACHABLE_LIMIT_SECONDS = 30


@pytest.mark.pipeline
def test_an_unreachable_scheduler_fails_the_sweep_stage_in_one_line_naming_it(tmp_path: Path):
    [port] = free_ports(1)
    address = f"tcp://127.0.0.1:{port}"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params_with({"tiny": TINY_SWEEP}), sort_keys=False))
    results = tmp_path / "results.csv"
    results.write_text("the previous sweep's table\n")
    started = time.monotonic()
    failed = run(
        [
            sys.executable,
            "-m",
            "alphabet_lstm.stages.sweep_run",
            "--sweep",
            "tiny",
            "--results",
            str(results),
            "--timing",
            str(tmp_path / "timing.csv"),
        ],
        tmp_path,
        env=pipeline_env({"DASK_SCHEDULER_ADDRESS": address}),
        check=False,
    )
    seconds = time.monotonic() - started
    print(f"failed after {seconds:.1f}s: {failed.stderr}")
    assert failed.returncode == 2
    assert failed.stderr.splitlines() == [
        f"error: Dask scheduler {address} (DASK_SCHEDULER_ADDRESS) did not answer within 10s (OSError): "
        "start it, or unset DASK_SCHEDULER_ADDRESS to run on a local cluster"
    ]
    assert seconds < UNREACHABLE_LIMIT_SECONDS
    assert results.read_text() == "the previous sweep's table\n"
    assert not (tmp_path / "timing.csv").exists()


@pytest.mark.pipeline
def test_a_worker_killed_mid_sweep_under_dvc_repro_leaves_the_results_byte_identical(
    dask_cluster, undisturbed_killed_sweep, tmp_path: Path
):
    from distributed import Client

    address, pids = dask_cluster
    root = make_clone(tmp_path / "repo")
    raw = yaml.safe_load((root / "params.yaml").read_text())
    raw["sweeps"] = {"tiny": KILLED_SWEEP}
    (root / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    run(["git", "commit", "-qam", "A sweep of its own"], root)
    # The undisturbed sweep (every training called in a test process, no Dask at all) is of the
    # same trainings: the clone's sweep names them by the same keys.
    sweep = Sweep.from_params(parse_params(raw), "tiny")
    assert [task.key for task in sweep_tasks(sweep)] == [task.key for task in sweep_tasks(killed_sweep())]
    undisturbed = undisturbed_killed_sweep

    victim = sorted(pids)[0]
    killed: list[str] = []
    sweeping = threading.Event()

    def kill_a_busy_worker() -> None:
        with Client(address, timeout=60) as client:
            while sweeping.is_set() and not killed:
                processing = client.processing()
                if processing.get(victim):
                    os.kill(pids[victim], signal.SIGKILL)
                    killed.extend(processing[victim])
                time.sleep(0.1)

    sweeping.set()
    killer = threading.Thread(target=kill_a_busy_worker)
    killer.start()
    try:
        repro = run(
            ["dvc", "repro", "sweeps/dvc.yaml:sweep_run@tiny"],
            root,
            env=pipeline_env({"DASK_SCHEDULER_ADDRESS": address}),
            timeout=900,
        )
    finally:
        sweeping.clear()
        killer.join(timeout=60)
    assert killed, "the worker was never caught with a training in hand"
    assert "sweeps/dvc.yaml:sweep_run@tiny" in stages_run(repro.stdout)
    assert (root / "sweeps" / "tiny" / "results.csv").read_text() == undisturbed


@pytest.mark.pipeline
def test_a_sweep_stopped_by_sigterm_says_so_writes_nothing_and_leaves_no_worker(tmp_path: Path):
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params_with({"tiny": KILLED_SWEEP}), sort_keys=False))
    results = tmp_path / "results.csv"
    results.write_text("the previous sweep's table\n")
    sweep = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "alphabet_lstm.stages.sweep_run",
            "--sweep",
            "tiny",
            "--workers",
            "2",
            "--results",
            str(results),
            "--timing",
            str(tmp_path / "timing.csv"),
        ],
        cwd=tmp_path,
        env=pipeline_env({"DASK_SCHEDULER_ADDRESS": ""}),
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    lines = []
    assert sweep.stderr is not None
    # Stopped once the first training is in: the LocalCluster's workers are at work.
    for line in sweep.stderr:
        lines.append(line)
        if line.startswith("[tiny 1/"):
            sweep.send_signal(signal.SIGTERM)
            break
    lines += sweep.stderr.readlines()
    assert sweep.wait(timeout=120) == 143, "".join(lines)
    assert "terminated (SIGTERM): stopped before finishing; no output was half-written\n" in lines
    assert not [line for line in lines if line.startswith("Traceback")], "".join(lines)
    assert results.read_text() == "the previous sweep's table\n"
    assert not (tmp_path / "timing.csv").exists()
    # The LocalCluster's worker processes went with the stage (its own session holds them).
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.killpg(sweep.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.5)
    else:
        os.killpg(sweep.pid, signal.SIGKILL)
        pytest.fail("the sweep's workers outlived it")
