"""The params schema: the real params.yaml, and every way a params file can be wrong.

Each bad file is one mutation of the real params.yaml. The schema must name the key path
of the mistake in one line, and the stage entry point must turn it into ``error: ...``
lines, exit code 2 and an untouched output file.
"""

from __future__ import annotations

import copy
import functools
import math
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from dvc.utils.serialize import load_yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from alphabet_lstm.params import FramingParams, Params, ParamsError, Sweep, load_params, parse_params
from alphabet_lstm.params.kinds import PrefixPaddedDataset, SlidingDataset, VariableLengthDataset

REPO_ROOT = Path(__file__).resolve().parents[1]
PARAMS_PATH = REPO_ROOT / "params.yaml"
# Words pydantic uses for union members and its own internals; none may reach the user.
INTERNAL_WORDS = ("literal[", "constrained-int", "[key]", "function-", "tagged-union", "pydantic")
# Union members pydantic puts in an error's location; never a key path segment of ours.
UNION_MEMBERS = {"int", "str", "sliding", "variable_length", "prefix_padded"}


@functools.cache
def _real_params_once() -> dict:
    return yaml.safe_load(PARAMS_PATH.read_text())


def real_params() -> dict:
    """A fresh copy of the real params.yaml as parsed YAML (read once: YAML is slow)."""
    return copy.deepcopy(_real_params_once())


# --- the real params.yaml --------------------------------------------------------------

# The tutorial's table of its six framings: dataset, layout, units, batch size, epochs, shuffle,
# stateful. Framing 7 is the one the tutorial proposed and left unimplemented.
TUTORIAL_FRAMINGS = {
    "one_char": (SlidingDataset(kind="sliding", seq_length=1), "timesteps", 32, 1, 500, True, False),
    "window_features": (SlidingDataset(kind="sliding", seq_length=3), "features", 32, 1, 500, True, False),
    "window_timesteps": (SlidingDataset(kind="sliding", seq_length=3), "timesteps", 32, 1, 500, True, False),
    "batch_all": (SlidingDataset(kind="sliding", seq_length=1), "timesteps", 16, "all", 5000, False, False),
    "stateful": (SlidingDataset(kind="sliding", seq_length=1), "timesteps", 50, 1, 300, False, True),
    "variable_length": (
        VariableLengthDataset(kind="variable_length", num_inputs=1000, max_len=5, seed=7),
        "timesteps",
        32,
        1,
        500,
        True,
        False,
    ),
    "prefix_padded": (PrefixPaddedDataset(kind="prefix_padded"), "timesteps", 32, 1, 500, True, False),
}
TUTORIAL_ACCURACY = {
    "one_char": 0.84,
    "window_features": 0.8696,
    "window_timesteps": 1.0,
    "batch_all": 1.0,
    "stateful": 1.0,
    "variable_length": 0.989,
}
# [samples, time steps, features] per framing, and the batch size actually used.
TUTORIAL_SHAPES = {
    "one_char": ((25, 1, 1), 1),
    "window_features": ((23, 1, 3), 1),
    "window_timesteps": ((23, 3, 1), 1),
    "batch_all": ((25, 1, 1), 25),
    "stateful": ((25, 1, 1), 1),
    "variable_length": ((1000, 5, 1), 1),
    "prefix_padded": ((25, 25, 1), 1),
}


def test_real_params_hold_the_tutorials_hyperparameters_exactly():
    params = load_params(PARAMS_PATH)
    assert isinstance(params, Params)
    assert list(params.framings) == list(TUTORIAL_FRAMINGS)
    for name, (dataset, layout, units, batch_size, epochs, shuffle, stateful) in TUTORIAL_FRAMINGS.items():
        framing = params.framing(name)
        assert framing.dataset == dataset, name
        assert (framing.layout, framing.units, framing.batch_size) == (layout, units, batch_size), name
        assert (framing.epochs, framing.shuffle, framing.stateful) == (epochs, shuffle, stateful), name
    assert params.report.tutorial_accuracy == TUTORIAL_ACCURACY
    assert 7 in params.seeds
    assert params.train.engine in ("fast", "keras")
    # The committed study logs to the embedded store; a team commits its server here instead.
    assert params.tracking.uri == "sqlite:///mlflow.db"


