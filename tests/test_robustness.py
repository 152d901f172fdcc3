"""Interrupted stages never corrupt or lose outputs, and say what happened."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from conftest import copy_of_shared, pipeline_env, run

pytestmark = pytest.mark.e2e

STAGE = "train@variable_length"
MODEL = Path("models/variable_length/seed7.npz")


def set_epochs(root: Path, framing: str, epochs: int) -> None:
    params = root / "params.yaml"
    lines = params.read_text().splitlines(keepends=True)
    inside = False
    for index, line in enumerate(lines):
        if line.startswith(f"  {framing}:"):
            inside = True
        elif inside and line.strip().startswith("epochs:"):
            lines[index] = line.split("epochs:")[0] + f"epochs: {epochs}\n"
            break
    params.write_text("".join(lines))


def locked(root: Path, stage: str) -> dict:
    """What dvc.lock records for one stage."""
    return yaml.safe_load((root / "dvc.lock").read_text())["stages"][stage]


def training_started(session_id: int) -> bool:
    """Whether a train stage process of this process group's session is running."""
    for status in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            command = status.read_bytes().replace(b"\0", b" ")
            if b"alphabet_lstm.stages.train" in command and os.getsid(int(status.parent.name)) == session_id:
                return True
        except (OSError, ProcessLookupError):
            continue
    return False


@pytest.fixture(scope="module")
def trained_clone(reproduced_clone: Path, tmp_path_factory) -> Path:
    """The module's own copy of the shared reproduced clone, where STAGE has run."""
    return copy_of_shared(reproduced_clone, tmp_path_factory.mktemp("robust") / "repo")


@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupted_training_keeps_outputs(trained_clone: Path, signal_number):
    root = trained_clone
    previous_model = (root / MODEL).read_bytes()
    previous_lock = locked(root, STAGE)
    set_epochs(root, "variable_length", 2000)
    process = subprocess.Popen(
        ["dvc", "repro", STAGE],
        cwd=root,
        env=pipeline_env(),
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not training_started(process.pid):
            assert process.poll() is None, process.stdout.read()
            assert time.monotonic() < deadline, "training never started"
            time.sleep(0.2)
        time.sleep(3.0)  # well inside training: 2000 epochs take over a minute
        os.killpg(process.pid, signal_number)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode != 0, output
    assert ("interrupted" if signal_number == signal.SIGINT else "terminated") in output
    # The model is kept (persist) until a training finishes and replaces it whole.
    assert (root / MODEL).read_bytes() == previous_model
    # validate ran (params changed) and may record that; the interrupted stage records nothing.
    assert locked(root, STAGE) == previous_lock
    assert not list((root / "models").rglob(".*.tmp"))
    set_epochs(root, "variable_length", 3)
    run(["dvc", "repro", STAGE], root)
    assert (root / MODEL).read_bytes() == previous_model


def test_failed_stage_says_how_to_restore_its_outputs(tmp_path: Path):
    """A stage failing for a reason other than params names `dvc checkout <stage>`."""
    import sys

    (tmp_path / "models" / "one_char").mkdir(parents=True)
    (tmp_path / "models" / "one_char" / "seed7.npz").write_text("not a model")
    (tmp_path / "encoded.npz").write_text("not an archive")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "alphabet_lstm.stages.evaluate",
            "--models",
            "models/one_char",
            "--encoded",
            "encoded.npz",
            "--patterns",
            "patterns.json",
            "--metrics",
            "m",
            "--predictions",
            "p",
            "--details",
            "d",
            "--probabilities",
            "q",
        ],
        cwd=tmp_path,
        env=pipeline_env({"DVC_STAGE": "evaluate@one_char"}),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert result.stderr.rstrip().splitlines()[-1] == (
        "note: stage evaluate@one_char failed; if its outputs are gone, `dvc checkout evaluate@one_char` "
        "restores them from DVC's cache (`git checkout -- <path>` for those git tracks)"
    )
