"""Same params and seed, same bits on every CPU (issue 10).

Three kinds of check:

- Every framing's shape trains to the same weight and history bytes under numba's generic
  x86-64 target (SSE2, no FMA) and under the host CPU, each in a subprocess with its own
  numba cache (a shared cache would hand one target's machine code to the other); the
  generic build's result is kept between runs, keyed on everything it is made of. The host
  build is also read: no fused multiply-add instruction, no libm exp/log/pow.
- Golden fingerprints: sha256 of the weights each framing of params.yaml trains to on the
  small-epoch profile at seed 7, of fresh initial weights and of the numpy forward pass,
  written here. They were produced on an AMD EPYC (AVX2, FMA); a CPU of another make (or
  an aarch64 machine) that gets other bytes fails here. If a change is meant to alter
  the numbers, update the goldens and say why in the commit.
- The deterministic exp, log, sigmoid and tanh: their accuracy, their ends, and the
  compiled kernel's scalar versions against the numpy ones, bit for bit.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO_ROOT, persistent_cache, with_small_epochs

from alphabet_lstm.alphabet import EncodedDataset, encode_patterns
from alphabet_lstm.data import encode_framing
from alphabet_lstm.model import lstm
from alphabet_lstm.model.lstm import LSTMWeights, forward, initial_weights
from alphabet_lstm.params import FramingParams, parse_params, prefix_patterns, variable_length_patterns

SEED = 7

# Every framing shape the study trains, a few epochs each (issue 10 item 2a).
SHAPES: dict[str, dict] = {
    "sliding_1": {"dataset": {"kind": "sliding", "seq_length": 1}, "epochs": 4, "units": 32},
    "sliding_3": {"dataset": {"kind": "sliding", "seq_length": 3}, "epochs": 4, "units": 32},
    "features_3": {"dataset": {"kind": "sliding", "seq_length": 3}, "layout": "features", "epochs": 4, "units": 32},
    "batch_all": {
        "dataset": {"kind": "sliding", "seq_length": 1},
        "batch_size": "all",
        "shuffle": False,
        "epochs": 40,
        "units": 16,
    },
    "stateful_1": {
        "dataset": {"kind": "sliding", "seq_length": 1},
        "stateful": True,
        "shuffle": False,
        "epochs": 4,
        "units": 50,
    },
    "stateful_5": {
        "dataset": {"kind": "sliding", "seq_length": 1},
        "stateful": True,
        "batch_size": 5,
        "shuffle": False,
        "epochs": 6,
        "units": 50,
    },
    "variable_length": {
        "dataset": {"kind": "variable_length", "num_inputs": 200, "max_len": 5},
        "epochs": 2,
        "units": 32,
    },
    "prefix_padded": {"dataset": {"kind": "prefix_padded"}, "epochs": 3, "units": 32},
}

# sha256 of the trained weights (LSTMWeights.NAMES order, float32 bytes) of each framing
# of params.yaml with every epochs set to 3 (the small-epoch profile), seed 7, fast engine.
GOLDEN_TRAINED = {
    "one_char": "5fc947c1c067f384e248624fe73178de87c5e2003b8ecbe031786086c9820177",
    "window_features": "a001dfbcc23173923cd19145fe125f81b0326c036bb7663f4f8f4b4c43fbab5d",
    "window_timesteps": "a40d2c9f59cf4869fdc87987ac4c2fb0fb87743f2e9726ef49744c57e6c6c51e",
    "batch_all": "a4636941de36b38dc4d3def3fe1f1d4f78b4af4515b1df819b6a41015e8316b7",
    "stateful": "7b560f3de9b714229ee249cf8fec50a6c6cb66d1df5ce57af74ecaf21e7d468d",
    "variable_length": "4a8093eef7a6bf44ac0c2182474f2fde250c6f6999b8f8fe00c0aed47eab5021",
    "prefix_padded": "d2e0d0b4bf864b745e8ef5e23c73c5aa6d87e0f7d107cd0433be3570f56e239f",
}
GOLDEN_INITIAL = (
    "b79cc368100ab0ce778630db5f4f6928291f5b70dd4142ce7518063a6e09ff31"  # initial_weights(features=1, units=32, seed=7)
)
# forward_case(): probabilities and final state of the numpy forward pass
GOLDEN_FORWARD = "6386706b647df83c5d1db8955dbcc2b0f7718089d01bfeb9f6f7d4291686f984"


def encoded(framing: FramingParams) -> EncodedDataset:
    """The data set the pipeline's generate and encode stages make for a framing."""
    return encode_framing(framing)