def test_real_params_imply_the_tutorials_input_shapes():
    params = load_params(PARAMS_PATH)
    for name, ((samples, timesteps, features), batch_size) in TUTORIAL_SHAPES.items():
        framing = params.framing(name)
        length = framing.dataset.input_length
        shape = (framing.dataset.size,) + ((length, 1) if framing.layout == "timesteps" else (1, length))
        assert shape == (samples, timesteps, features), name
        assert framing.resolved_batch_size == batch_size, name


def test_params_are_frozen():
    params = load_params(PARAMS_PATH)
    with pytest.raises(ValidationError, match="frozen"):
        params.framing("one_char").units = 64  # type: ignore[misc]


def test_a_sweeps_grid_points_are_typed_once_by_the_checks():
    """The checks validate every grid point as a framing; the sweep uses those very objects
    rather than validating its points a second time."""
    params = load_params(PARAMS_PATH)
    first, again = (Sweep.from_params(params, "one_char_budget") for _ in range(2))
    assert first.points is again.points and len(first.points) == 9
    assert [point.index for point in first.points] == list(range(9))
    assert all(point.framing is other.framing for point, other in zip(first.points, again.points))
    assert first.points[0].framing == params.framing("one_char")


def test_unknown_framing_name_suggests_the_near_one():
    params = load_params(PARAMS_PATH)
    with pytest.raises(ParamsError) as caught:
        params.framing("onechar")
    (problem,) = caught.value.problems
    assert problem.startswith("framings.onechar: no such framing (did you mean 'one_char'?)")
    assert "stateful" in problem


# --- bad params files -------------------------------------------------------------------


def set_at(path: tuple, value):
    def mutate(raw: dict) -> None:
        node = raw
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return mutate


def delete_at(path: tuple):
    def mutate(raw: dict) -> None:
        node = raw
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]

    return mutate


def rename_at(path: tuple, new_key):
    def mutate(raw: dict) -> None:
        node = raw
        for key in path[:-1]:
            node = node[key]
        # Keep the key's position so the file reads like a one-word edit.
        items = list(node.items())
        node.clear()
        node.update({(new_key if key == path[-1] else key): value for key, value in items})

    return mutate


ONE_CHAR = ("framings", "one_char")
VARIABLE = ("framings", "variable_length")
STATEFUL = ("framings", "stateful")

