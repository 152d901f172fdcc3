"""benchmarks/loop.py: how it reads DVC's output into each stage's seconds, how it sets each
figure against the faithful port, and benchmarks/README.md showing the committed run as the
script prints it. The figures themselves come from running it (`make benchmark`)."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import re
import sys

import pytest
from conftest import REPO_ROOT

BENCHMARKS = REPO_ROOT / "benchmarks"
SAVED = BENCHMARKS / "results" / "loop.json"
SHOW_COMMAND = "$ .venv/bin/python benchmarks/loop.py --show benchmarks/results/loop.json"


@pytest.fixture(scope="module")
def loop():
    spec = importlib.util.spec_from_file_location("loop", BENCHMARKS / "loop.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["loop"] = module
    spec.loader.exec_module(module)
    return module


def test_the_benchmarks_stay_at_their_natural_size():
    lines = sum(len(path.read_text().splitlines()) for path in BENCHMARKS.glob("*.py"))
    assert lines <= 500, f"benchmarks/*.py hold {lines} lines"


def test_dvc_output_becomes_seconds_per_stage(loop):
    # (seconds since the command started, line) as DVC prints them; foreach stages add up.
    events = [
        (2.0, "Running stage 'validate':"),
        (2.1, "> python -m alphabet_lstm.stages.validate --out data/params-validated.json"),
        (3.0, "Updating lock file 'dvc.lock'"),
        (3.5, "Running stage 'train@stateful':"),
        (5.0, "Updating lock file 'dvc.lock'"),
        (5.25, "Running stage 'train@one_char':"),
        (6.25, "Updating lock file 'dvc.lock'"),
        (6.5, "Running stage 'log':"),
        (8.0, "Updating lock file 'dvc.lock'"),
    ]
    seconds = loop.stage_breakdown(events, end=10.0)
    assert seconds == {
        "set-up": 2.0,
        "code": 0.0,
        "validate": 1.0,
        "generate": 0.0,
        "encode": 0.0,
        "train": 2.5,
        "evaluate": 0.0,
        "report": 0.0,
        "log": 1.5,
        "between": 1.0,
        "end": 2.0,
    }
    assert sum(seconds.values()) == 10.0


def test_stages_without_lock_updates_end_where_the_next_begins(loop):
    """`dvc repro -f` with nothing changed prints no lock update: each stage runs up to the
    next one, the last up to the command's end."""
    events = [(1.0, "Running stage 'validate':"), (2.0, "Running stage 'report':"), (4.5, "Running stage 'log':")]
    assert loop.stage_breakdown(events, end=6.0) == {
        **dict.fromkeys(loop.COLUMNS, 0.0),
        "set-up": 1.0,
        "validate": 1.0,
        "report": 2.5,
        "log": 1.5,
    }


def test_a_command_that_ran_no_stage_is_all_set_up(loop):
    events = [(0.5, "Stage 'validate' didn't change, skipping"), (0.9, "Data and pipelines are up to date.")]
    assert loop.stage_breakdown(events, end=1.2) == {**dict.fromkeys(loop.COLUMNS, 0.0), "set-up": 1.2}


def saved_run(port_one_char: float, port_six: float, seconds: dict[str, float]) -> dict:
    stages = dict.fromkeys(("set-up", "validate", "generate", "encode", "train", "evaluate", "report", "log"), 0.0)
    return {
        "machine": "a CPU, 2 CPUs, Python 3",
        "load_average": {"start": 1.0, "end": 2.0},
        "port": {"one_char": port_one_char, "six_framings": port_six, "by_framing": {}},
        "commands": {
            name: {"seconds": value, "stages": {**stages, "between": 0.0, "end": value}}
            for name, value in seconds.items()
        },
    }


def test_each_figure_is_set_against_the_port_as_its_target_reads(loop):
    shown = loop.report(
        saved_run(
            40.0,
            2000.0,
            {
                "repro after a batch size change": 5.0,
                "dvc exp run -S stateful.batch_size=5": 10.0,
                "10-seed study": 60.0,
                "forced dvc repro -f": 25.0,
                "no-op dvc repro": 1.5,
            },
        )
    )
    rows = {line[:40].strip(): line[40:] for line in shown.splitlines()[4:9]}
    assert (
        "0.125x the port's one_char" in rows["repro after a batch size change"]
        and "<= 1/6" in rows["repro after a batch size change"]
    )
    assert "0.250x the port's one_char" in rows["dvc exp run -S stateful.batch_size=5"]
    assert "1.500x the port's one_char" in rows["10-seed study"]
    assert "80.0x faster than the port's six" in rows["forced dvc repro -f"] and ">= 60x" in rows["forced dvc repro -f"]
    assert re.search(r"1\.5\s+-\s+small", rows["no-op dvc repro"])


def test_the_readme_shows_the_committed_run_as_the_script_prints_it(loop):
    readme = (BENCHMARKS / "README.md").read_text()
    assert SHOW_COMMAND in readme, "benchmarks/README.md names the command whose output it shows"
    block = readme.split(SHOW_COMMAND + "\n", 1)[1].split("```", 1)[0]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        loop.main(["--show", str(SAVED)])
    assert block == printed.getvalue(), "paste the output of the command above into benchmarks/README.md"
    assert set(json.loads(SAVED.read_text())["commands"]) >= set(loop.TARGETS)
