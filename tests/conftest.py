"""Shared fixtures: a temporary clone of this repository running the real pipeline."""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

# The clone helpers, shared with the benchmark; tests import them from here (`X as X`
# marks a re-export).
from clones import PROJECT_ROOT as REPO_ROOT
from clones import SMALL_EPOCHS as SMALL_EPOCHS
from clones import copy_checkout as copy_checkout
from clones import make_clone
from clones import tracked_files as tracked_files
from clones import with_small_epochs as with_small_epochs

VENV_BIN = Path(sys.executable).parent


def spec_for(framing: str, **overrides):
    """The ModelSpec of a hand-built test model: one letter in, one unit, stateless, batch
    size 1, seed 7, with ``overrides`` on top."""
    from alphabet_lstm.model.lstm import ModelSpec

    values = dict(
        framing=framing,
        units=1,
        layout="timesteps",
        input_length=1,
        stateful=False,
        batch_size=1,
        engine="fast",
        seed=7,
        shortest_query=1,
        scores_all_queries=False,
    )
    return ModelSpec(**{**values, **overrides})


CONSOLE_SCRIPT = str(VENV_BIN / "alphabet-lstm")

# The log stage's path templates, as dvc.yaml passes them: where a training's files are.
LOG_TEMPLATES = {
    "model": "models/{framing}/seed{seed}.npz",
    "history": "metrics/history/{framing}/seed{seed}.csv",
    "evaluation": "metrics/evaluation/{framing}/seed{seed}.json",
    "predictions": "metrics/predictions/{framing}/seed{seed}.csv",
    "patterns": "data/patterns/{framing}.json",
    "encoded": "data/encoded/{framing}.npz",
}

# The browser tests' Chromium: Debian's package (.ci/run installs it), driven by Playwright
# without any browser download; headless, and quiet on the network.
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = REPO_ROOT / "test-artifacts"


def pipeline_env(extra: dict | None = None) -> dict:
    """The environment a user has after activating the venv, without MLFLOW_TRACKING_URI:
    the store is params.yaml's tracking.uri, and a variable naming another would be refused."""
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("DVC_EXP_NAME", None)
    env.update(extra or {})
    return env


def run(
    command: list[str], cwd: Path, env: dict | None = None, check: bool = True, timeout: float = 1200
) -> subprocess.CompletedProcess:
    result = subprocess.run(
        command, cwd=cwd, env=env or pipeline_env(), capture_output=True, text=True, timeout=timeout
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(command)} exited {result.returncode}\nstdout:\n{result.stdout[-4000:]}\n"
            f"stderr:\n{result.stderr[-4000:]}"
        )
    return result


def wait_until_served(url: str, server: subprocess.Popen, log_path: Path, seconds: float = 180) -> None:
    """Return once ``url`` answers; fail with the server's log if it exits or never answers
    (`mlflow models serve` takes seconds to start on a busy machine)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the server at {url} did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(1)


def stages_run(output: str) -> list[str]:
    """Names of the stages a `dvc repro` (or `dvc exp run`) output says it ran."""
    return re.findall(r"Running stage '([^']+)'", output)


def alphabet_lstm(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """`alphabet-lstm ARGS` in ``cwd``: the console script's entry point, run in this process
    (a process start costs half a second, and TensorFlow's import ten more for `export`)."""
    from alphabet_lstm import cli

    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.chdir(cwd), contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            code = cli.main(list(args))
        except SystemExit as exit_request:  # argparse's --help
            code = exit_request.code or 0
    return subprocess.CompletedProcess([CONSOLE_SCRIPT, *args], code, stdout.getvalue(), stderr.getvalue())


@pytest.fixture(scope="module")
def browser():
    """A headless Chromium for a module's browser tests. Without /usr/bin/chromium they skip,
    except in CI, where they fail."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: CI must install Debian's chromium package (.ci/run)")
        pytest.skip(f"{CHROMIUM} is absent (apt-get install chromium); the browser tests run in CI")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """A temporary clone on the small-epoch profile, with its own MLflow store."""
    return make_clone(tmp_path / "repo")


@pytest.fixture
def team_server():
    """A team tracking server (scripts/mlflow-server.sh: PostgreSQL, logins) for one test."""
    from team_helpers import running_team_server

    with running_team_server() as server:
        yield server


@pytest.fixture(scope="module")
def keras_engine():
    """The faithful Keras engine, Keras imported once per module (a hard dependency: a
    broken TensorFlow install fails these tests rather than skipping them)."""
    from alphabet_lstm.model import engine_keras

    return engine_keras


@pytest.fixture(scope="session")
def reproduced_clone(tmp_path_factory) -> Path:
    """One clone where `dvc repro` has run once, shared by read-only tests."""
    root = make_clone(tmp_path_factory.mktemp("shared") / "repo")
    run(["dvc", "repro"], root)
    return root


# The groups that run the pipeline most, heaviest first (about 6, 5, 3.5, 3 and 2 minutes of one
# core). They start first, on different workers, and the lighter groups fill in around them:
# by default xdist starts the groups with the most tests first, which left the team group's
# four long tests to run alone at the end. `make test` passes --no-loadscope-reorder so that
# xdist keeps the order set here.
HEAVIEST_GROUPS = ("reproduced_clone", "test_team", "test_docs", "test_s3", "test_sweeps")


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_collection_modifyitems(config, items) -> None:
    """Keep expensive fixtures built once under pytest-xdist (`make test` runs `-n auto`).

    Under `--dist loadgroup` a worker takes a whole group: each module is one group, so a
    module-scoped clone is reproduced once; every module that uses the session's
    reproduced_clone joins one group, so that clone is reproduced once too. Groups are
    ordered heaviest first: HEAVIEST_GROUPS, then groups with slow or end-to-end tests,
    then the unit tests. A test that runs Keras (the keras_engine fixture) imports
    TensorFlow: slow, not the unit tier.
    """
    shared = {item.module.__name__ for item in items if "reproduced_clone" in item.fixturenames}
    group_of = {}
    for item in items:
        if "keras_engine" in item.fixturenames:
            item.add_marker(pytest.mark.slow)
        module = item.module.__name__
        group_of[item] = "reproduced_clone" if module in shared else module
        item.add_marker(pytest.mark.xdist_group(group_of[item]))
    costly = {group_of[item] for item in items if item.get_closest_marker("slow") or item.get_closest_marker("e2e")}

    def rank(item) -> int:
        group = group_of[item]
        if group in HEAVIEST_GROUPS:
            return HEAVIEST_GROUPS.index(group)
        return len(HEAVIEST_GROUPS) + (group not in costly)

    items.sort(key=rank)  # stable: each module keeps its tests' order