def weights_digest(weights: LSTMWeights) -> str:
    digest = hashlib.sha256()
    for array in weights.as_list():
        digest.update(np.ascontiguousarray(array, dtype=np.float32).tobytes())
    return digest.hexdigest()


def train_digests(framing: FramingParams, seed: int = SEED) -> dict:
    """Train through the project's one training path; digests of weights and history."""
    from alphabet_lstm.model.training import train

    result = train(encoded(framing), framing, seed=seed, engine="fast")
    history = np.concatenate([result.losses, result.accuracies]).astype(np.float64)
    return {
        "weights": weights_digest(result.weights),
        "history": hashlib.sha256(history.tobytes()).hexdigest(),
    }


def compiled_code_facts() -> dict:
    """What the compiled training kernel calls and which instructions it uses."""
    from alphabet_lstm.model import engine_fast

    signature = engine_fast.train_epochs.signatures[0]
    assembly = engine_fast.train_epochs.inspect_asm(signature)
    llvm = engine_fast.train_epochs.inspect_llvm(signature)
    return {
        "fused": sorted(set(re.findall(r"\bv?f(?:n)?m(?:add|sub)\w*", assembly))),
        "declared": sorted(set(re.findall(r"declare [^@]*@\"?([\w.$]+)", llvm))),
        "wide_registers": bool(re.search(r"%[yz]mm\d", assembly)),
        "instructions": instruction_counts(assembly),
    }


def instruction_counts(assembly: str) -> dict[str, int]:
    """How often each mnemonic occurs in the kernel's machine code (labels and directives
    left out): two builds for different CPUs differ here."""
    counts: dict[str, int] = {}
    for line in assembly.splitlines():
        fields = line.split()
        if fields and not fields[0].startswith((".", "#")) and not fields[0].endswith(":"):
            counts[fields[0]] = counts.get(fields[0], 0) + 1
    return counts


def worker() -> None:
    """Subprocess entry: train every shape, print digests and the compiled code's facts."""
    framings = {name: FramingParams.model_validate(values) for name, values in SHAPES.items()}
    digests = {name: train_digests(framing) for name, framing in framings.items()}
    print(json.dumps({"digests": digests, "code": compiled_code_facts()}))


def run_worker(tmp_path: Path, cpu_name: str | None) -> dict:
    env = dict(os.environ)
    env.pop("NUMBA_CPU_FEATURES", None)
    env.pop("NUMBA_CPU_NAME", None)
    if cpu_name is not None:
        env["NUMBA_CPU_NAME"] = cpu_name
    # A fresh cache: compiled for this target only, and inspectable (numba does not show
    # the machine code of a kernel loaded from its cache).
    cache = tmp_path / f"numba-cache-{cpu_name or 'host'}"
    cache.mkdir()
    env["NUMBA_CACHE_DIR"] = str(cache)
    tests = Path(__file__).resolve().parent
    code = f"import sys; sys.path.insert(0, {str(tests)!r}); import test_determinism; test_determinism.worker()"
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def generic_build_key() -> str:
    """Everything the generic build's result is made of: the package's source, this module
    (the worker and its shapes), the compiler's and numpy's versions, Python and the machine
    type. Not the CPU: the generic target is the same program on every x86-64 CPU."""
    digest = hashlib.sha256()
    for path in sorted((REPO_ROOT / "src" / "alphabet_lstm").rglob("*.py")) + [Path(__file__).resolve()]:
        digest.update(f"{path.relative_to(REPO_ROOT)}\0".encode() + path.read_bytes() + b"\0")
    versions = [importlib.metadata.version(name) for name in ("numba", "llvmlite", "numpy")]
    digest.update(f"{versions} {sys.version} {platform.machine()}".encode())
    return digest.hexdigest()[:24]


