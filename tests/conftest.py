"""Shared fixtures: a temporary clone of this repository running the real pipeline."""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

# The clone helpers, shared with the benchmark; tests import them from here (`X as X`
# marks a re-export).
from clones import PROJECT_ROOT as REPO_ROOT
from clones import SMALL_EPOCHS as SMALL_EPOCHS
from clones import copy_checkout as copy_checkout
from clones import make_clone
from clones import tracked_files as tracked_files
from clones import with_small_epochs as with_small_epochs
from filelock import FileLock

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
    with commands_serialized_in(cwd):
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


def in_this_process(command: list[str], entry_point: Callable[[], int], cwd: Path) -> subprocess.CompletedProcess:
    """What ``command`` gives, from ``entry_point()`` (its exit status) run in this process in
    ``cwd``, its output captured: a process start costs half a second, and the imports it
    repeats seconds more (TensorFlow's for `export`, MLflow's for the log stage)."""
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.chdir(cwd), contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            code = entry_point()
        except SystemExit as exit_request:  # argparse's --help
            code = exit_request.code or 0
    return subprocess.CompletedProcess(command, code, stdout.getvalue(), stderr.getvalue())


def alphabet_lstm(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """`alphabet-lstm ARGS` in ``cwd``: the console script's entry point, run in this process."""
    from alphabet_lstm import cli

    return in_this_process([CONSOLE_SCRIPT, *args], lambda: cli.main(list(args)), cwd)


def read_store(database: Path, query: str, *parameters, timeout: float = 5.0) -> list[tuple]:
    """The rows ``query`` selects from an embedded MLflow store, read-only, straight from
    SQLite: MLflow's client would cost the test process its import (seconds) for a lookup."""
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=timeout)) as connection:
        return connection.execute(query, parameters).fetchall()


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


@pytest.fixture(scope="module")
def keras_engine():
    """The faithful Keras engine, Keras imported once per module (a hard dependency: a
    broken TensorFlow install fails these tests rather than skipping them)."""
    from alphabet_lstm.model import engine_keras

    return engine_keras


# --- Heavy set-ups, built once per suite -------------------------------------------------


def persistent_cache() -> Path:
    """Where results that outlive a run are kept, keyed by what they are made of, outside
    the repository: $MODEL_ENV_CACHE, else ~/.cache/alphabet-lstm."""
    return Path(
        os.environ.get("MODEL_ENV_CACHE")
        or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "alphabet-lstm"
    )


def shared_directory(tmp_path_factory) -> Path:
    """The run's temporary directory that every pytest-xdist worker sees: each worker's own
    base directory is a folder inside it (without xdist, the run's base directory)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


# Set-ups built once and shared, read-only: run() serializes commands inside them.
SHARED_BUILDS: set[Path] = set()


def build_once(directory: Path, build: Callable[[Path], object]) -> Path:
    """``directory`` after ``build(directory)`` has run once for the whole run: the first
    worker builds under a file lock, the others wait and reuse it. A failed build fails the
    tests of every worker with its error, rather than being tried again on each."""
    done, failed = directory.with_name(f"{directory.name}.done"), directory.with_name(f"{directory.name}.failed")
    with FileLock(directory.with_name(f"{directory.name}.lock")):
        if failed.exists():
            pytest.fail(f"building {directory.name} failed on another worker:\n{failed.read_text()}")
        if not done.exists():
            try:
                build(directory)
            except BaseException as error:
                failed.write_text(f"{type(error).__name__}: {error}"[-4000:])
                raise
            done.touch()
    SHARED_BUILDS.add(directory.resolve())
    return directory


def commands_serialized_in(cwd: Path) -> contextlib.AbstractContextManager:
    """A lock while a command runs inside a shared set-up: two workers' DVC commands in one
    checkout would contend for DVC's own lock; elsewhere, nothing."""
    resolved = cwd.resolve()
    for directory in SHARED_BUILDS:
        if resolved == directory or directory in resolved.parents:
            return FileLock(directory.with_name(f"{directory.name}.commands.lock"))
    return contextlib.nullcontext()


def copy_of_shared(source: Path, destination: Path) -> Path:
    """``copy_checkout`` of a shared set-up, while no command of another worker runs in it."""
    with commands_serialized_in(source):
        return copy_checkout(source, destination)