# (id, mutation, key path the message must name, a fragment it must also hold)
BAD_PARAMS = [
    # Unknown keys, with a did-you-mean for near misses.
    (
        "unknown-framing-key",
        rename_at(ONE_CHAR + ("epochs",), "epoch"),
        "framings.one_char.epoch",
        "unknown key (did you mean 'epochs'?)",
    ),
    (
        "unknown-dataset-key",
        rename_at(ONE_CHAR + ("dataset", "seq_length"), "seq_len"),
        "framings.one_char.dataset.seq_len",
        "did you mean 'seq_length'?",
    ),
    ("unknown-top-level-key", rename_at(("seeds",), "seed"), "seed", "did you mean 'seeds'?"),
    ("unknown-train-key", rename_at(("train", "engine"), "engin"), "train.engin", "did you mean 'engine'?"),
    (
        "key-of-another-kind",
        set_at(("framings", "prefix_padded", "dataset", "seq_length"), 3),
        "framings.prefix_padded.dataset.seq_length",
        "unknown key; allowed keys: kind",
    ),
    (
        "unknown-accuracy-framing",
        rename_at(("report", "tutorial_accuracy", "one_char"), "one_chars"),
        "report.tutorial_accuracy.one_chars",
        "did you mean 'one_char'?",
    ),
    # Missing keys.
    ("missing-epochs", delete_at(ONE_CHAR + ("epochs",)), "framings.one_char.epochs", "Field required"),
    (
        "missing-kind",
        delete_at(ONE_CHAR + ("dataset", "kind")),
        "framings.one_char.dataset",
        "the key kind is missing; allowed kinds: 'sliding', 'variable_length', 'prefix_padded'",
    ),
    # Wrong types, including a bool where a number belongs. Text that would read as another
    # type is quoted, as YAML writes it.
    (
        "seq-length-text",
        set_at(ONE_CHAR + ("dataset", "seq_length"), "3"),
        "framings.one_char.dataset.seq_length",
        "got '3'; Input should be a valid integer",
    ),
    (
        "epochs-bool",
        set_at(ONE_CHAR + ("epochs",), True),
        "framings.one_char.epochs",
        "got true; Input should be a valid integer",
    ),
    ("units-float", set_at(ONE_CHAR + ("units",), 32.5), "framings.one_char.units", "got 32.5; Input should be"),
    (
        "shuffle-text",
        set_at(ONE_CHAR + ("shuffle",), "yes"),
        "framings.one_char.shuffle",
        "got 'yes'; Input should be a valid boolean",
    ),
    (
        "stateful-number",
        set_at(ONE_CHAR + ("stateful",), 1),
        "framings.one_char.stateful",
        "got 1; Input should be a valid boolean",
    ),
    (
        "dataset-null",
        set_at(ONE_CHAR + ("dataset",), None),
        "framings.one_char.dataset",
        "got null; Input should be a valid dictionary",
    ),
    # batch_size is a union (a whole number or 'all'): pydantic fails each member, one line.
    (
        "batch-size-bool",
        set_at(ONE_CHAR + ("batch_size",), True),
        "framings.one_char.batch_size",
        "got true; Input should be a valid integer or 'all'",
    ),
    ("seed-bool", set_at(("seeds",), [True]), "seeds[0]", "got true; Input should be a valid integer"),
    (
        "accuracy-text",
        set_at(("report", "tutorial_accuracy", "one_char"), "high"),
        "report.tutorial_accuracy.one_char",
        "got high; Input should be a valid number",
    ),
    # Out of range.
    (
        "seq-length-0",
        set_at(ONE_CHAR + ("dataset", "seq_length"), 0),
        "framings.one_char.dataset.seq_length",
        "got 0; Input should be greater than or equal to 1",
    ),
    (
        "seq-length-26",
        set_at(ONE_CHAR + ("dataset", "seq_length"), 26),
        "framings.one_char.dataset.seq_length",
        "got 26; Input should be less than or equal to 25",
    ),
    (
        "max-len-0",
        set_at(VARIABLE + ("dataset", "max_len"), 0),
        "framings.variable_length.dataset.max_len",
        "got 0; Input should be greater than or equal to 1",
    ),
    (
        "max-len-26",
        set_at(VARIABLE + ("dataset", "max_len"), 26),
        "framings.variable_length.dataset.max_len",
        "got 26; Input should be less than or equal to 25",
    ),
    (
        "num-inputs-0",
        set_at(VARIABLE + ("dataset", "num_inputs"), 0),
        "framings.variable_length.dataset.num_inputs",
        "got 0",
    ),
    ("epochs-0", set_at(ONE_CHAR + ("epochs",), 0), "framings.one_char.epochs", "got 0"),
    ("units-negative", set_at(ONE_CHAR + ("units",), -32), "framings.one_char.units", "got -32"),
    (
        "batch-size-0",
        set_at(ONE_CHAR + ("batch_size",), 0),
        "framings.one_char.batch_size",
        "got 0; Input should be greater than or equal to 1 or 'all'",
    ),
    (
        "accuracy-above-1",
        set_at(("report", "tutorial_accuracy", "one_char"), 84.0),
        "report.tutorial_accuracy.one_char",
        "got 84.0",
    ),
    ("seed-negative", set_at(("seeds",), [7, -1]), "seeds[1]", "got -1"),
    ("seeds-empty", set_at(("seeds",), []), "seeds", "got []; List should have at least 1 item"),
    ("seeds-repeated", set_at(("seeds",), [7, 8, 7]), "seeds", "7 appears more than once"),
    # Rules spanning several keys.
    (
        "batch-larger-than-data",
        set_at(ONE_CHAR + ("batch_size",), 26),
        "framings.one_char.batch_size",
        "from 1 to 25 (the data set's size)",
    ),
    (
        "batch-larger-than-variable-data",
        set_at(VARIABLE + ("batch_size",), 1001),
        "framings.variable_length.batch_size",
        "from 1 to 1000",
    ),
    (
        "stateful-batch-not-dividing",
        set_at(STATEFUL + ("batch_size",), 2),
        "framings.stateful.batch_size",
        "(1, 5, 25)",
    ),
    ("stateful-with-shuffle", set_at(STATEFUL + ("shuffle",), True), "framings.stateful.shuffle", "allowed: false"),
    (
        "framing-name",
        set_at(("framings", "One-Char"), real_params()["framings"]["one_char"]),
        "framings.One-Char",
        "lower-case",
    ),
    # Unknown choices.
    (
        "unknown-layout",
        set_at(ONE_CHAR + ("layout",), "feature"),
        "framings.one_char.layout",
        "did you mean 'features'?",
    ),
    (
        "unknown-dataset-kind",
        set_at(ONE_CHAR + ("dataset", "kind"), "slidng"),
        "framings.one_char.dataset",
        "got {kind: slidng, seq_length: 1}; Input tag 'slidng' found using 'kind' does not match any of the "
        "expected tags: 'sliding', 'variable_length', 'prefix_padded' (did you mean 'sliding'?)",
    ),
    (
        "dataset-kind-number",
        set_at(ONE_CHAR + ("dataset", "kind"), 3),
        "framings.one_char.dataset",
        "got {kind: 3, seq_length: 1}; Input tag '3' found",
    ),
    (
        "batch-size-word",
        set_at(ONE_CHAR + ("batch_size",), "ALL"),
        "framings.one_char.batch_size",
        "got ALL; Input should be a valid integer or 'all' (did you mean 'all'?)",
    ),
    (
        "unknown-engine",
        set_at(("train", "engine"), "tensorflow"),
        "train.engine",
        "got tensorflow; Input should be 'fast' or 'keras'",
    ),
    # The MLflow store: a URI with its scheme, as MLflow takes it.
    ("tracking-uri-path", set_at(("tracking", "uri"), "mlflow.db"), "tracking.uri", "a tracking URI with its scheme"),
    ("tracking-uri-empty", set_at(("tracking", "uri"), ""), "tracking.uri", "http(s)://host:port"),
    ("tracking-uri-number", set_at(("tracking", "uri"), 5000), "tracking.uri", "got 5000"),
    ("unknown-tracking-key", rename_at(("tracking", "uri"), "url"), "tracking.url", "did you mean 'uri'?"),
]
BAD_IDS = [case[0] for case in BAD_PARAMS]
# The cases also run through the real stage: one or more of each kind of mistake. (Each run
# starts a Python process, about half a second; all of them would double this file's time.)
STAGE_CASES = [
    case
    for case in BAD_PARAMS
    if case[0]
    in {
        "unknown-framing-key",
        "missing-kind",
        "epochs-bool",
        "max-len-0",
        "batch-size-0",
        "batch-larger-than-data",
        "stateful-batch-not-dividing",
        "unknown-dataset-kind",
        "unknown-engine",
    }
]