def generic_run(directory: Path) -> dict:
    """The generic build's digests and code facts: compiled and run once per key, then read
    from the user's test cache (its compilation and training cost a quarter of a minute, and
    give the same result on every run whose inputs are the same). The host build, the one
    that varies with the machine, is compiled and run afresh every time."""
    cached = persistent_cache() / "generic-build" / f"{generic_build_key()}.json"
    if cached.is_file():
        return json.loads(cached.read_text())
    result = run_worker(directory, "generic")
    cached.parent.mkdir(parents=True, exist_ok=True)
    partial = cached.with_name(f".{cached.name}.{os.getpid()}.tmp")
    partial.write_text(json.dumps(result))
    partial.replace(cached)
    return result


@pytest.fixture(scope="module")
def target_runs(tmp_path_factory) -> dict:
    """Both targets' digests; the two subprocesses run one after the other."""
    directory = tmp_path_factory.mktemp("targets")
    return {"generic": generic_run(directory), "host": run_worker(directory, None)}


@pytest.mark.slow
def test_the_generic_build_is_other_code_than_the_host_build(target_runs):
    """NUMBA_CPU_NAME took effect: the generic x86-64 build has no AVX registers and other
    instructions than this CPU's, so the byte comparison below compares two programs."""
    generic, host = target_runs["generic"]["code"], target_runs["host"]["code"]
    assert not generic["wide_registers"]
    differing = {
        name: (generic["instructions"].get(name, 0), host["instructions"].get(name, 0))
        for name in set(generic["instructions"]) | set(host["instructions"])
        if generic["instructions"].get(name, 0) != host["instructions"].get(name, 0)
    }
    assert differing, "the generic and host builds have the same instructions: NUMBA_CPU_NAME did not apply"


@pytest.mark.slow
@pytest.mark.parametrize("shape", list(SHAPES))
def test_generic_and_host_cpu_train_the_same_bytes(target_runs, shape):
    test_the_generic_build_is_other_code_than_the_host_build(target_runs)
    generic = target_runs["generic"]["digests"][shape]
    host = target_runs["host"]["digests"][shape]
    assert generic == host, f"{shape}: the generic x86-64 target and this CPU differ"


@pytest.mark.slow
def test_host_build_has_no_fused_multiply_add_nor_libm_transcendentals(target_runs):
    code = target_runs["host"]["code"]
    assert code["fused"] == [], f"FMA instructions in the kernel: {code['fused']}"
    forbidden = re.compile(r"^(llvm\.)?(exp|exp2|log|log2|log10|pow|powi|tanh|fma|fmuladd)(f|\.\w+)?$")
    called = [name for name in code["declared"] if forbidden.match(name)]
    assert called == [], f"libm / LLVM transcendental or fused calls in the kernel: {called}"


def small_epoch_params():
    """params.yaml on the small-epoch profile, as the pipeline tests run it."""
    import yaml

    text = with_small_epochs((REPO_ROOT / "params.yaml").read_text())
    return parse_params(yaml.safe_load(text))


@pytest.mark.slow
@pytest.mark.parametrize("name", list(GOLDEN_TRAINED))
def test_trained_weights_match_the_golden_fingerprint(name):
    framing = small_epoch_params().framing(name)
    digest = train_digests(framing)["weights"]
    assert digest == GOLDEN_TRAINED[name], (
        f"{name}: trained weights changed on this machine ({digest}); either results are "
        "CPU-dependent again or the math/params changed on purpose (then update the golden)"
    )


def test_initial_weights_match_the_golden_fingerprint():
    assert weights_digest(initial_weights(features=1, units=32, seed=SEED)) == GOLDEN_INITIAL


def forward_case() -> bytes:
    """Probabilities and final states of the numpy forward pass on two data sets."""
    rng = np.random.default_rng(5)
    parts = []
    for patterns, length in ((variable_length_patterns(200, 5, 7), 5), (prefix_patterns(), 25)):
        inputs = encode_patterns(patterns.inputs, patterns.targets, layout="timesteps", input_length=length).inputs
        units = 9
        shapes = [(1, 4 * units), (units, 4 * units), (4 * units,), (units, 26), (26,)]
        # Drawn as integers: weights from rng.normal would rest on numpy's libm-based tail.
        weights = LSTMWeights.from_list(
            [rng.integers(-(2**20), 2**20, size=shape) / np.float32(2**20) for shape in shapes]
        )
        probabilities, (hidden, cell) = forward(weights, inputs)
        parts += [probabilities.tobytes(), hidden.tobytes(), cell.tobytes()]
    return b"".join(parts)


