"""`alphabet-lstm export`: a saved model as a Keras 3 model, checked with real Keras.

The models are initial weights drawn from a seed (no training needed: the export must
carry any weights over exactly), one per layout: a one-letter stateful model with a batch
size of 5, a 3-letter window as features and a padded 5-letter run as time steps.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import VENV_BIN, alphabet_lstm, pipeline_env

from alphabet_lstm.artifacts import save_model
from alphabet_lstm.model.engine_keras import QUIET_TENSORFLOW
from alphabet_lstm.model.lstm import ModelSpec, initial_weights

SEED = 7
SPECS = {
    "stateful": ModelSpec("stateful", 8, "timesteps", 1, True, 5, "fast", SEED, 1, False),
    "window_features": ModelSpec("window_features", 6, "features", 3, False, 1, "fast", SEED, 3, False),
    "variable_length": ModelSpec("variable_length", 7, "timesteps", 5, False, 1, "fast", SEED, 1, True),
}
# Run with Keras alone in a new interpreter, every Python warning an error: loads the console
# script's export and prints its input shape, as a user would; then loads each in-process
# export and compares it with the numpy forward pass on the same inputs (a stateful model is
# fed consecutive batches, state carried, then reset and fed again: the same answers).
CHECK = """
import json, sys
import keras
print(keras.models.load_model(sys.argv[1]).inputs[0].shape)
import numpy as np
from alphabet_lstm.artifacts import load_model
from alphabet_lstm.model.lstm import predict

differences = {}
for framing, keras_path, model_path in json.loads(sys.argv[2]):
    weights, spec = load_model(model_path)
    model = keras.models.load_model(keras_path)
    rng = np.random.default_rng(0)
    inputs = (rng.integers(0, 26, size=(20, spec.timesteps, spec.features)) / 26).astype("float32")
    expected = predict(weights, spec, inputs)
    if spec.stateful:
        first = np.concatenate([model(inputs[start:start + spec.batch_size]).numpy()
                                for start in range(0, len(inputs), spec.batch_size)])
        for layer in model.layers:
            if getattr(layer, "stateful", False):
                layer.reset_state()
        again = model.predict(inputs, batch_size=spec.batch_size, verbose=0)
        differences[framing] = [float(np.abs(first - expected).max()), float(np.abs(again - expected).max()),
                                list(model.inputs[0].shape)]
    else:
        got = model.predict(inputs, verbose=0)
        differences[framing] = [float(np.abs(got - expected).max()), list(model.inputs[0].shape)]
