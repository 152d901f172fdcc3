"""The `alphabet-lstm` command: ask a trained framing what letter comes next.

    alphabet-lstm predict --framing variable_length KLM
    alphabet-lstm predict --framing stateful --recite A --steps 25
    alphabet-lstm predict --framing stateful --show-state ABCK
    alphabet-lstm export --framing stateful --out stateful.keras
    alphabet-lstm promote --framing stateful --exp b5

It reads the saved model (which carries its own spec) and, without --seed, params.yaml's
first seed; only `export` imports TensorFlow, and only `promote` MLflow.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from alphabet_lstm.alphabet import ALPHABET, codes_to_letters
from alphabet_lstm.artifacts import load_model, seed_file
from alphabet_lstm.errors import UsageError, run_entry_point
from alphabet_lstm.evaluation import recite
from alphabet_lstm.model.lstm import LSTMWeights, ModelSpec, ordered_sum
from alphabet_lstm.model.querying import query_probabilities, top_letters
from alphabet_lstm.model.state import StateTrace, norm, trace
from alphabet_lstm.params import load_params

TOP_COUNT = 3
DEFAULT_STEPS = 5
# One line is printed per step; beyond this the output stops being something to read.
MAX_STEPS = 1000


class _Parser(argparse.ArgumentParser):
    """An argument parser whose mistakes are UsageErrors: one line, exit 2, no usage dump."""

    def error(self, message: str):
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def _add_model_arguments(command: argparse.ArgumentParser, example_framing: str) -> None:
    command.add_argument("--framing", required=True, help=f"a trained framing, e.g. {example_framing}")
    command.add_argument(
        "--seed", type=int, help="training seed of the model (default: the first of the seeds in --params)"
    )
    command.add_argument(
        "--models-dir", default="models", help="folder of trained models, one sub-folder per framing (default: models)"
    )
    command.add_argument("--params", default="params.yaml", help="where the default seed is read")


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="alphabet-lstm", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    predict = commands.add_parser(
        "predict",
        help="predict the next letter, or recite from a start",
        description=(
            "Print the letter a trained model predicts after LETTERS and its top-3 "
            "probabilities, or with --recite feed the model its own predictions. Letters are "
            "case-insensitive (klm is KLM). A stateful model is fed the letters one at a "
            "time, its state carried from a reset; a stateless model gets them as one "
            "left-padded input and takes the lengths it was trained on."
        ),
    )
    predict.add_argument("letters", metavar="LETTERS", help="the query, e.g. KLM")
    _add_model_arguments(predict, "variable_length")
    predict.add_argument(
        "--recite", action="store_true", help="feed the model its own predictions, starting from LETTERS"
    )
    predict.add_argument(
        "--steps", help=f"letters to recite with --recite (default {DEFAULT_STEPS}, at most {MAX_STEPS})"
    )
    predict.add_argument(
        "--show-state",
        action="store_true",
        help="after the prediction, one line per time step: the letter fed, the letter h reads "
        "as, |h| and |c|, the 3 most active units and the mean of each gate",
    )
    predict.add_argument("--model", help="a model file to use instead of --models-dir's")

    export = commands.add_parser(
        "export",
        help="write a trained model as a Keras 3 model (.keras)",
        description=(
            "Write a trained framing's model as a Keras 3 model that keras.models.load_model "
            "opens. It takes inputs as the framing was trained on them: float32 (samples, time "
            "steps, features), letter codes divided by 26, left-padded with 0. A stateful model "
            "has a fixed batch size and carries its state across calls: reset it with "
            "layer.reset_state() on its LSTM layer before a new sequence. Imports TensorFlow."
        ),
    )
    _add_model_arguments(export, "stateful")
    export.add_argument("--out", required=True, help="the .keras file to write")
    export.add_argument(
        "--batch-size", type=int, help="a stateful model's fixed batch size (default: the one it was trained with)"
    )

    promote = commands.add_parser(
        "promote",
        help="point a framing's registered model alias @champion at another version",
        description=(
            "Move models:/alphabet-lstm-<framing>@champion, the model docs and services load, to "
            "a registered version: one given by number, or the one a DVC experiment registered. "
            "The committed study sets @champion when it logs a new version; experiments never "
            "move it. Uses the MLflow store of the log stage: tracking.uri in --params."
        ),
    )
    promote.add_argument("--framing", required=True, help="the framing, e.g. stateful")
    promote.add_argument("--params", default="params.yaml", help="where the store is read (tracking.uri)")
    target = promote.add_mutually_exclusive_group(required=True)
    target.add_argument("--version", help="the registered version number")
    target.add_argument("--exp", help="the DVC experiment whose version to promote")
    return parser


def load_trained(args: argparse.Namespace, model: str | None = None) -> tuple[int, LSTMWeights, ModelSpec]:
    """The seed (--seed, else params.yaml's first) and the model at ``model``, else the one
    trained for --framing at that seed; UsageError naming a missing file and how to train it."""
    has_params, seed = Path(args.params).is_file(), args.seed
    if seed is None:
        if not has_params:
            raise UsageError(
                f"{args.params} not found, and it gives the default --seed: run from the project root, or pass --seed"
            )
        seed = load_params(args.params).seeds[0]
    path = Path(model) if model else seed_file(Path(args.models_dir) / args.framing, seed, ".npz")
    if path.is_file():
        return (seed, *load_model(path))
    trained = sorted(file.parent.name for file in Path(args.models_dir).glob(f"*/{seed_file('', seed, '.npz')}"))
    how_to_train = "Run `make run` (or `dvc repro`) first."
    seeds = load_params(args.params).seeds if has_params else [seed]
    if seed not in seeds:
        # `make run` trains only the listed seeds: the hint must add this one.
        how_to_train = (
            f"Seed {seed} is not in {args.params}'s seeds {seeds}: add it, e.g. "
            f"`dvc exp run -S 'seeds=[{','.join(map(str, [*seeds, seed]))}]'` (or edit {args.params}, then `make run`)."
        )
    found = f" Framings trained at seed {seed} in {args.models_dir}: {', '.join(trained)}." if trained else ""
    raise UsageError(
        f"framing {args.framing} (seed {seed}) has not been trained: {path} does not exist. {how_to_train}{found}"
    )


def recitation_lines(weights: LSTMWeights, spec: ModelSpec, codes: Sequence[int], steps: int) -> list[str]:
    """One ``input -> prediction`` line per step (what the model was fed then: a stateless
    model's window, a stateful one's letters since the step before), then the sequence."""
    predicted = recite(weights, spec, list(codes), steps)
    lines = []
    context = list(codes)
    for step, code in enumerate(predicted):
        # A stateful model carries the letters before; a window takes the last input_length.
        fed = (context if step == 0 else [context[-1]]) if spec.stateful else context[-spec.input_length :]
        lines.append(f"{codes_to_letters(fed)} -> {ALPHABET[code]}")
        context.append(code)
    lines.append(f"recited: {codes_to_letters(list(codes) + predicted)}")
    return lines


STATE_HEADER = (
    "per step: the letter fed -> the letter h reads as (Dense layer), |h|, |c|, the {top}\n"
    "(largest |h|, as u<unit> h), the mean gate activations: i input, f forget, g candidate, o output"
)


def state_line(state: StateTrace, step: int) -> str:
    """One step of a trace: ``  1 K     -> L  |h| 1.234  |c| 2.345  u7 +0.912 ...  i +0.510 ...``."""
    hidden = state.hidden[step]
    order = np.argsort(-np.abs(hidden), kind="stable")[:TOP_COUNT]
    units = "  ".join(f"u{int(unit)} {float(hidden[unit]):+.3f}" for unit in order)
    gates = " ".join(
        f"{symbol} {float(ordered_sum(getattr(state, name)[step])) / state.units:+.3f}"
        for symbol, name in zip("ifgo", StateTrace.GATES)
    )
    reads = ALPHABET[int(np.argmax(state.probabilities[step]))]
    return (
        f"  {step + 1:>3} {state.labels[step]:<5} -> {reads}  |h| {norm(hidden):.3f}  "
        f"|c| {norm(state.cell[step]):.3f}  {units}  {gates}"
    )


def state_lines(weights: LSTMWeights, spec: ModelSpec, codes: Sequence[int]) -> list[str]:
    """The --show-state block: a header, then a line per time step of the query's trace."""
    state = trace(weights, spec, codes)
    count = min(TOP_COUNT, state.units)
    units = f"{state.units} unit{'s' if state.units > 1 else ''}"
    top = f"{count} most active units" if count > 1 else "most active unit"
    lines = [f"state of {spec.framing} (seed {spec.seed}, {units}) for {codes_to_letters(codes)}:"]
    lines += STATE_HEADER.format(top=top).splitlines()
    if not spec.stateful and state.steps > 1:
        lines.append("(a stateless model answers after its last step only; earlier readings are h read early)")
    lines += [state_line(state, step) for step in range(state.steps)]
    return lines


def predict(args: argparse.Namespace) -> str:
    """``KLM -> N`` and the top-3 letters with their probabilities, or a recitation."""
    if args.steps is not None and not args.recite:
        raise UsageError("--steps only applies with --recite")
    if args.steps is not None and not (args.steps.isdecimal() and 1 <= int(args.steps) <= MAX_STEPS):
        raise UsageError(f"--steps must be a whole number from 1 to {MAX_STEPS}; got {args.steps!r}")
    if args.show_state and args.recite:
        raise UsageError(
            "--show-state shows the steps of one query, not a recitation: drop --recite and give "
            "the letters to feed (a stateful model takes any number, e.g. ABCDEFGHIJK)"
        )
    _, weights, spec = load_trained(args, args.model)
    try:
        codes = spec.query_codes(args.letters)
    except ValueError as error:
        raise UsageError(str(error)) from None
    if args.recite:
        return "\n".join(recitation_lines(weights, spec, codes, int(args.steps or DEFAULT_STEPS)))
    ranked = top_letters(query_probabilities(weights, spec, codes))
    lines = [f"{codes_to_letters(codes)} -> {ranked[0][0]}"]
    lines += [f"  {letter} {probability:.4f}" for letter, probability in ranked]
    if args.show_state:
        lines += state_lines(weights, spec, codes)
    return "\n".join(lines)


def export(args: argparse.Namespace) -> str:
    """Write the Keras model; returns the line `alphabet-lstm export` prints."""
    if not args.out.endswith(".keras"):
        raise UsageError(f"--out must name a .keras file (Keras 3's format); got {args.out!r}")
    if args.batch_size is not None and args.batch_size < 1:
        raise UsageError(f"--batch-size must be 1 or more; got {args.batch_size}")
    seed, weights, spec = load_trained(args)
    if args.batch_size is not None and not spec.stateful:
        raise UsageError(f"--batch-size applies to stateful models only; framing {spec.framing} is stateless")
    # TensorFlow loads here only (quietly, engine_keras): predict and the rest start without it.
    from alphabet_lstm.model.engine_keras import save_keras_model, trained_keras_model

    model = trained_keras_model(weights, spec, batch_size=args.batch_size)
    save_keras_model(model, args.out)
    shape = tuple(model.inputs[0].shape)
    return f"wrote {args.out}: framing {spec.framing} seed {seed}, input shape {shape}" + (
        " (stateful: reset the LSTM layer's state before each new sequence)" if spec.stateful else ""
    )


def promote(args: argparse.Namespace) -> str:
    """Move @champion; returns the line `alphabet-lstm promote` prints."""
    from alphabet_lstm import tracking

    uri = tracking.tracking_uri(load_params(args.params).tracking.uri)
    tracking.check_tracking_server(uri)
    # MLflow loads here only: predict and export start without it.
    from alphabet_lstm.tracking import registry
    from alphabet_lstm.tracking import store as mlflow_store

    store = mlflow_store.open_store(uri)
    version = registry.promotion_target(store, args.framing, version=args.version, exp=args.exp)
    previous = registry.champion_version(store, args.framing)
    registry.set_champion(store, args.framing, version)
    name = registry.registered_model_name(args.framing)
    was = f"version {previous}" if previous else "no version"
    return f"{name}@{registry.CHAMPION_ALIAS}: {was} -> version {version} ({uri})"


def run(argv: list[str] | None = None) -> None:
    args = _build_parser().parse_args(argv)
    print({"predict": predict, "export": export, "promote": promote}[args.command](args))


def main(argv: list[str] | None = None) -> int:
    """The console script: user errors print one ``error:`` line and exit 2."""
    return run_entry_point(run, argv)


if __name__ == "__main__":
    sys.exit(main())
