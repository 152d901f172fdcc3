"""Shared fixtures: a temporary clone of this repository running the real pipeline."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
# The small-epoch profile: the real pipeline, a few epochs per framing.
SMALL_EPOCHS = 3


def tracked_files(root: Path) -> list[str]:
    """Files git tracks plus untracked ones it does not ignore, as in the working tree."""
    result = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=root, capture_output=True, text=True, check=True,
    )
    return [name for name in result.stdout.split("\0") if name and (root / name).is_file()]


def with_small_epochs(params_text: str, epochs: int = SMALL_EPOCHS) -> str:
    return re.sub(r"(\n\s+epochs:) \d+", rf"\1 {epochs}", params_text)


def pipeline_env(extra: dict | None = None) -> dict:
    """The environment a user has after activating the venv; no tracking URI override."""
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("DVC_EXP_NAME", None)
    env.update(extra or {})
    return env


def run(command: list[str], cwd: Path, env: dict | None = None, check: bool = True, timeout: float = 1200) -> subprocess.CompletedProcess:
    result = subprocess.run(
        command, cwd=cwd, env=env or pipeline_env(), capture_output=True, text=True, timeout=timeout
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(command)} exited {result.returncode}\nstdout:\n{result.stdout[-4000:]}\n"
            f"stderr:\n{result.stderr[-4000:]}"
        )
    return result


def make_clone(destination: Path, epochs: int = SMALL_EPOCHS) -> Path:
    """A fresh git repository holding this project's files, on the small-epoch profile."""
    destination.mkdir(parents=True, exist_ok=True)
    for name in tracked_files(REPO_ROOT):
        if name.startswith((".dvc/cache", ".dvc/tmp")) or name in ("dvc.lock",):
            continue
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / name, target)
    params = destination / "params.yaml"
    params.write_text(with_small_epochs(params.read_text()))
    for command in (
        ["git", "init", "-q", "-b", "main"],
        ["git", "config", "user.email", "tests@example.invalid"],
        ["git", "config", "user.name", "tests"],
        ["git", "add", "-A"],
        ["git", "commit", "-q", "-m", "clone for tests"],
    ):
        run(command, destination)
    return destination


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """A temporary clone on the small-epoch profile, with its own MLflow store."""
    return make_clone(tmp_path / "repo")


@pytest.fixture(scope="session")
def reproduced_clone(tmp_path_factory) -> Path:
    """One clone where `dvc repro` has run once, shared by read-only tests."""
    root = make_clone(tmp_path_factory.mktemp("shared") / "repo")
    run(["dvc", "repro"], root)
    return root