print(json.dumps(differences))
"""


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("export")
    for framing, spec in SPECS.items():
        weights = initial_weights(features=spec.features, units=spec.units, seed=SEED)
        # Non-zero biases too, so that every array is carried over, not just the kernels.
        weights.bias += np.linspace(-0.5, 0.5, weights.bias.size, dtype=np.float32)
        weights.dense_bias += np.linspace(-1.0, 1.0, weights.dense_bias.size, dtype=np.float32)
        save_model(root / "models" / framing / f"seed{SEED}.npz", weights, spec)
    return root


@pytest.fixture(scope="module")
def exported(workspace: Path) -> dict[str, subprocess.CompletedProcess]:
    """Each framing exported by `alphabet-lstm export` run in this process."""
    return {
        framing: alphabet_lstm(
            "export",
            "--framing",
            framing,
            "--seed",
            str(SEED),
            "--out",
            str(exported_path(workspace, framing)),
            cwd=workspace,
        )
        for framing in SPECS
    }


def exported_path(workspace: Path, framing: str) -> Path:
    return workspace / "exported" / f"{framing}.keras"


@pytest.fixture(scope="module")
def console_exported(workspace: Path) -> tuple[Path, subprocess.CompletedProcess]:
    """The stateful model exported by the console script in its own process: TensorFlow's C++
    lines go to the real stderr. The test process may carry the log level from an in-process
    export: the child must not."""
    env = pipeline_env()
    for name in QUIET_TENSORFLOW:
        env.pop(name, None)
    out = workspace / "console" / "stateful.keras"
    exported = subprocess.run(
        [str(VENV_BIN / "alphabet-lstm"), "export", "--framing", "stateful", "--seed", str(SEED), "--out", str(out)],
        cwd=workspace,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return out, exported


@pytest.fixture(scope="module")
def loaded_by_keras_alone(workspace: Path, exported: dict, console_exported: tuple) -> subprocess.CompletedProcess:
    """CHECK in one new interpreter for both exports (TensorFlow's import there costs seconds:
    paid once). The user's own TensorFlow start-up lines are silenced the documented way."""
    checks = [
        [framing, str(exported_path(workspace, framing)), str(workspace / "models" / framing / f"seed{SEED}.npz")]
        for framing in exported
    ]
    return subprocess.run(
        [str(VENV_BIN / "python"), "-W", "error", "-c", CHECK, str(console_exported[0]), json.dumps(checks)],
        env=pipeline_env(QUIET_TENSORFLOW),
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow
def test_exported_keras_models_predict_as_the_numpy_forward_pass(
    workspace: Path, exported: dict, loaded_by_keras_alone: subprocess.CompletedProcess
):
    for framing, result in exported.items():
        assert result.returncode == 0, result.stderr
        out = exported_path(workspace, framing)
        assert result.stdout.startswith(f"wrote {out}: framing {framing} seed {SEED}")
    assert "reset" in alphabet_lstm("export", "--help", cwd=workspace).stdout
    result = loaded_by_keras_alone
    assert result.returncode == 0, result.stderr
    differences = json.loads(result.stdout.strip().splitlines()[-1])
    first, again, shape = differences["stateful"]
    assert first < 1e-5 and again < 1e-5
    assert shape == [5, 1, 1]  # the batch size it was trained with, fixed
    assert differences["window_features"][0] < 1e-5 and differences["window_features"][1] == [None, 1, 3]
    assert differences["variable_length"][0] < 1e-5 and differences["variable_length"][1] == [None, 5, 1]


def test_export_refuses_a_file_keras_cannot_save_to(workspace: Path):
    result = alphabet_lstm("export", "--framing", "stateful", "--out", "model.h5", "--seed", str(SEED), cwd=workspace)
    assert result.returncode == 2
    assert result.stderr.strip() == "error: --out must name a .keras file (Keras 3's format); got 'model.h5'"
    assert not (workspace / "model.h5").exists()


def test_export_of_an_untrained_framing_names_what_is_missing(workspace: Path):
    result = alphabet_lstm("export", "--framing", "one_char", "--seed", str(SEED), "--out", "x.keras", cwd=workspace)
    assert result.returncode == 2
    assert "error: framing one_char (seed 7) has not been trained" in result.stderr
    assert not (workspace / "x.keras").exists()


def test_batch_size_is_for_stateful_models_only(workspace: Path):
    result = alphabet_lstm(
        "export",
        "--framing",
        "window_features",
        "--seed",
        str(SEED),
        "--out",
        "w.keras",
        "--batch-size",
        "4",
        cwd=workspace,
    )
    assert result.returncode == 2
    assert "--batch-size applies to stateful models only" in result.stderr


@pytest.mark.slow
def test_export_and_loading_its_file_print_nothing_but_the_result(
    console_exported: tuple, loaded_by_keras_alone: subprocess.CompletedProcess
):
    out, exported = console_exported
    assert (exported.returncode, exported.stderr) == (0, "")
    assert exported.stdout.splitlines() == [
        f"wrote {out}: framing stateful seed {SEED}, input shape (5, 1, 1) "
        "(stateful: reset the LSTM layer's state before each new sequence)"
    ]
    # Loading it: any Python warning fails (the file holds no optimizer to skip); nothing but
    # the shape, then the forward-pass check's one line.
    loaded = loaded_by_keras_alone
    assert (loaded.returncode, loaded.stdout.splitlines()[0], loaded.stderr) == (0, "(5, 1, 1)", "")
    assert len(loaded.stdout.splitlines()) == 2, loaded.stdout
