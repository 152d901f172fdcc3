"""Fresh clones of this project for the tests and the benchmark (one copy of the helpers).

The tests (through conftest.py) and benchmarks/loop.py both run the real pipeline in a
temporary git repository holding the checkout's files; the benchmark puts this folder on its
import path for them. Nothing of the package imports this module.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

# The checkout these tests belong to.
PROJECT_ROOT = Path(__file__).resolve().parents[1]
# The small-epoch profile of the tests: the real pipeline, a few epochs per framing.
SMALL_EPOCHS = 3


def tracked_files(root: Path) -> list[str]:
    """Files git tracks plus untracked ones it does not ignore, as in the working tree."""
    result = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    return [name for name in result.stdout.split("\0") if name and (root / name).is_file()]


def with_small_epochs(params_text: str, epochs: int = SMALL_EPOCHS) -> str:
    """params.yaml's text with every framing's `epochs:` set to ``epochs``."""
    return re.sub(r"(\n\s+epochs:) \d+", rf"\1 {epochs}", params_text)


def commit_all(root: Path, message: str = "fresh clone") -> None:
    """Make ``root`` a new git repository whose one commit holds every file in it."""
    for command in (
        ["git", "init", "-q", "-b", "main"],
        ["git", "config", "user.email", "clone@example.invalid"],
        ["git", "config", "user.name", "clone"],
        ["git", "add", "-A"],
        ["git", "commit", "-q", "-m", message],
    ):
        subprocess.run(command, cwd=root, check=True, capture_output=True)


def make_clone(destination: Path, epochs: int | None = SMALL_EPOCHS, *, source: Path = PROJECT_ROOT) -> Path:
    """A fresh git repository of ``source``'s working-tree files, as a newcomer's clone.

    No DVC cache and no dvc.lock, so the first `dvc repro` runs every stage. Every
    framing's epochs are set to ``epochs`` (the tests' small profile by default); with
    ``epochs=None`` params.yaml is kept as it is (the tutorial's settings).
    """
    destination.mkdir(parents=True, exist_ok=True)
    for name in tracked_files(source):
        if name.startswith((".dvc/cache", ".dvc/tmp")) or name == "dvc.lock":
            continue
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / name, target)
    if epochs is not None:
        params = destination / "params.yaml"
        params.write_text(with_small_epochs(params.read_text(), epochs))
    commit_all(destination)
    return destination


def copy_checkout(source: Path, destination: Path) -> Path:
    """A copy of a checkout and its DVC cache, with a tracking store of its own.

    DVC's locks and state database (.dvc/tmp) belong to the checkout they were made in, and
    the copied MLflow store would name the source's artifact folder: both are left behind,
    with the record of what was logged, so the copy's log stage logs into a new store.
    """

    def ignored(folder: str, names: list[str]) -> list[str]:
        return ["tmp"] if Path(folder).name == ".dvc" else []

    shutil.copytree(source, destination, symlinks=True, ignore=ignored)
    for name in ("mlflow.db", "mlflow.db.lock", "mlflow-logged.json"):
        (destination / name).unlink(missing_ok=True)
    shutil.rmtree(destination / "mlartifacts", ignore_errors=True)
    return destination