@pytest.fixture(scope="session")
def built_once(tmp_path_factory) -> Callable[[str, Callable[[Path], object]], Path]:
    """``built_once(name, build)``: the directory ``name`` of the run's shared directory,
    built by ``build(directory)`` on the first worker that asks, reused by the others."""
    shared = shared_directory(tmp_path_factory)
    return lambda name, build: build_once(shared / name, build)


def reproduce_small_clone(root: Path) -> None:
    make_clone(root)
    run(["dvc", "repro"], root)


@pytest.fixture(scope="session")
def reproduced_clone(built_once) -> Path:
    """One small-profile clone where `dvc repro` has run, built once for the whole run and
    shared by read-only tests (copy it with ``reproduced_copy`` to change it)."""
    return built_once("reproduced_clone", reproduce_small_clone)


@pytest.fixture
def reproduced_copy(reproduced_clone: Path, tmp_path: Path) -> Path:
    """A test's own copy of the reproduced clone and its DVC cache, with an empty MLflow store
    of its own (only the log stage is due)."""
    return copy_of_shared(reproduced_clone, tmp_path / "repo")


def reproduce_team_clone(root: Path) -> None:
    from team_helpers import team_clone

    team_clone(root)
    run(["dvc", "repro"], root)
    run(["git", "add", "dvc.lock", "metrics"], root)
    run(["git", "commit", "-q", "-m", "Reproduce"], root)


@pytest.fixture(scope="session")
def team_reproduced(built_once) -> Path:
    """The two-framing team clone after `dvc repro` and the commit docs/team.md asks for,
    built once for the team, S3, log and fault tests (test_pipeline compares its outputs with
    the reproduced clone's). Read-only: each takes ``own_team_checkout`` of it (a copy with a
    store of its own) or ``copy_of_shared``."""
    return built_once("team_reproduced", reproduce_team_clone)


# The report stage's figure cache, a folder of .dvc/tmp: dvc.yaml's figure_cache.
REPORT_FIGURE_CACHE = Path(yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())["vars"][0]["figure_cache"]).name


def copy_with_store(source: Path, destination: Path) -> Path:
    """A copy of a shared set-up and its DVC cache with its embedded MLflow store and the log
    stage's record, the store moved to the copy: every path naming the source's folder, in the
    store's tables and in its artifacts, names the copy's. The store the copy's own log stage
    would write, without the half minute that costs. Of .dvc/tmp only the report's figure cache
    comes along (keyed by content, so the copy's report redraws only the figures its changes
    touch, as the source's would); DVC's locks, state and the log ledger stay behind."""

    def ignored(folder: str, names: list[str]) -> list[str]:
        if Path(folder).name == "tmp" and Path(folder).parent.name == ".dvc":
            return [name for name in names if name != REPORT_FIGURE_CACHE]
        return []

    with commands_serialized_in(source):
        shutil.copytree(source, destination, symlinks=True, ignore=ignored)
    old, new = str(source.resolve()), str(destination.resolve())
    with contextlib.closing(sqlite3.connect(destination / "mlflow.db")) as connection, connection:
        tables = [name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            for column in [row[1] for row in connection.execute(f'PRAGMA table_info("{table}")')]:
                connection.execute(
                    f'UPDATE "{table}" SET "{column}" = replace("{column}", ?, ?) '
                    f'WHERE typeof("{column}") = \'text\' AND instr("{column}", ?) > 0',
                    (old, new, old),
                )
        assert old not in "\n".join(connection.iterdump()), f"the copied store still names {old}"
    for path in (destination / "mlartifacts").rglob("*"):
        if path.is_file() and old.encode() in (content := path.read_bytes()):
            path.write_bytes(content.replace(old.encode(), new.encode()))
    return destination


def own_team_checkout(team_reproduced: Path, destination: Path, env: dict | None = None) -> Path:
    """A copy of the shared team clone with a store of its own (``copy_with_store``), after a
    `dvc repro` that finds everything up to date, and whose dvc.lock is committed again if the
    repro changed it, as a teammate would."""
    root = copy_with_store(team_reproduced, destination)
    run(["dvc", "repro"], root, env)
    if run(["git", "status", "--porcelain"], root, env).stdout:
        run(["git", "add", "dvc.lock", "metrics"], root, env)
        run(["git", "commit", "-q", "-m", "Log to this checkout's store"], root, env)
    return root


# --- Tiers, by what a test needs ---------------------------------------------------------

# A test using one of these runs the pipeline (subprocesses, DVC, TensorFlow) or needs a part
# of the machine beyond the venv: it is never in the unit tier, whatever its marks say.
PIPELINE_FIXTURES = {"clone", "reproduced_clone", "reproduced_copy", "team_reproduced", "keras_engine"}
# (s3: test_s3's moto server; clean_python: test_model_portability's clean venv.)
SYSTEM_FIXTURES = {"browser", "s3", "clean_python"}
# Per-test time limits (pytest-timeout): a hang fails that test by its name. A pipeline or
# system test's limit also covers the shared set-up it may be the first to build.
TIME_LIMITS = {"unit": 120, "pipeline": 1800, "system": 1800}


def tier(item: pytest.Item) -> str:
    if item.get_closest_marker("system"):
        return "system"
    return "pipeline" if item.get_closest_marker("pipeline") else "unit"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items) -> None:
    """Mark each test's tier from what it uses, and give it that tier's time limit.

    `e2e` and `slow`, the older marks, mean pipeline.
    """
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if item.get_closest_marker("e2e") or item.get_closest_marker("slow") or fixtures & PIPELINE_FIXTURES:
            item.add_marker(pytest.mark.pipeline)
        if fixtures & SYSTEM_FIXTURES:
            item.add_marker(pytest.mark.system)
        if not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(TIME_LIMITS[tier(item)]))
    items[:] = costliest_modules_first(items)


