"""The loop in seconds: the everyday commands timed against the faithful Keras port.

    .venv/bin/python benchmarks/loop.py                  # everything, 10-20 minutes on 2 cores
    .venv/bin/python benchmarks/loop.py --show FILE      # print a saved run's figures again

The yardstick is the faithful port (Keras ``model.fit``) training one_char at the tutorial's
settings, in this process; the tutorial's six framings by the port are each trained for a
few thousand updates and scaled to their epochs. Then, in a fresh clone at the tutorial's
settings: ``dvc repro`` (what ``make run`` runs), a no-op ``dvc repro``, the results
committed, ``dvc exp run -S framings.stateful.batch_size=5``, the batch size set back to 1
and a plain ``dvc repro``, a forced ``dvc repro -f``; and in a second fresh clone the
10-seed study (``make study``'s command). Each command's output is read as it comes, so each
stage's seconds are the time from DVC's ``Running stage`` to its ``Updating lock file``;
set-up is before the first stage, end is after the last (an experiment's commit). Figures
come from ``time.perf_counter``; the targets are printed beside them, not judged. The
figures and the machine's load are saved to ``--results`` (benchmarks/results/loop.json).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The tests' clone helpers (tests/clones.py): the benchmark builds its clones the same way.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from clones import commit_all, make_clone  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "loop.json"
VENV_BIN = Path(sys.executable).parent
SIX_FRAMINGS = ("one_char", "window_features", "window_timesteps", "batch_all", "stateful", "variable_length")
STUDY_SEEDS = "seeds=[7,8,9,10,11,12,13,14,15,16]"
PORT_UPDATES = 1000  # updates per short port training, scaled to the framing's epochs
# The breakdown's columns: DVC's set-up, the stages (foreach stages summed), DVC's work
# between stages, and the end (after the last stage: an experiment's commit).
COLUMNS = ("set-up", "code", "validate", "generate", "encode", "train", "evaluate", "report", "log", "between", "end")
# Issue 28's targets, as (figure, how it compares with the yardstick, the bound).
TARGETS = {
    "repro after a batch size change": "<= 1/6 of the port's one_char",
    "dvc exp run -S stateful.batch_size=5": "<= 1/3 of the port's one_char",
    "10-seed study": "<= 2x the port's one_char",
    "forced dvc repro -f": ">= 60x faster than the port's six framings",
    "no-op dvc repro": "small (2 s on the issue's machine)",
}


def stage_breakdown(events: list[tuple[float, str]], end: float) -> dict[str, float]:
    """Seconds per column from a command's output lines, each with the time it was read
    (seconds from the command's start); ``end`` is when the command exited."""
    seconds = dict.fromkeys(COLUMNS, 0.0)
    current, started, last_end = None, 0.0, None
    for moment, line in events:
        found = re.match(r"Running stage '([\w@-]+)'", line)
        if found and current:
            # No lock update between two stages (`dvc repro -f` rewrites an unchanged lock
            # silently): the stage ends where the next begins.
            seconds[current] += moment - started
            last_end = moment
        if found:
            if last_end is None:
                seconds["set-up"] = moment
            else:
                seconds["between"] += moment - last_end
            current, started = found.group(1).split("@")[0], moment
        elif current and line.startswith("Updating lock file"):
            seconds[current] += moment - started
            current, last_end = None, moment
    if current:
        seconds[current] += end - started
    elif last_end is None:
        seconds["set-up"] = end  # nothing ran: the whole command is DVC's checks
    else:
        seconds["end"] = end - last_end
    return seconds


def timed(command: list[str], cwd: Path) -> dict:
    """Run ``command``, reading its output as it comes; its seconds and breakdown."""
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}", "PYTHONUNBUFFERED": "1"}
    env.pop("MLFLOW_TRACKING_URI", None)
    start = time.perf_counter()
    events = []
    with subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            events.append((time.perf_counter() - start, line.rstrip("\n")))
    seconds = time.perf_counter() - start
    if process.returncode != 0:
        tail = "\n".join(line for _, line in events[-30:])
        raise SystemExit(f"{' '.join(command)} exited {process.returncode} in {cwd}:\n{tail}")
    print(f"  {' '.join(command)}: {seconds:.1f} s", flush=True)
    return {"seconds": seconds, "stages": stage_breakdown(events, seconds)}