def test_numpy_forward_pass_matches_the_golden_fingerprint():
    assert hashlib.sha256(forward_case()).hexdigest() == GOLDEN_FORWARD


# --- The deterministic functions ----------------------------------------------------------
def float32_ulps(ours: np.ndarray, exact: np.ndarray) -> np.ndarray:
    """|ours - exact| in units of the float32 spacing at the exact value."""
    spacing = np.spacing(np.abs(exact.astype(np.float32))).astype(np.float64)
    return np.abs(ours.astype(np.float64) - exact) / spacing


@pytest.fixture(scope="module")
def dense_grid() -> np.ndarray:
    """Every float32 from -104 to 89 at a step of about 1e-5, and [-1, 1] ten times denser
    (22 million values: built when a test asks, not when the suite is collected)."""
    return np.unique(
        np.concatenate(
            [
                np.linspace(-104.0, 89.0, 20_000_001).astype(np.float32),
                np.linspace(-1.0, 1.0, 2_000_001).astype(np.float32),
            ]
        )
    )


def test_exp_is_within_one_ulp_where_the_result_is_a_normal_float32(dense_grid):
    exact = np.exp(dense_grid.astype(np.float64))
    normal = (exact >= np.finfo(np.float32).tiny) & (exact <= np.finfo(np.float32).max)
    errors = float32_ulps(lstm.exp(dense_grid[normal]), exact[normal])
    assert errors.max() < 1.0, dense_grid[normal][errors.argmax()]


def test_exp_at_its_ends():
    # Subnormal results round once: within one subnormal step of the exact value.
    low = np.linspace(-103.9, -87.4, 100_001).astype(np.float32)
    smallest = float(np.finfo(np.float32).smallest_subnormal)
    assert np.abs(lstm.exp(low).astype(np.float64) - np.exp(low.astype(np.float64))).max() <= smallest
    values = np.array(
        [-np.inf, -1e30, -104.0, -103.0, 0.0, -0.0, 88.72, 88.73, 89.0, 1e30, np.inf, np.nan], dtype=np.float32
    )
    result = lstm.exp(values)
    assert result[0] == result[1] == result[2] == 0.0
    assert 0.0 < result[3] < 1e-44
    assert result[4] == result[5] == 1.0
    assert np.isfinite(result[6]) and result[6] > 3.3e38
    assert np.all(np.isposinf(result[7:11]))
    assert np.isnan(result[11])
    assert lstm.exp(np.float32(1.0)).dtype == np.float32


def test_sigmoid_and_tanh_stay_close_to_the_exact_values(dense_grid):
    grid = dense_grid[np.abs(dense_grid) < 80]
    exact_sigmoid = 1.0 / (1.0 + np.exp(-grid.astype(np.float64)))
    assert float32_ulps(lstm.sigmoid(grid), exact_sigmoid).max() < 3.0
    # Eigen's approximation without FMA: at most 6.4 ulp and 3.9e-7 from the exact value.
    exact_tanh = np.tanh(grid.astype(np.float64))
    ours_tanh = lstm.tanh(grid)  # 22 million values: computed once for both bounds
    assert np.abs(ours_tanh - exact_tanh).max() < 4e-7
    assert float32_ulps(ours_tanh, exact_tanh).max() < 8.0
    ends = np.array([-np.inf, -100.0, 100.0, np.inf], dtype=np.float32)
    np.testing.assert_array_equal(lstm.sigmoid(ends), [0.0, 0.0, 1.0, 1.0])
    np.testing.assert_array_equal(lstm.tanh(ends), [-1.0, -1.0, 1.0, 1.0])


def test_log_is_within_two_float64_ulps_and_handles_its_ends():
    values = np.concatenate(
        [np.exp(np.linspace(-740.0, 709.0, 2_000_001)), np.linspace(1.0, 26.0, 1_000_001), [5e-324, 1e-310, 1.7e308]]
    )
    exact = np.log(values)  # glibc's log is within one ulp: a fine reference here
    errors = np.abs(lstm.log(values) - exact) / np.spacing(np.abs(exact))
    assert np.nanmax(errors[exact != 0.0]) <= 2.0
    assert lstm.log(np.array([1.0]))[0] == 0.0
    special = lstm.log(np.array([0.0, -0.0, -1.0, np.inf, np.nan]))
    assert special[0] == special[1] == -np.inf
    assert np.isnan(special[2]) and special[3] == np.inf and np.isnan(special[4])


