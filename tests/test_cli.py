"""`alphabet-lstm predict`: the console script's entry point, on hand-made and pipeline-trained
models. Calls run in this process (conftest.alphabet_lstm: a process start per call would add
half a minute to the unit tier); test_the_installed_console_script runs the installed script.

The hand-made models are built so their answers are known without running them: one whose
hidden state is exactly zero (so its probabilities are its Dense bias), one that answers the
letter after the last letter it saw, and one that counts the letters fed since a reset.
"""

from __future__ import annotations

import csv
import json
import re
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import CONSOLE_SCRIPT, REPO_ROOT, VENV_BIN, alphabet_lstm, pipeline_env, spec_for

from alphabet_lstm.alphabet import ALPHABET, VOCABULARY_SIZE
from alphabet_lstm.artifacts import save_model
from alphabet_lstm.evaluation import encode_runs
from alphabet_lstm.model.lstm import LSTMWeights, ModelSpec, forward

SEED = 7
# Logits are a scaled negative squared distance to each letter's hidden value: the
# nearest letter wins by a margin of tens of logits, so its probability prints as 1.
DISTANCE_SCALE = 1e5
FAR_AWAY = 10.0


@pytest.mark.pipeline
def test_the_installed_console_script(workspace: Path):
    """The installed console script: the same answer and the same one-line error with exit 2."""

    def script(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [CONSOLE_SCRIPT, *args], cwd=workspace, env=pipeline_env(), capture_output=True, text=True, timeout=120
        )

    for args in (("predict", "--framing", "one_char", "K"), ("predict", "--framing", "one_char", "K1")):
        installed, in_process = script(*args), alphabet_lstm(*args, cwd=workspace)
        assert (installed.returncode, installed.stdout, installed.stderr) == (
            in_process.returncode,
            in_process.stdout,
            in_process.stderr,
        )
    assert installed.returncode == 2 and installed.stderr.startswith("error: ")


VARIABLE_LENGTH = dict(input_length=5, shortest_query=1, scores_all_queries=True)
WINDOW = dict(input_length=3, shortest_query=3)
STATEFUL = dict(stateful=True)


def one_unit_lstm(spec: ModelSpec, *, input_weight: float, constant: float, forget_bias: float) -> LSTMWeights:
    """One unit whose candidate is tanh(input_weight * last feature + constant).

    The input and output gates are open (bias 20); the recurrent kernel is zero, so the
    forget gate alone decides whether the cell keeps what it held.
    """
    kernel = np.zeros((spec.features, 4), dtype=np.float32)
    kernel[-1, 2] = input_weight
    return LSTMWeights.from_list(
        [
            kernel,
            np.zeros((1, 4)),
            np.array([20.0, forget_bias, constant, 20.0]),
            np.zeros((1, VOCABULARY_SIZE)),
            np.zeros(VOCABULARY_SIZE),
        ]
    )


def with_nearest_letter_head(lstm: LSTMWeights, centres: dict[int, float]) -> LSTMWeights:
    """A Dense layer that answers the letter whose centre is nearest the hidden value."""
    targets = np.full(VOCABULARY_SIZE, FAR_AWAY)
    for letter, centre in centres.items():
        targets[letter] = centre
    return LSTMWeights.from_list(
        [
            lstm.kernel,
            lstm.recurrent_kernel,
            lstm.bias,
            (DISTANCE_SCALE * 2 * targets).reshape(1, VOCABULARY_SIZE),
            -DISTANCE_SCALE * targets**2,
        ]
    )


def hidden_after(lstm: LSTMWeights, spec: ModelSpec, runs: list[list[int]]) -> list[float]:
    return [float(forward(lstm, encode_runs(spec, [run]))[1][0][0, 0]) for run in runs]


def successor_model(spec: ModelSpec) -> LSTMWeights:
    """Answers the letter after the last one given (Z after Y and after Z), whatever came before."""
    lstm = one_unit_lstm(spec, input_weight=2.0, constant=-1.0, forget_bias=-20.0)
    hidden = hidden_after(lstm, spec, [[letter] * spec.input_length for letter in range(VOCABULARY_SIZE - 1)])
    return with_nearest_letter_head(lstm, {letter + 1: value for letter, value in enumerate(hidden)})