def bad_params(mutation) -> dict:
    raw = real_params()
    mutation(raw)
    return raw


def write_params(path: Path, raw) -> Path:
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def user_words(node) -> set[str]:
    """Every key and text value a params mapping holds."""
    if isinstance(node, dict):
        return {str(key) for key in node} | set().union(*(user_words(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(user_words(value) for value in node))
    return {node} if isinstance(node, str) else set()


def assert_readable(problems: list[str], raw=None) -> None:
    """One line per problem, and no pydantic internals (unless the user wrote them)."""
    assert problems
    written = user_words(raw)
    for problem in problems:
        assert isinstance(problem, str) and problem.strip()
        assert len(problem.splitlines()) == 1, problem
        for word in INTERNAL_WORDS:
            assert word not in problem or any(word in text for text in written), (word, problem)
        for segment in problem.split(": ")[0].split("."):
            assert segment not in UNION_MEMBERS or segment in written, (segment, problem)


@pytest.mark.parametrize("case_id, mutation, key_path, fragment", BAD_PARAMS, ids=BAD_IDS)
def test_bad_params_name_the_key_path(case_id, mutation, key_path, fragment):
    raw = bad_params(mutation)
    with pytest.raises(ParamsError) as caught:
        parse_params(raw)
    problems = caught.value.problems
    assert_readable(problems, raw)
    # One mutation, one problem: union members must not each add a line of their own.
    assert len(problems) == 1, problems
    (problem,) = problems
    assert problem.startswith(f"{key_path}: "), problem
    assert fragment in problem, problem
    # The first line of the error names the file it came from.
    assert str(caught.value).startswith(f"params.yaml: {key_path}: ")


def test_the_table_has_enough_distinct_cases():
    assert len(BAD_PARAMS) >= 20
    assert len(set(BAD_IDS)) == len(BAD_IDS)
    assert len({case[2] for case in BAD_PARAMS}) >= 20


def test_every_problem_is_reported_at_once():
    raw = real_params()
    set_at(ONE_CHAR + ("units",), 0)(raw)
    set_at(VARIABLE + ("dataset", "max_len"), 30)(raw)
    rename_at(("train", "engine"), "engines")(raw)
    with pytest.raises(ParamsError) as caught:
        parse_params(raw)
    paths = [problem.split(": ")[0] for problem in caught.value.problems]
    assert paths == ["train.engines", "framings.one_char.units", "framings.variable_length.dataset.max_len"]


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("", "(top level): the file is empty"),
        ("- 1\n- 2\n", "(top level): got [1, 2]; Input should be a valid dictionary"),
        ("seeds: [7\n", "not valid YAML"),
    ],
    ids=["empty", "a-list", "broken-yaml"],
)
def test_files_that_are_not_a_params_mapping(tmp_path, text, fragment):
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(ParamsError) as caught:
        load_params(path)
    assert_readable(caught.value.problems)
    assert fragment in caught.value.problems[0]
    assert caught.value.source == str(path)