def test_ordered_sum_adds_in_index_order():
    values = np.array([[1e8, 1.0], [1.0, 1e8], [-1e8, -1e8]], dtype=np.float32)
    # In order: (1e8 + 1) - 1e8 = 0 in float32; (1 + 1e8) - 1e8 = 0 too; a pairwise or
    # reordered sum could give 1.
    np.testing.assert_array_equal(lstm.ordered_sum(values, axis=0), [0.0, 0.0])
    np.testing.assert_array_equal(lstm.ordered_sum(np.float32([1.0, 1e8, -1e8]), axis=0), 0.0)
    np.testing.assert_array_equal(lstm.ordered_sum(np.float32([1e8, -1e8, 1.0]), axis=0), 1.0)


def test_orthogonal_initializer_matches_lapack_with_keras_signs():
    rng = np.random.default_rng(3)
    matrix = rng.normal(size=(128, 32))
    q = lstm.orthonormal_columns(matrix)
    reference, r = np.linalg.qr(matrix)
    np.testing.assert_allclose(q, reference * np.sign(np.diag(r)), atol=1e-13)
    np.testing.assert_allclose(q.T @ q, np.eye(32), atol=1e-13)


def test_polar_normals_look_standard_normal():
    draws = lstm.standard_normal(np.random.default_rng(0), 200_001)
    assert draws.shape == (200_001,)
    assert abs(draws.mean()) < 0.01 and abs(draws.std() - 1.0) < 0.01
    assert 0.31 < np.mean(np.abs(draws) > 1.0) < 0.325  # P(|z| > 1) = 0.3173


@pytest.fixture(scope="module")
def engine_fast():
    from alphabet_lstm.model import engine_fast

    return engine_fast


def test_kernel_functions_equal_the_numpy_ones_bit_for_bit(engine_fast, dense_grid):
    import numba

    @numba.njit
    def each(function, values):
        out = np.empty_like(values)
        for index in range(values.size):
            out[index] = function(values[index])
        return out

    specials = np.array([-np.inf, -1e30, 1e30, np.inf, np.nan, 0.0, -0.0], dtype=np.float32)
    grid = np.concatenate([dense_grid[::7], specials])
    for scalar, vectorised in (
        (engine_fast._exp, lstm.exp),
        (engine_fast._sigmoid, lstm.sigmoid),
        (engine_fast._tanh, lstm.tanh),
    ):
        np.testing.assert_array_equal(each(scalar, grid).view(np.int32), vectorised(grid).view(np.int32))
    # The kernel's log takes only finite values > 0 (the softmax sum): no special cases.
    wide = np.concatenate([np.exp(np.linspace(-740.0, 709.0, 1_000_001)), [5e-324]])
    np.testing.assert_array_equal(each(engine_fast._log, wide).view(np.int64), lstm.log(wide).view(np.int64))


def kernel_forward(step, dense_logits, exp, inputs, hidden, cell, weights):
    """The training kernel's forward pass (its step, dense layer and exp) over a data set.

    ``inputs`` (n, time steps, features); ``hidden`` and ``cell`` (n, units), the start
    state, are overwritten with the final state. Returns probabilities (n, 26), which equal
    ``lstm.forward``'s bit for bit (the tests check it).
    """
    samples, timesteps, _ = inputs.shape
    _, recurrent_kernel, _, dense_kernel, dense_bias = weights
    units = recurrent_kernel.shape[0]
    classes = dense_bias.shape[0]
    hiddens = np.zeros((timesteps + 1, units), dtype=np.float32)
    cells = np.zeros((timesteps + 1, units), dtype=np.float32)
    gates = np.zeros((timesteps, 4 * units), dtype=np.float32)
    cell_tanhs = np.zeros((timesteps, units), dtype=np.float32)
    logits = np.zeros(classes, dtype=np.float32)
    probabilities = np.zeros((samples, classes), dtype=np.float32)
    for sample in range(samples):
        hiddens[0] = hidden[sample]
        cells[0] = cell[sample]
        for t in range(timesteps):
            step(inputs[sample, t], weights, hiddens, cells, gates, cell_tanhs, t)
        hidden[sample] = hiddens[timesteps]
        cell[sample] = cells[timesteps]
        dense_logits(hidden[sample], dense_kernel, dense_bias, logits)
        largest = logits[0]
        for c in range(1, classes):
            if logits[c] > largest:
                largest = logits[c]
        row = probabilities[sample]
        for c in range(classes):
            row[c] = exp(logits[c] - largest)
        total = np.float32(0.0)
        for c in range(classes):
            total += row[c]
        for c in range(classes):
            row[c] /= total
    return probabilities