def counter_model(spec: ModelSpec) -> LSTMWeights:
    """Stateful: after n letters since a reset, whatever they were, answers letter n (B after 1)."""
    lstm = one_unit_lstm(spec, input_weight=0.0, constant=0.04, forget_bias=20.0)
    states = [forward(lstm, np.zeros((1, count, 1)))[1][0][0, 0] for count in range(1, VOCABULARY_SIZE)]
    return with_nearest_letter_head(lstm, {count: float(value) for count, value in enumerate(states, start=1)})


def constant_model(spec: ModelSpec) -> LSTMWeights:
    """Zero weights but the Dense bias: the hidden state is exactly zero, so the
    probabilities are softmax(bias): N 1/2, O 1/4, M 1/8, the rest 1/8 shared."""
    probabilities = np.full(VOCABULARY_SIZE, 0.125 / 23)
    for letter, probability in (("N", 0.5), ("O", 0.25), ("M", 0.125)):
        probabilities[ALPHABET.index(letter)] = probability
    return LSTMWeights.from_list(
        [
            np.zeros((spec.features, 4)),
            np.zeros((1, 4)),
            np.zeros(4),
            np.zeros((1, VOCABULARY_SIZE)),
            np.log(probabilities),
        ]
    )


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A project folder with hand-made models in models/ and the real params.yaml (seeds 7, 8)."""
    params = (REPO_ROOT / "params.yaml").read_text()
    # params.yaml lists its seeds in the block form DVC writes (`seeds:` then `- 7` lines).
    (tmp_path / "params.yaml").write_text(re.sub(r"(?m)^seeds:\n(?:- .*\n)+", "seeds: [7, 8]\n", params))
    models = tmp_path / "models"
    for framing, build, overrides in (
        ("constant", constant_model, VARIABLE_LENGTH),
        ("variable_length", successor_model, VARIABLE_LENGTH),
        ("window_timesteps", successor_model, WINDOW),
        ("window_features", successor_model, dict(WINDOW, layout="features")),
        ("one_char", successor_model, {}),
        ("stateful", counter_model, STATEFUL),
    ):
        spec = spec_for(framing, **overrides)
        save_model(models / framing / f"seed{SEED}.npz", build(spec), spec)
    return tmp_path


def test_predict_prints_the_letter_then_the_top_three(workspace: Path):
    result = alphabet_lstm("predict", "--framing", "constant", "KLM", cwd=workspace)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == "KLM -> N\n  N 0.5000\n  O 0.2500\n  M 0.1250\n"


def test_lower_case_letters_are_upper_cased(workspace: Path):
    result = alphabet_lstm("predict", "--framing", "variable_length", "klm", cwd=workspace)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[:2] == ["KLM -> N", "  N 1.0000"]


@pytest.mark.parametrize("framing", ["one_char", "window_timesteps", "window_features", "variable_length"])
def test_each_layout_is_fed_as_trained(workspace: Path, framing: str):
    query = "KLM" if framing.startswith("window") or framing == "variable_length" else "M"
    result = alphabet_lstm("predict", "--framing", framing, query, cwd=workspace)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == f"{query} -> N"


def test_stateless_recitation_shows_the_window_fed_at_each_step(workspace: Path):
    result = alphabet_lstm("predict", "--framing", "variable_length", "--recite", "K", "--steps", "7", cwd=workspace)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "K -> L",
        "KL -> M",
        "KLM -> N",
        "KLMN -> O",
        "KLMNO -> P",
        "LMNOP -> Q",
        "MNOPQ -> R",
        "recited: KLMNOPQR",
    ]


def test_fixed_window_recitation(workspace: Path):
    result = alphabet_lstm("predict", "--framing", "window_timesteps", "--recite", "WXY", cwd=workspace)
    assert result.returncode == 0, result.stderr
    # Five steps by default; past Z the model keeps answering Z.
    assert result.stdout.splitlines() == [
        "WXY -> Z",
        "XYZ -> Z",
        "YZZ -> Z",
        "ZZZ -> Z",
        "ZZZ -> Z",
        "recited: WXYZZZZZ",
    ]


def test_stateful_query_feeds_the_letters_one_by_one_from_a_reset(workspace: Path):
    # The counter answers how many letters it has seen since the reset, not which.
    result = alphabet_lstm("predict", "--framing", "stateful", "XYZ", cwd=workspace)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[:2] == ["XYZ -> D", "  D 1.0000"]
    recited = alphabet_lstm("predict", "--framing", "stateful", "--recite", "XYZ", "--steps", "3", cwd=workspace)
    assert recited.stdout.splitlines() == ["XYZ -> D", "D -> E", "E -> F", "recited: XYZDEF"]


STATE_HEADER_LINES = [
    "per step: the letter fed -> the letter h reads as (Dense layer), |h|, |c|, the most active unit",
    "(largest |h|, as u<unit> h), the mean gate activations: i input, f forget, g candidate, o output",
]


def test_show_state_prints_each_letters_reading_and_state_from_a_reset(workspace: Path):
    # The counter's gates are open (sigmoid(20) is 1.0 in float32) and its candidate is
    # tanh(0.04) whatever the letter: after n letters c = n tanh(0.04) and h = tanh(c).
    result = alphabet_lstm("predict", "--framing", "stateful", "--show-state", "XYZ", cwd=workspace)
    assert (result.returncode, result.stderr) == (0, "")
    lines = result.stdout.splitlines()
    assert lines[:2] == ["XYZ -> D", "  D 1.0000"]
    assert lines[4:7] == ["state of stateful (seed 7, 1 unit) for XYZ:", *STATE_HEADER_LINES]
    candidate = np.tanh(0.04)
    for count, (line, letter) in enumerate(zip(lines[7:], "XYZ"), start=1):
        cell = count * candidate
        hidden = np.tanh(cell)
        assert line == (
            f"  {count:>3} {letter}     -> {ALPHABET[count]}  |h| {hidden:.3f}  |c| {cell:.3f}  "
            f"u0 {hidden:+.3f}  i +1.000 f +1.000 g {candidate:+.3f} o +1.000"
        )
    assert len(lines) == 10


def test_show_state_of_a_padded_model_shows_the_padding_read_as_after_a(workspace: Path):
    # Padding and A are both 0: the successor model reads each pad step as "after A", so B.
    result = alphabet_lstm("predict", "--framing", "variable_length", "--show-state", "KLM", cwd=workspace)
    lines = result.stdout.splitlines()
    assert lines[7] == "(a stateless model answers after its last step only; earlier readings are h read early)"
    steps = [re.match(r"  +(\d+) (\S+) +-> ([A-Z])  ", line).groups() for line in lines[8:]]
    assert steps == [("1", "pad", "B"), ("2", "pad", "B"), ("3", "K", "L"), ("4", "L", "M"), ("5", "M", "N")]
    window = alphabet_lstm("predict", "--framing", "window_features", "--show-state", "KLM", cwd=workspace)
    assert [line.split()[:4] for line in window.stdout.splitlines()[7:]] == [["1", "KLM", "->", "N"]]


def test_show_state_does_not_combine_with_recite(workspace: Path):
    result = alphabet_lstm("predict", "--framing", "stateful", "--show-state", "--recite", "A", cwd=workspace)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.startswith("error: --show-state shows the steps of one query, not a recitation")


def test_seed_defaults_to_the_first_in_params_and_can_be_chosen(workspace: Path):
    other_seed = spec_for("constant", seed=8, **VARIABLE_LENGTH)
    save_model(workspace / "models" / "stateful" / "seed8.npz", constant_model(other_seed), other_seed)
    assert alphabet_lstm("predict", "--framing", "stateful", "A", cwd=workspace).stdout.startswith("A -> B\n")
    chosen = alphabet_lstm("predict", "--framing", "stateful", "--seed", "8", "A", cwd=workspace)
    assert chosen.stdout.startswith("A -> N\n")


def test_models_dir_and_params_say_where_the_models_and_the_default_seed_are(workspace: Path):
    # Seed 8 of the stateful framing, in a folder of its own, is the constant model (N); the
    # other params file puts seed 8 first. Without either option the answer is seed 7's B.
    other_seed = spec_for("constant", seed=8, **VARIABLE_LENGTH)
    save_model(workspace / "trained" / "stateful" / "seed8.npz", constant_model(other_seed), other_seed)
    params = (workspace / "params.yaml").read_text()
    (workspace / "other-params.yaml").write_text(params.replace("seeds: [7, 8]", "seeds: [8, 7]"))
    result = alphabet_lstm(
        "predict",
        "--framing",
        "stateful",
        "--models-dir",
        "trained",
        "--params",
        "other-params.yaml",
        "A",
        cwd=workspace,
    )
    assert result.stdout.startswith("A -> N\n"), result.stderr


def test_model_names_a_file_to_use_instead_of_the_models_folders(workspace: Path):
    (workspace / "models" / "constant" / "seed7.npz").rename(workspace / "elsewhere.npz")
    result = alphabet_lstm(
        "predict",
        "--framing",
        "constant",
        "--model",
        "elsewhere.npz",
        "A",
        cwd=workspace,
    )
    assert result.stdout.startswith("A -> N\n"), result.stderr


UNTRAINED = (
    "error: framing batch_all (seed 7) has not been trained: models/batch_all/seed7.npz does not "
    "exist. Run `make run` (or `dvc repro`) first. Framings trained at seed 7 in models: constant, "
    "one_char, stateful, variable_length, window_features, window_timesteps."
)


@pytest.mark.parametrize(
    "arguments, message",
    [
        pytest.param(
            ["--framing", "one_char", "K1"], "error: 'K1': character '1' at position 2 is not a letter A-Z", id="digit"
        ),
        pytest.param(
            ["--framing", "one_char", "é"], "error: 'é': character 'é' at position 1 is not a letter A-Z", id="accented"
        ),
        pytest.param(
            ["--framing", "variable_length", "aßc"],
            "error: 'aßc': character 'ß' at position 2 is not a letter A-Z",
            id="sharp-s-upper-cases-to-two",
        ),
        pytest.param(
            ["--framing", "variable_length", ""],
            "error: the query is empty; framing variable_length takes 1 to 5 letters",
            id="empty",
        ),
        pytest.param(
            ["--framing", "stateful", ""],
            "error: the query is empty; framing stateful takes 1 or more letters",
            id="empty-stateful",
        ),
        pytest.param(
            ["--framing", "variable_length", "ABCDEF"],
            "error: framing variable_length takes 1 to 5 letters; got 6 ('ABCDEF')",
            id="too-long",
        ),
        pytest.param(
            ["--framing", "window_timesteps", "AB"],
            "error: framing window_timesteps takes exactly 3 letters; got 2 ('AB')",
            id="too-short-window",
        ),
        pytest.param(
            ["--framing", "one_char", "--recite", "AB"],
            "error: framing one_char takes exactly 1 letter; got 2 ('AB')",
            id="recite-too-long",
        ),
        pytest.param(["--framing", "batch_all", "A"], UNTRAINED, id="untrained-framing"),
        pytest.param(
            ["--framing", "one_char", "--seed", "8", "A"],
            "error: framing one_char (seed 8) has not been trained: models/one_char/seed8.npz does not exist. "
            "Run `make run` (or `dvc repro`) first.",
            id="untrained-listed-seed",
        ),
        # `make run` would not train seed 9: the hint says how to add it to the seeds.
        pytest.param(
            ["--framing", "one_char", "--seed", "9", "A"],
            "error: framing one_char (seed 9) has not been trained: models/one_char/seed9.npz does not exist. "
            "Seed 9 is not in params.yaml's seeds [7, 8]: add it, e.g. `dvc exp run -S 'seeds=[7,8,9]'` "
            "(or edit params.yaml, then `make run`).",
            id="untrained-unlisted-seed",
        ),
        pytest.param(
            ["--framing", "one_char", "--recite", "--steps", "0", "A"],
            "error: --steps must be a whole number from 1 to 1000; got '0'",
            id="steps-zero",
        ),
        pytest.param(
            ["--framing", "one_char", "--recite", "--steps", "1001", "A"],
            "error: --steps must be a whole number from 1 to 1000; got '1001'",
            id="steps-too-many",
        ),
        pytest.param(
            ["--framing", "one_char", "--recite", "--steps", "two", "A"],
            "error: --steps must be a whole number from 1 to 1000; got 'two'",
            id="steps-not-a-number",
        ),
        pytest.param(
            ["--framing", "one_char", "--steps", "3", "A"],
            "error: --steps only applies with --recite",
            id="steps-without-recite",
        ),
        pytest.param(
            ["--framing", "one_char", "--seed", "x", "A"],
            "error: argument --seed: invalid int value: 'x' (see `alphabet-lstm predict --help`)",
            id="seed-not-a-number",
        ),
        pytest.param(
            ["A"],
            "error: the following arguments are required: --framing (see `alphabet-lstm predict --help`)",
            id="no-framing",
        ),
    ],
)
def test_user_errors_are_one_line_and_exit_2(workspace: Path, arguments: list[str], message: str):
    result = alphabet_lstm("predict", *arguments, cwd=workspace)
    assert (result.returncode, result.stdout, result.stderr) == (2, "", message + "\n")


def test_missing_params_and_broken_model_files(tmp_path: Path):
    no_params = alphabet_lstm("predict", "--framing", "one_char", "A", cwd=tmp_path)
    assert (no_params.returncode, no_params.stderr) == (
        2,
        "error: params.yaml not found, and it gives the default --seed: run from the project root, or pass --seed\n",
    )
    (tmp_path / "models" / "one_char").mkdir(parents=True)
    (tmp_path / "models" / "one_char" / "seed7.npz").write_text("not a zip archive")
    broken = alphabet_lstm("predict", "--framing", "one_char", "--seed", "7", "A", cwd=tmp_path)
    assert (broken.returncode, broken.stdout) == (2, "")
    assert (
        broken.stderr == "error: models/one_char/seed7.npz: damaged model (not a readable zip archive); "
        "`dvc checkout --force models/one_char/seed7.npz` restores the trained one\n"
    )


def test_a_model_saved_in_the_previous_format_asks_to_train_again(tmp_path: Path):
    # Format 1 named the dataset kind in the spec; format 2 carries the query lengths.
    spec = spec_for("one_char")
    weights = one_unit_lstm(spec, input_weight=1.0, constant=0.0, forget_bias=0.0)
    path = tmp_path / "models" / "one_char" / "seed7.npz"
    path.parent.mkdir(parents=True)
    save_model(path, weights, spec)
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    metadata = json.loads(members["metadata.json"])
    metadata["format"] = "alphabet-lstm/1"
    members["metadata.json"] = json.dumps(metadata).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    old = alphabet_lstm("predict", "--framing", "one_char", "--seed", "7", "A", cwd=tmp_path)
    assert (old.returncode, old.stdout) == (2, "")
    assert old.stderr == (
        "error: models/one_char/seed7.npz was saved in format 'alphabet-lstm/1', and this version "
        "reads 'alphabet-lstm/2': train it again (`dvc repro`)\n"
    )


def test_no_command_is_a_usage_error(tmp_path: Path):
    result = alphabet_lstm(cwd=tmp_path)
    assert (result.returncode, result.stderr) == (
        2,
        "error: the following arguments are required: COMMAND (see `alphabet-lstm --help`)\n",
    )


@pytest.mark.pipeline
def test_predict_starts_without_tensorflow_or_mlflow(workspace: Path):
    # The console script's own module, run in-process, then the heavy imports are checked.
    check = (
        "import sys; from alphabet_lstm.cli import main; "
        "code = main(['predict', '--framing', 'constant', 'KLM']); "
        "heavy = sorted({m.split('.')[0] for m in sys.modules} "
        "& {'tensorflow', 'keras', 'mlflow', 'pandas', 'numba'}); "
        "print(code, heavy)"
    )
    result = subprocess.run(
        [str(VENV_BIN / "python"), "-c", check], cwd=workspace, env=pipeline_env(), capture_output=True, text=True
    )
    assert result.stdout.splitlines()[-1] == "0 []", result.stderr


# --- On models trained by the real pipeline (small-epoch profile) -----------------------

STATEFUL_FRAMINGS = {
    name: framing.get("stateful", False)
    for name, framing in yaml.safe_load((REPO_ROOT / "params.yaml").read_text())["framings"].items()
}
PREDICTION = re.compile(r"(?P<query>[A-Z]+) -> (?P<letter>[A-Z])\n((  [A-Z] [01]\.\d{4}\n){3})")


def parse_prediction(stdout: str) -> tuple[str, str, list[tuple[str, float]]]:
    match = PREDICTION.fullmatch(stdout)
    assert match, stdout
    ranked = [(line.split()[0], float(line.split()[1])) for line in match.group(3).splitlines()]
    return match["query"], match["letter"], ranked


@pytest.mark.e2e
@pytest.mark.parametrize("framing", list(STATEFUL_FRAMINGS))
def test_every_trained_framing_answers_a_training_query(reproduced_clone: Path, framing: str):
    patterns = json.loads((reproduced_clone / "data" / "patterns" / f"{framing}.json").read_text())["patterns"]
    query = patterns[-1]["input"]
    result = alphabet_lstm("predict", "--framing", framing, query, cwd=reproduced_clone)
    assert result.returncode == 0, result.stderr
    shown_query, letter, ranked = parse_prediction(result.stdout)
    assert (shown_query, letter) == (query, ranked[0][0])
    assert [p for _, p in ranked] == sorted((p for _, p in ranked), reverse=True)
    if not STATEFUL_FRAMINGS[framing]:
        # A stateless model answers each pattern alone, as the evaluated table does.
        table = list(csv.DictReader((reproduced_clone / "metrics" / "predictions" / framing / "seed7.csv").open()))
        assert (table[-1]["input"], table[-1]["predicted"]) == (query, letter)


@pytest.mark.e2e
@pytest.mark.parametrize("framing", ["one_char", "variable_length", "stateful"])
def test_single_letter_answers_match_the_evaluated_probability_table(reproduced_clone: Path, framing: str):
    rows = {
        row["input"]: row
        for row in csv.DictReader((reproduced_clone / "metrics" / "probabilities" / framing / "seed7.csv").open())
    }
    for letter in "AKY":
        result = alphabet_lstm("predict", "--framing", framing, letter.lower(), cwd=reproduced_clone)
        _, _, ranked = parse_prediction(result.stdout)
        table = sorted(ALPHABET, key=lambda other: -float(rows[letter][other]))[:3]
        assert [other for other, _ in ranked] == table
        for other, probability in ranked:
            assert probability == pytest.approx(float(rows[letter][other]), abs=1e-4)


@pytest.mark.e2e
def test_show_state_readings_are_the_predictions_after_each_prefix(reproduced_clone: Path):
    # A stateful model's reading after each fed letter is its answer to that prefix.
    result = alphabet_lstm("predict", "--framing", "stateful", "--show-state", "ABK", cwd=reproduced_clone)
    assert result.returncode == 0, result.stderr
    steps = result.stdout.splitlines()[7:]
    readings = [line.split()[3] for line in steps]
    answers = [
        alphabet_lstm("predict", "--framing", "stateful", prefix, cwd=reproduced_clone).stdout.split()[2]
        for prefix in ("A", "AB", "ABK")
    ]
    assert readings == answers and len(steps) == 3


@pytest.mark.e2e
def test_stateful_recitation_matches_the_evaluated_chain(reproduced_clone: Path):
    details = json.loads((reproduced_clone / "metrics" / "details" / "stateful" / "seed7.json").read_text())
    chain = alphabet_lstm("predict", "--framing", "stateful", "--recite", "A", "--steps", "25", cwd=reproduced_clone)
    lines = chain.stdout.splitlines()
    assert len(lines) == 26 and lines[-1] == f"recited: {details['chain_from_A']}"
    assert lines[0] == f"A -> {details['chain_from_A'][1]}"
    cold = alphabet_lstm("predict", "--framing", "stateful", "--recite", "K", cwd=reproduced_clone)
    assert cold.stdout.splitlines()[-1] == f"recited: K{details['cold_start_from_K']}"