def test_a_key_written_twice_is_refused(tmp_path):
    # Plain YAML loading keeps the last value silently; the study must not.
    text = PARAMS_PATH.read_text()
    first = text.index("    epochs: 500\n")
    line = text[:first].count("\n") + 1
    path = tmp_path / "params.yaml"
    path.write_text(text[:first] + "    epochs: 500\n    epochs: 5\n" + text[first + len("    epochs: 500\n") :])
    with pytest.raises(ParamsError) as caught:
        load_params(path)
    assert caught.value.problems == [
        f"line {line + 1}: the key epochs is written twice in one mapping (first on line {line}); "
        "allowed: each key once"
    ]


@pytest.mark.parametrize("directive", ["", "%YAML 1.1\n---\n"])
def test_only_true_and_false_are_booleans(tmp_path, directive):
    # YAML 1.1 (plain PyYAML) reads yes/on as true; DVC reads params.yaml as YAML 1.2, where
    # they are text, and with its C parser even under a %YAML 1.1 line. The schema follows
    # DVC, so both see the same value.
    text = PARAMS_PATH.read_text()
    path = tmp_path / "params.yaml"
    path.write_text(directive + text.replace("    shuffle: true\n", "    shuffle: yes\n", 1))
    assert load_yaml(path)["framings"]["one_char"]["shuffle"] == "yes"  # as DVC reads it
    with pytest.raises(ParamsError) as caught:
        load_params(path)
    assert caught.value.problems == ["framings.one_char.shuffle: got 'yes'; Input should be a valid boolean"]


def test_unreadable_files_are_params_errors(tmp_path):
    with pytest.raises(ParamsError, match="file not found"):
        load_params(tmp_path / "missing.yaml")
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("seeds: [7]  # r\xe9sum\xe9\n".encode("latin-1"))
    with pytest.raises(ParamsError, match="not UTF-8"):
        load_params(latin)
    with pytest.raises(ParamsError, match="cannot be read"):
        load_params(tmp_path)


# --- the same mistakes through the real generate stage ----------------------------------

SENTINEL = b'{"left": "as it was"}\n'


def run_generate(directory: Path, raw) -> tuple[subprocess.CompletedProcess, Path]:
    directory.mkdir()
    params_path = write_params(directory / "params.yaml", raw)
    out = directory / "patterns" / "one_char.json"
    out.parent.mkdir()
    out.write_bytes(SENTINEL)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "alphabet_lstm.stages.generate",
            "--params",
            str(params_path),
            "--out-dir",
            str(out.parent),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=directory,
    )
    return result, out


@pytest.fixture(scope="module")
def stage_runs(tmp_path_factory) -> dict:
    """Every bad file through the generate stage, run side by side to keep the suite fast."""
    root = tmp_path_factory.mktemp("stage-runs")
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        futures = {
            case_id: pool.submit(run_generate, root / case_id, bad_params(mutation))
            for case_id, mutation, _, _ in STAGE_CASES
        }
        return {case_id: future.result() for case_id, future in futures.items()}


@pytest.mark.parametrize("case_id, mutation, key_path, fragment", STAGE_CASES, ids=[case[0] for case in STAGE_CASES])
def test_generate_stage_refuses_bad_params(stage_runs, case_id, mutation, key_path, fragment):
    result, out = stage_runs[case_id]
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert lines and all(line.startswith("error: ") for line in lines), result.stderr
    assert any(line.startswith(f"error: {out.parent.parent / 'params.yaml'}: {key_path}: ") for line in lines), lines
    # The output is left exactly as it was and no temporary file is left beside it.
    assert out.read_bytes() == SENTINEL
    assert sorted(path.name for path in out.parent.iterdir()) == ["one_char.json"]
    assert sorted(path.name for path in out.parent.parent.iterdir()) == ["params.yaml", "patterns"]