@pytest.fixture(scope="module")
def compiled_kernel_forward():
    """``kernel_forward`` compiled once for the module: every case below calls it with the
    same argument types, so one compilation (seconds) serves them all."""
    import numba

    return numba.njit(kernel_forward)


@pytest.mark.parametrize(
    "patterns, layout, length",
    [
        (lambda: variable_length_patterns(200, 5, 7), "timesteps", 5),
        (prefix_patterns, "timesteps", 25),
        (lambda: FramingParams.model_validate(SHAPES["features_3"]).dataset.patterns(), "features", 3),
    ],
)
def test_compiled_forward_pass_equals_the_numpy_one_bit_for_bit(
    engine_fast, compiled_kernel_forward, patterns, layout, length
):
    pattern_set = patterns()
    inputs = encode_patterns(pattern_set.inputs, pattern_set.targets, layout=layout, input_length=length).inputs
    features, units = inputs.shape[2], 7
    rng = np.random.default_rng(length)
    shapes = [(features, 4 * units), (units, 4 * units), (4 * units,), (units, 26), (26,)]
    weights = LSTMWeights.from_list([rng.normal(0.0, 0.6, size=shape) for shape in shapes])
    probabilities, (hidden, cell) = forward(weights, inputs)
    compiled_hidden = np.zeros((len(inputs), units), dtype=np.float32)
    compiled_cell = np.zeros((len(inputs), units), dtype=np.float32)
    compiled = compiled_kernel_forward(
        engine_fast._lstm_step,
        engine_fast._dense_logits,
        engine_fast._exp,
        inputs,
        compiled_hidden,
        compiled_cell,
        tuple(weights.as_list()),
    )
    np.testing.assert_array_equal(compiled.view(np.int32), probabilities.view(np.int32))
    np.testing.assert_array_equal(compiled_hidden.view(np.int32), hidden.view(np.int32))
    np.testing.assert_array_equal(compiled_cell.view(np.int32), cell.view(np.int32))


def test_lstm_step_returns_the_gate_activations():
    weights = initial_weights(features=1, units=4, seed=SEED)
    inputs = np.float32([[0.04], [0.5]])
    zeros = np.zeros((2, 4), dtype=np.float32)
    hidden, cell, gates = lstm.lstm_step(weights, inputs, zeros, zeros)
    assert [gate.shape for gate in gates] == [(2, 4)] * 4
    input_gate, forget_gate, candidate, output_gate = gates
    np.testing.assert_array_equal(cell, forget_gate * zeros + input_gate * candidate)
    np.testing.assert_array_equal(hidden, output_gate * lstm.tanh(cell))
    # From a zero state the forget gate sees its bias of 1 plus the input's share.
    np.testing.assert_array_equal(forget_gate, lstm.sigmoid(1.0 + inputs * weights.kernel[:, 4:8]))


# --- The faithful engine ------------------------------------------------------------------
@pytest.mark.slow
def test_keras_engine_trains_the_same_weights_twice():
    """Seeded, op determinism on: two trainings in one process give identical weights."""
    from alphabet_lstm.model.training import train

    framing = FramingParams.model_validate(
        {
            "dataset": {"kind": "sliding", "seq_length": 3},
            "layout": "timesteps",
            "epochs": 3,
            "units": 16,
            "batch_size": 4,
            "shuffle": True,
        }
    )
    dataset = encoded(framing)
    first = train(dataset, framing, seed=SEED, engine="keras")
    second = train(dataset, framing, seed=SEED, engine="keras")
    other = train(dataset, framing, seed=SEED + 1, engine="keras")
    assert weights_digest(first.weights) == weights_digest(second.weights)
    np.testing.assert_array_equal(first.losses, second.losses)
    assert weights_digest(first.weights) != weights_digest(other.weights)