# A rough cost in seconds: of a module's set-up (a server, a clone, a cluster: a fixture of
# module or session scope), and of a test by its tier (a system test talks to a server or a
# browser, a pipeline test runs DVC, a stage or TensorFlow, a unit test runs in process).
SET_UP_SECONDS = 30.0
TIER_SECONDS = {"system": 10.0, "pipeline": 4.0, "unit": 0.05}


def costliest_modules_first(items: list[pytest.Item]) -> list[pytest.Item]:
    """The tests, module by module, the costliest module first (each module's tests in their
    own order).

    `make test` hands a whole module to a pytest-xdist worker (--dist loadscope), in this
    order (--no-loadscope-reorder): a costly module handed out last would run alone on one
    worker while the other waits, so the short ones come last and the workers end together.
    """
    cost: dict[str, float] = {}
    set_ups: dict[str, set[str]] = {}
    for item in items:
        module = item.nodeid.split("::")[0]
        cost[module] = cost.get(module, 0.0) + TIER_SECONDS[tier(item)]
        fixtures = getattr(item, "_fixtureinfo", None)
        for name, definitions in fixtures.name2fixturedefs.items() if fixtures else ():
            # Ours only (a plugin's fixtures have no base id), of module or session scope.
            if definitions[-1].baseid and definitions[-1].scope in ("module", "session"):
                set_ups.setdefault(module, set()).add(name)
    for module, names in set_ups.items():
        cost[module] += SET_UP_SECONDS * len(names)
    return sorted(items, key=lambda item: -cost[item.nodeid.split("::")[0]])


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call):
    """In CI a system test that skips (its part of the machine missing) fails instead."""
    report = yield
    if os.environ.get("CI") and report.skipped and tier(item) == "system":
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"{item.nodeid} skipped in CI, where every system part must be present: {reason}"
    return report


@pytest.fixture(autouse=True)
def unit_tests_stay_in_process(request, monkeypatch):
    """A unit test that starts a process or imports TensorFlow fails, saying to mark it."""
    if tier(request.node) != "unit":
        yield
        return

    def refuse(self, args, *rest, **options):
        raise AssertionError(f"a unit test started {args!r}: mark it pipeline (or system)")

    monkeypatch.setattr(subprocess.Popen, "_execute_child", refuse)
    tensorflow_before = "tensorflow" in sys.modules
    yield
    if not tensorflow_before and "tensorflow" in sys.modules:
        pytest.fail("a unit test imported TensorFlow: mark it pipeline")


def descendants(pid: int) -> list[int]:
    """Every process below ``pid``, from /proc (children of children included)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, pending = [], [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            found.append(child)
            pending.append(child)
    return found


# The evaluate stage's arguments for one_char, as dvc.yaml gives them.
EVALUATE_ONE_CHAR = [
    "--models",
    "models/one_char",
    "--encoded",
    "data/encoded/one_char.npz",
    "--patterns",
    "data/patterns/one_char.json",
    *[
        argument
        for kind in ("metrics", "predictions", "details", "probabilities")
        for argument in (f"--{kind}", f"metrics/{'evaluation' if kind == 'metrics' else kind}/one_char")
    ],
]