@pytest.mark.pipeline
def test_train_stage_refuses_an_unknown_framing(tmp_path):
    params_path = write_params(tmp_path / "params.yaml", real_params())
    out = tmp_path / "out.json"
    out.write_bytes(SENTINEL)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "alphabet_lstm.stages.train",
            "--params",
            str(params_path),
            "--framing",
            "onechar",
            "--encoded",
            str(out),
            "--models",
            str(tmp_path / "models"),
            "--history",
            str(tmp_path / "history"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr
    assert "framings.onechar: no such framing (did you mean 'one_char'?)" in result.stderr
    assert out.read_bytes() == SENTINEL


# --- any params at all: valid, or a ParamsError -----------------------------------------

KEYWORDS = [
    "all",
    "sliding",
    "variable_length",
    "prefix_padded",
    "timesteps",
    "features",
    "fast",
    "keras",
    "kind",
    "seq_length",
    "max_len",
    "num_inputs",
    "seed",
    "epochs",
    "units",
    "batch_size",
    "shuffle",
    "stateful",
    "layout",
    "dataset",
    "one_char",
    "a\nb",
    "",
]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-3, max_value=30),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(KEYWORDS),
    st.text(max_size=6),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(
            st.one_of(st.sampled_from(KEYWORDS), st.text(max_size=4), st.integers(0, 9)), children, max_size=3
        ),
    ),
    max_leaves=6,
)
keys = st.one_of(st.sampled_from(KEYWORDS), st.text(max_size=8), st.integers(-1, 9), st.none(), st.booleans())


def paths_in(node, prefix=()) -> list[tuple]:
    """Every key path in a nested params mapping (list items included)."""
    found = []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for key, child in items:
        found.append(prefix + (key,))
        found.extend(paths_in(child, prefix + (key,)))
    return found


@st.composite
def near_valid_params(draw):
    """The real params with one to four random edits: replace, delete, add or rename a key."""
    raw = real_params()
    for _ in range(draw(st.integers(1, 4))):
        paths = paths_in(raw)
        path = draw(st.sampled_from(paths))
        parent = raw
        for key in path[:-1]:
            parent = parent[key]
        edit = draw(st.sampled_from(["replace", "delete", "add", "rename"]))
        if edit == "replace":
            parent[path[-1]] = draw(values)
        elif isinstance(parent, list):
            parent.append(draw(values))
        elif edit == "delete":
            del parent[path[-1]]
        elif edit == "add":
            parent[draw(keys)] = draw(values)
        else:
            parent[draw(keys)] = parent.pop(path[-1])
        if not raw:
            break
    return raw


def test_a_grid_value_with_keys_of_mixed_types_is_a_params_error():
    # Found by the property test below: such a mapping's keys cannot be sorted to compare values.
    raw = yaml.safe_load(PARAMS_PATH.read_text())
    raw["sweeps"]["one_char_budget"]["grid"]["epochs"] = [{"all": None, 0: None}, 1000]
    with pytest.raises(ParamsError, match=r"grid\[epochs=\{all: null, 0: null\}.*Input should be a valid integer"):
        parse_params(raw)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(near_valid_params())
def test_any_params_validate_or_raise_params_error(raw):
    original = copy.deepcopy(raw)
    try:
        params = parse_params(raw)
    except ParamsError as error:
        assert_readable(error.problems, original)
    else:
        # What validates keeps every rule the schema promises.
        assert params.seeds and len(set(params.seeds)) == len(params.seeds)
        for name, framing in params.framings.items():
            assert isinstance(framing, FramingParams)
            assert 1 <= framing.resolved_batch_size <= framing.dataset.size, name
            assert 1 <= framing.dataset.input_length <= 25
            if framing.stateful:
                assert not framing.shuffle
                assert framing.dataset.size % framing.resolved_batch_size == 0
        for accuracy in params.report.tutorial_accuracy.values():
            assert 0.0 <= accuracy <= 1.0 and not math.isnan(accuracy)
    assert raw == original or _has_nan(original), "parse_params must not change its input"


def _has_nan(node) -> bool:
    if isinstance(node, float):
        return math.isnan(node)
    if isinstance(node, dict):
        return any(_has_nan(value) for value in node.values())
    if isinstance(node, list):
        return any(_has_nan(value) for value in node)
    return False
