"""The deterministic fast engine against the old ``fastmath=True`` build, framing by framing.

Issue 10 item 6: at tutorial settings (params.yaml) the deterministic engine may take at most
1.25x the time of the ``fastmath`` engine it replaced, for each framing. The old engine is
read from git at run time (``git show 52b3690:src/alphabet_lstm/model/engine_fast.py`` by
default: the last revision with the ``fastmath`` build at this path) into a temporary module;
no copy lives in the repository.

Both engines train each framing from the same initial weights and sample orders, back to
back, alternating which goes first, ``--repetitions`` times; the table shows each one's
median wall time and their ratio. Both kernels are compiled (or loaded from numba's cache)
before any timing.

    .venv/bin/python benchmarks/engine_speed.py                 # all framings, 3 repetitions
    .venv/bin/python benchmarks/engine_speed.py --framings one_char stateful
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from alphabet_lstm.alphabet import EncodedDataset
from alphabet_lstm.data import encode_framing
from alphabet_lstm.model import training
from alphabet_lstm.model.lstm import initial_weights
from alphabet_lstm.params import FramingParams, load_params

REPO_ROOT = Path(__file__).resolve().parents[1]
TARGET_RATIO = 1.25
# The last revision whose engine is the fastmath build, at the path this script reads.
FASTMATH_REVISION = "52b3690"


def load_old_engine(revision: str, directory: Path):
    """The engine module as it is at ``revision``, imported from a temporary file."""
    source = subprocess.run(
        ["git", "show", f"{revision}:src/alphabet_lstm/model/engine_fast.py"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if "fastmath=True" not in source:
        raise SystemExit(f"error: engine_fast.py at {revision} is not the fastmath build")
    path = directory / "engine_fast_fastmath.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("engine_fast_fastmath", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def time_training(
    engine, dataset: EncodedDataset, framing: FramingParams, seed: int, epochs: int
) -> tuple[float, np.ndarray]:
    """Seconds one training takes with ``engine``, and its last-epoch losses."""
    weights = initial_weights(features=dataset.inputs.shape[2], units=framing.units, seed=seed)
    orders = training.epoch_orders(samples=len(dataset.inputs), epochs=epochs, shuffle=framing.shuffle, seed=seed)
    state = engine.EngineState.start(weights)
    started = time.perf_counter()
    losses, _ = engine.run_epochs(
        state,
        dataset.inputs,
        dataset.target_codes,
        orders,
        batch_size=framing.resolved_batch_size,
        stateful=framing.stateful,
    )
    return time.perf_counter() - started, losses


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default=str(REPO_ROOT / "params.yaml"))
    parser.add_argument("--revision", default=FASTMATH_REVISION, help="git revision of the fastmath engine")
    parser.add_argument("--framings", nargs="*", help="framings to time (default: all)")
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    params = load_params(args.params)
    names = args.framings or list(params.framings)
    with tempfile.TemporaryDirectory() as directory:
        old = load_old_engine(args.revision, Path(directory))
        # The current engine's driver (EngineState, run_epochs) is model.training's; the old
        # build carried its own beside its kernel.
        engines = {"deterministic": training, "fastmath": old}
        datasets = {name: encode_framing(params.framing(name)) for name in names}
        # Compile (or load) both kernels before timing anything.
        for engine in engines.values():
            framing = params.framing(names[0])
            time_training(engine, datasets[names[0]], framing, args.seed, 1)

        print(
            f"{'framing':<18}{'epochs':>7}{'deterministic s':>17}{'fastmath s':>12}{'ratio':>8}"
            f"  target <= {TARGET_RATIO}"
        )
        failures = []
        for name in names:
            framing = params.framing(name)
            times: dict[str, list[float]] = {label: [] for label in engines}
            for repetition in range(args.repetitions):
                order = list(engines) if repetition % 2 == 0 else list(reversed(engines))
                for label in order:
                    seconds, _ = time_training(engines[label], datasets[name], framing, args.seed, framing.epochs)
                    times[label].append(seconds)
            ours = statistics.median(times["deterministic"])
            theirs = statistics.median(times["fastmath"])
            ratio = ours / theirs
            verdict = "PASS" if ratio <= TARGET_RATIO else "MISS"
            if verdict == "MISS":
                failures.append(name)
            print(f"{name:<18}{framing.epochs:>7}{ours:>17.2f}{theirs:>12.2f}{ratio:>8.2f}  {verdict}", flush=True)
    if failures:
        print(f"over {TARGET_RATIO}x: {', '.join(failures)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
