"""Stage train: every seed of one framing, side by side in one process (the fast engine's
kernels release the GIL), each process cost paid once per framing.

Writes per seed the model (weights, the spec that says how to feed them, the training's
fingerprint) and the per-epoch history for DVC plots. DVC keeps these outputs (``persist``):
a seed whose model carries the fingerprint asked for (same framing params, engine, seed, data
and code) is kept, so adding a seed trains only it. Models of seeds no longer listed go.
"""

from __future__ import annotations

import argparse
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from alphabet_lstm.artifacts import (
    file_md5,
    intact_model_fingerprint,
    load_encoded,
    save_model,
    seed_file,
    training_key,
    write_text,
)
from alphabet_lstm.errors import run_stage
from alphabet_lstm.formats import history_csv
from alphabet_lstm.interrupts import StopRequest, deferred_signals
from alphabet_lstm.model.training import model_spec, train
from alphabet_lstm.params import load_params
from alphabet_lstm.progress import ProgressReporter
from alphabet_lstm.source_code import code_digest


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--framing", required=True)
    parser.add_argument("--encoded", required=True, help="encoded .npz from encode")
    parser.add_argument("--models", required=True, help="directory for seed<N>.npz models")
    parser.add_argument("--history", required=True, help="directory for seed<N>.csv histories")
    args = parser.parse_args(argv)

    params = load_params(args.params)
    name, framing, engine = args.framing, params.framing(args.framing), params.train.engine
    dataset, _ = load_encoded(args.encoded)
    models_dir, history_dir = Path(args.models), Path(args.history)

    # The training's key with the code that runs it: changed code retrains, unchanged is kept.
    data_md5, code_sha256 = file_md5(args.encoded), code_digest(__spec__.name if __spec__ else __name__)
    fingerprints = {
        seed: training_key(framing, seed=seed, engine=engine, data_md5=data_md5, code_sha256=code_sha256)
        for seed in params.seeds
    }
    # Delete this stage's files of seeds that params.yaml no longer lists.
    for directory, suffix in ((models_dir, ".npz"), (history_dir, ".csv")):
        wanted = {seed_file(directory, seed, suffix) for seed in params.seeds}
        for path in directory.glob(f"seed*{suffix}"):
            if path not in wanted:
                path.unlink()
    # A model damaged since it was trained (its fingerprint intact) is trained again, to the same bytes.
    pending = [
        seed
        for seed in params.seeds
        if intact_model_fingerprint(seed_file(models_dir, seed, ".npz")) != fingerprints[seed]
        or not seed_file(history_dir, seed, ".csv").is_file()
    ]
    kept = len(params.seeds) - len(pending)
    if kept:
        print(f"[{name}] {kept} seed(s) already trained with these params and code: kept", file=sys.stderr)

    def train_seed(seed: int, stop_request: StopRequest) -> None:
        """Train one seed and write its model and history (each file complete or absent)."""
        reporter = ProgressReporter(f"{name} seed {seed}", framing.epochs)

        def on_progress(epoch: int, loss: float, accuracy: float) -> None:
            stop_request.check()
            reporter.update(epoch, loss, accuracy)

        result = train(dataset, framing, seed=seed, engine=engine, on_progress=on_progress)
        stop_request.check()
        spec = model_spec(name, framing, dataset, seed=seed, engine=engine)
        write_text(seed_file(history_dir, seed, ".csv"), history_csv(result.losses, result.accuracies))
        save_model(seed_file(models_dir, seed, ".npz"), result.weights, spec, fingerprint=fingerprints[seed])
        print(
            f"[{name} seed {seed}] trained in {result.seconds:.1f}s, last-epoch accuracy {result.accuracies[-1]:.4f}",
            file=sys.stderr,
        )

    # Keras runs its own thread pool: its trainings go one at a time.
    workers = 1 if engine == "keras" else min(len(pending), os.cpu_count() or 1) or 1
    with deferred_signals() as stop_request, ThreadPoolExecutor(max_workers=workers) as pool:
        for future in [pool.submit(train_seed, seed, stop_request) for seed in pending]:
            future.result()


if __name__ == "__main__":
    run_stage(main)