def port_seconds() -> dict:
    """The faithful port: one_char at the tutorial's settings, and the six framings scaled
    from short trainings (PORT_UPDATES updates each, at least 2 epochs)."""
    from alphabet_lstm.data import encode_framing
    from alphabet_lstm.model.training import train
    from alphabet_lstm.params import load_params

    framings = load_params(Path(__file__).resolve().parents[1] / "params.yaml").framings
    six = {}
    for name in SIX_FRAMINGS:
        framing, dataset = framings[name], encode_framing(framings[name])
        batches = math.ceil(dataset.inputs.shape[0] / framing.resolved_batch_size)
        epochs = framing.epochs if name == "one_char" else max(2, min(framing.epochs, PORT_UPDATES // batches))
        start = time.perf_counter()
        train(dataset, framing.model_copy(update={"epochs": epochs}), seed=7, engine="keras")
        six[name] = (time.perf_counter() - start) * framing.epochs / epochs
        print(f"  port {name}: {epochs} of {framing.epochs} epochs -> {six[name]:.1f} s", flush=True)
    return {"one_char": six["one_char"], "six_framings": sum(six.values()), "by_framing": six}


def set_batch_size(root: Path, framing: str, size: int) -> None:
    """params.yaml's batch size of one framing, edited as a user edits it (the text)."""
    params = root / "params.yaml"
    text = params.read_text()
    block = re.search(rf"\n  {framing}:.*?\n    batch_size: \w+", text, re.S)
    assert block is not None, framing
    edited = re.sub(r"batch_size: \w+$", f"batch_size: {size}", block.group(0))
    params.write_text(text[: block.start()] + edited + text[block.end() :])


def machine() -> str:
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = re.search(r"model name\s*:\s*(.+)", cpuinfo)
    cpu = model.group(1).strip() if model else platform.processor()
    return f"{cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()}"


def run_all(workdir: Path) -> dict:
    load_start = os.getloadavg()
    print("faithful port (Keras model.fit):", flush=True)
    port = port_seconds()
    print("pipeline, fresh clone at the tutorial's settings:", flush=True)
    root = make_clone(workdir / "loop", epochs=None)
    commands = {"make run (dvc repro, cold)": timed(["dvc", "repro"], root)}
    commands["no-op dvc repro"] = timed(["dvc", "repro"], root)
    commit_all(root, "baseline results")
    commands["dvc exp run -S stateful.batch_size=5"] = timed(
        ["dvc", "exp", "run", "-S", "framings.stateful.batch_size=5"], root
    )
    set_batch_size(root, "stateful", 1)
    commands["repro after a batch size change"] = timed(["dvc", "repro"], root)
    commands["forced dvc repro -f"] = timed(["dvc", "repro", "-f"], root)
    print("10-seed study, second fresh clone:", flush=True)
    study_root = make_clone(workdir / "study", epochs=None)
    commands["10-seed study"] = timed(["dvc", "exp", "run", "-S", STUDY_SEEDS], study_root)
    return {
        "machine": machine(),
        "load_average": {"start": load_start[0], "end": os.getloadavg()[0]},
        "port": port,
        "commands": commands,
    }


def ratio(name: str, seconds: float, port: dict) -> str:
    """How a figure compares with the yardstick, as its target reads."""
    if name == "forced dvc repro -f":
        return f"{port['six_framings'] / seconds:.1f}x faster than the port's six"
    if name == "no-op dvc repro" or name.startswith("make run"):
        return "-"
    return f"{seconds / port['one_char']:.3f}x the port's one_char"


def report(results: dict) -> str:
    """The figures, their targets and the per-stage breakdown, as the benchmark prints them."""
    port, commands = results["port"], results["commands"]
    load = results["load_average"]
    lines = [
        f"machine: {results['machine']}; load average {load['start']:.1f} at the start, {load['end']:.1f} at the end",
        f"yardstick: the faithful port's one_char at the tutorial's settings, {port['one_char']:.1f} s; "
        f"its six framings (scaled) {port['six_framings']:.0f} s",
        "",
        f"{'figure':<40} {'seconds':>8}  {'ratio':<38} target",
    ]
    for name, target in TARGETS.items():
        seconds = commands[name]["seconds"]
        lines.append(f"{name:<40} {seconds:>8.1f}  {ratio(name, seconds, port):<38} {target}")
    lines += ["", f"{'seconds per part':<40} " + " ".join(f"{column:>8}" for column in COLUMNS)]
    for name, measured in commands.items():
        lines.append(f"{name:<40} " + " ".join(f"{measured['stages'].get(column, 0.0):>8.1f}" for column in COLUMNS))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--show", type=Path, help="print the figures of a saved run instead of running")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where to save this run's figures")
    args = parser.parse_args(argv)
    if args.show:
        print(report(json.loads(args.show.read_text())))
        return
    with tempfile.TemporaryDirectory(prefix="loop-benchmark-") as workdir:
        results = run_all(Path(workdir))
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(results, indent=2) + "\n")
    print()
    print(report(results))


if __name__ == "__main__":
    main()
