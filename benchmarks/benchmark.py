"""How fast the study runs on this machine, and how the fast engine compares with Keras.

Run by ``make benchmark`` (every part) or ``python benchmarks/benchmark.py --parts ...`` with
the venv's python. Each part prints a table and its targets (PASS / FAIL; SKIP where a
figure is missing, INFO for figures given for information), writes its results to
``benchmarks/results/<part>.json`` (git-ignored, with the dvc logs beside them) and the run
rewrites ``benchmarks/README.md`` from the results of the parts it ran. Exit status: 2 if a
target failed, 1 if a pipeline run failed.

Parts (``--parts``, default all, in this order):
  study    in a fresh clone at the tutorial's settings with an empty numba cache, time
           ``dvc exp run -S 'seeds=[7..16]'``, then the same with seed 17 added (only that
           seed may train); and the faithful engine's (Keras ``model.fit``) one_char training
           at the tutorial's settings, in this process. Target: the study <= 4x that training.
  repro    a cold 1-seed ``dvc repro`` at the tutorial's settings in a fresh clone of this
           tree and, one after the other, in one of a baseline revision (``--baseline``; its
           own code runs, through PYTHONPATH); then a no-op ``dvc repro`` and the peak memory
           of every stage (process tree RSS, sampled every 50 ms by a ``python`` shim placed
           first on the stages' PATH). Targets: no slower than the baseline; no-op < 5 s;
           every stage < 1 GiB.
  engines  every framing at the tutorial's settings, seed 7, trained in this process by the
           fast engine and by the faithful one: time, speed-up, training accuracy. Targets:
           accuracy near the tutorial's (params.yaml's report.tutorial_accuracy); variable_length
           >= 30x faster. ``--epochs-scale`` shortens it for a quick check (accuracy not judged).
  seeds    every framing at several seeds, both engines at the same epochs (``--seeds-epochs-scale``,
           the faithful engine being slow): the fast engine, ``model.fit`` from its own start (the
           target: the fast mean at most one pattern below) and from the fast engine's start (a
           check of the arithmetic, INFO).
  sweeps   the shipped sweep (``--sweep``) on a LocalCluster of 1 and of 2 workers and on a
           `dask scheduler` with two `dask worker` processes (benchmarks/sweep_throughput.py):
           trainings per minute, peak memory per worker. Targets: 2 workers >= 1.5x 1 worker,
           the same results table on every cluster.
  suite    the test suite as CI runs it, in a fresh clone with no venv and no package cache:
           ``make setup`` then ``make test`` (together what a fresh ``make test`` does), then
           ``make test-fast``. Targets: set-up and suite < 12 minutes; the unit tier < 1 minute.

The README is written from every part's last results (``benchmarks/results/<part>.json``,
committed), so a part run alone updates its own section only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from alphabet_lstm.data import encode_framing
from alphabet_lstm.evaluation import recite, training_metrics
from alphabet_lstm.model.training import model_spec, train
from alphabet_lstm.params import FramingParams, Params, load_params

# The tests' clone helpers (tests/clones.py): the benchmark builds its clones the same way.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from clones import PROJECT_ROOT, archive_revision, make_clone  # noqa: E402

VENV_BIN = Path(sys.executable).parent
PARTS = ("study", "repro", "engines", "seeds", "sweeps", "suite")

STUDY_SEEDS = list(range(7, 17))
ADDED_SEED = 17
TARGET_STUDY_RATIO = 4.0
BASELINE_REVISION = "c2ef489"  # the last commit before the per-framing stages (one stage per seed)
TARGET_NOOP_SECONDS = 5.0
TARGET_PEAK_MIB = 1024.0
TARGET_VARIABLE_LENGTH_SPEEDUP = 30.0
TARGET_SWEEP_SCALING = 1.5  # trainings per minute, 2 local workers over 1, on 2 cores
TARGET_SUITE_SECONDS = 12 * 60  # a fresh `make test`, set-up included, on the CI machine kind
TARGET_UNIT_TIER_SECONDS = 60
# How far the fast engine's seed-7 accuracy may be from the tutorial's: one training pattern,
# or 1 point for variable_length (1000 random patterns, so one pattern says nothing).
TOLERANCE_POINTS = {"variable_length": 0.01}
DEFAULT_SEEDS = (7, 8, 9, 10, 11)
TRAINED_LINE = re.compile(r"\[(\w+) seed (\d+)\] trained in")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"


def target(name: str, value: str | None, passed: bool | None, detail: str = "") -> dict:
    status = "SKIP" if passed is None else ("PASS" if passed else "FAIL")
    return {"target": name, "value": value, "status": status, "detail": detail}


# ------------------------------------------------------------------------ judging (pure)


def judge_study(result: dict) -> list[dict]:
    """The 10-seed study against the faithful one_char training; adding a seed."""
    study, faithful = result.get("study_seconds"), result.get("faithful_one_char_seconds")
    name = f"10-seed dvc exp run <= {TARGET_STUDY_RATIO:.0f}x the faithful engine's one_char training"
    if study is None or faithful is None:
        targets = [target(name, None, None, "needs a successful exp run and the faithful training")]
    else:
        ratio = study / faithful
        targets = [
            target(
                name,
                f"{ratio:.2f}x",
                ratio <= TARGET_STUDY_RATIO,
                f"{duration(study)} study vs {duration(faithful)} faithful one_char",
            )
        ]
    added, framings = result.get("added_trained"), result.get("framings")
    name = f"adding seed {ADDED_SEED} trains only that seed"
    if added is None or framings is None:
        targets.append(target(name, None, None))
    else:
        only_added = sorted(added) == sorted([f"{framing}:{ADDED_SEED}" for framing in framings])
        targets.append(
            target(
                name,
                f"{len(added)} trainings",
                only_added,
                f"{len(framings)} framings; {duration(result.get('added_seconds'))}",
            )
        )
    return targets


def judge_repro(result: dict) -> list[dict]:
    """Cold repro against the baseline's, no-op repro, peak stage memory."""
    current, baseline = result.get("current", {}), result.get("baseline", {})
    name = "cold 1-seed dvc repro no slower than the baseline's"
    cold, base = current.get("cold_seconds"), baseline.get("cold_seconds")
    if cold is None or base is None:
        targets = [target(name, None, None, "needs both cold repros to succeed")]
    else:
        targets = [
            target(name, f"{cold / base:.2f}x", cold <= base, f"{duration(cold)} now vs {duration(base)} baseline")
        ]
    noop = current.get("noop_seconds")
    targets.append(
        target(
            f"no-op dvc repro < {TARGET_NOOP_SECONDS:.0f} s",
            None if noop is None else f"{noop:.2f}s",
            None if noop is None else noop < TARGET_NOOP_SECONDS,
        )
    )
    stages = current.get("stages", [])
    if stages:
        peak = max(stages, key=lambda stage: stage["peak_mib"])
        targets.append(
            target(
                "peak memory of any stage < 1 GiB",
                f"{peak['peak_mib']:.0f} MiB",
                peak["peak_mib"] < TARGET_PEAK_MIB,
                peak["stage"],
            )
        )
    else:
        targets.append(target("peak memory of any stage < 1 GiB", None, None))
    return targets


def judge_sweeps(result: dict) -> list[dict]:
    """Throughput scaling from 1 to 2 local workers; the same table on every cluster."""
    by_name = {cluster["cluster"]: cluster for cluster in result.get("clusters", [])}
    one, two = by_name.get("LocalCluster(1)"), by_name.get("LocalCluster(2)")
    name = f"2 local workers >= {TARGET_SWEEP_SCALING}x the trainings per minute of 1"
    if one is None or two is None:
        targets = [target(name, None, None)]
    else:
        ratio = two["trainings_per_minute"] / one["trainings_per_minute"]
        targets = [
            target(
                name,
                f"{ratio:.2f}x",
                ratio >= TARGET_SWEEP_SCALING,
                f"{two['trainings_per_minute']} vs {one['trainings_per_minute']} trainings/min",
            )
        ]
    identical = result.get("tables_identical")
    targets.append(
        target(
            "the same results table on every cluster",
            None if identical is None else str(identical).lower(),
            identical,
            f"{len(by_name)} clusters",
        )
    )
    return targets


def judge_suite(result: dict) -> list[dict]:
    """A fresh `make test` (set-up and suite) and the unit tier against their budgets."""
    setup, suite, unit = result.get("setup_seconds"), result.get("test_seconds"), result.get("test_fast_seconds")
    name = f"fresh make test (set-up and suite) < {TARGET_SUITE_SECONDS // 60} min"
    if setup is None or suite is None:
        targets = [target(name, None, None, "needs make setup and make test to succeed")]
    else:
        targets = [
            target(
                name,
                duration(setup + suite),
                setup + suite < TARGET_SUITE_SECONDS,
                f"{duration(setup)} set-up + {duration(suite)} suite, {result.get('tests_passed')} passed",
            )
        ]
    targets.append(
        target(
            f"make test-fast < {TARGET_UNIT_TIER_SECONDS} s",
            duration(unit),
            None if unit is None else unit < TARGET_UNIT_TIER_SECONDS,
            "" if unit is None else f"{result.get('unit_tests_passed')} passed",
        )
    )
    return targets


def accuracy_tolerance(name: str, patterns: int) -> float:
    return TOLERANCE_POINTS.get(name, 1.0 / patterns)


def judge_engines(result: dict, tutorial_accuracy: dict[str, float]) -> list[dict]:
    """Seed-7 accuracy near the tutorial's (full epochs only); variable_length's speed-up."""
    targets = []
    scaled = result.get("epochs_scale", 1.0) != 1.0
    framings = result.get("framings", {})
    for name, expected in tutorial_accuracy.items():
        fast = framings.get(name, {}).get("fast")
        label = f"{name}: fast-engine accuracy near the tutorial's {expected:.2%}"
        if fast is None or scaled:
            targets.append(target(label, None, None, "epochs scaled: not judged" if fast else ""))
            continue
        allowed = accuracy_tolerance(name, fast["patterns"])
        passed = abs(fast["accuracy"] - expected) <= allowed + 1e-9
        detail = f"within {'1 point' if name in TOLERANCE_POINTS else 'one pattern'}"
        if fast.get("chain_intact") is not None:
            passed = passed and fast["chain_intact"]
            detail += f"; chain A..Z intact: {fast['chain_intact']}"
        targets.append(target(label, f"{fast['accuracy']:.2%} ({fast['correct']}/{fast['patterns']})", passed, detail))
    entry = framings.get("variable_length", {})
    label = f"variable_length: fast engine >= {TARGET_VARIABLE_LENGTH_SPEEDUP:.0f}x the faithful one"
    if entry.get("fast") and entry.get("faithful"):
        ratio = entry["faithful"]["seconds"] / entry["fast"]["seconds"]
        targets.append(target(label, f"{ratio:.0f}x", ratio >= TARGET_VARIABLE_LENGTH_SPEEDUP))
    else:
        targets.append(target(label, None, None))
    return targets


def summarize_seeds(entry: dict, runs: list[str]) -> None:
    """Mean and std per run, and fast minus each faithful run in patterns (with a 95% CI).

    Same start: the same seeds on both sides start identically, so the per-seed differences
    are paired (they measure the engines' arithmetic, not the luck of the draw). Own start:
    the two sides are independent draws, compared with Welch's t interval.
    """
    from scipy import stats

    from alphabet_lstm.report.statistics import compare_paired

    for run in runs:
        values = [item["accuracy"] for item in entry[run].values()]
        entry[f"{run}_count"] = len(values)
        entry[f"{run}_mean"] = float(np.mean(values)) if values else None
        entry[f"{run}_std"] = float(np.std(values, ddof=1)) if len(values) > 1 else (0.0 if values else None)
    fast = entry.get("fast", {})
    same = entry.get("faithful_same_start", {})
    common = [seed for seed in fast if seed in same]
    if len(common) >= 2:
        comparison = compare_paired([fast[s]["correct"] for s in common], [same[s]["correct"] for s in common])
        entry["same_start_difference"] = {
            "seeds": len(common),
            "mean_patterns": comparison.mean_difference,
            "ci_patterns": [comparison.ci_low, comparison.ci_high],
            "largest_gap_patterns": max(abs(fast[s]["correct"] - same[s]["correct"]) for s in common),
            "identical_seeds": sum(fast[s]["correct"] == same[s]["correct"] for s in common),
        }
    own = entry.get("faithful_own_start", {})
    if len(fast) >= 2 and len(own) >= 2:
        fast_correct = np.array([item["correct"] for item in fast.values()], dtype=float)
        own_correct = np.array([item["correct"] for item in own.values()], dtype=float)
        difference = float(fast_correct.mean() - own_correct.mean())
        if fast_correct.std() + own_correct.std() > 0:
            welch = stats.ttest_ind(fast_correct, own_correct, equal_var=False)
            interval = welch.confidence_interval(0.95)
            ci, p_value = [float(interval.low), float(interval.high)], float(welch.pvalue)
        else:
            ci, p_value = [difference, difference], None
        entry["own_start_difference"] = {"mean_patterns": difference, "ci_patterns": ci, "p_value": p_value}


def judge_seeds(result: dict) -> list[dict]:
    """The fast mean against ``model.fit`` from its own start; the same-start check as INFO."""
    targets = []
    for name, entry in result.get("framings", {}).items():
        # The faithful engine is `model.fit` as the tutorial calls it: Keras' own start.
        label = f"{name}: fast mean not below the faithful engine's (model.fit, own start) by more than one pattern"
        own = entry.get("own_start_difference")
        complete = min(entry.get("fast_count", 0), entry.get("faithful_own_start_count", 0)) >= len(entry["seeds"])
        if own is None or not complete:
            targets.append(target(label, None, None))
        else:
            p_text = "-" if own["p_value"] is None else f"{own['p_value']:.2f}"
            targets.append(
                target(
                    label,
                    f"{own['mean_patterns']:+.2f} patterns",
                    own["mean_patterns"] >= -1.0 - 1e-9,
                    f"{len(entry['seeds'])} seeds at {entry['epochs']} epochs; Welch 95% CI "
                    f"[{own['ci_patterns'][0]:+.2f}, {own['ci_patterns'][1]:+.2f}], p = {p_text}",
                )
            )
        same = entry.get("same_start_difference")
        if same is not None and same["seeds"] >= len(entry["seeds"]):
            # Same arithmetic from the same start: equal until float32 rounding differences
            # are amplified by training, so a check of the math, not a target.
            targets.append(
                {
                    "target": f"{name}: same start (the fast engine's weights and batch order), fast - faithful",
                    "value": f"{same['mean_patterns']:+.2f} patterns",
                    "status": "INFO",
                    "detail": f"identical at {same['identical_seeds']} of {same['seeds']} seeds; largest gap "
                    f"{same['largest_gap_patterns']} patterns; paired 95% CI "
                    f"[{same['ci_patterns'][0]:+.2f}, {same['ci_patterns'][1]:+.2f}]",
                }
            )
    return targets


def trained_seeds(output: str) -> list[str]:
    """``framing:seed`` of every training a train stage reported in ``output``."""
    return [f"{framing}:{seed}" for framing, seed in TRAINED_LINE.findall(output)]


# ------------------------------------------------------------------ training in-process


def scaled(framing: FramingParams, scale: float) -> FramingParams:
    return framing.model_copy(update={"epochs": max(1, round(framing.epochs * scale))})


# The smallest training there is: one epoch of two units, only to compile the fast kernel.
WARM_UP_FRAMING = {
    "dataset": {"kind": "sliding", "seq_length": 1},
    "layout": "timesteps",
    "stateful": False,
    "batch_size": 1,
    "epochs": 1,
    "units": 2,
    "shuffle": False,
}


def warm_up_engines(engines: set[str]) -> None:
    """Compile the fast kernel (or load it from numba's cache) and import Keras, outside every timing."""
    if "fast" in engines:
        framing = FramingParams.model_validate(WARM_UP_FRAMING)
        train(encode_framing(framing), framing, seed=0, engine="fast")
    if "keras" in engines:
        import keras  # noqa: F401

        from alphabet_lstm.model import engine_keras  # noqa: F401


def run_training(name: str, framing: FramingParams, *, seed: int, engine: str, shared_start: bool = False) -> dict:
    """One training in this process: wall time, training accuracy, stateful chain."""
    if engine == "keras":
        import keras

        keras.backend.clear_session()  # a fresh graph per model, as in a fresh process
    dataset = encode_framing(framing)
    result = train(dataset, framing, seed=seed, engine=engine, shared_start=shared_start)
    spec = model_spec(name, framing, dataset, seed=seed, engine=engine)
    outcome = {
        "seconds": round(result.seconds, 3),
        **training_metrics(result.weights, spec, dataset.inputs, dataset.target_codes),
    }
    if framing.stateful:
        outcome["chain_intact"] = recite(result.weights, spec, [0], 25) == list(range(1, 26))
    return outcome


# Part seeds' three trainings per framing and seed: (engine, shared_start).
SEED_RUNS = {"fast": ("fast", False), "faithful_same_start": ("keras", True), "faithful_own_start": ("keras", False)}


def _seed_task(name: str, framing_json: str, seed: int, run: str) -> tuple:
    """One training of part seeds, in a worker process (``--jobs`` > 1)."""
    engine, shared_start = SEED_RUNS[run]
    warm_up_engines({engine})
    framing = FramingParams.model_validate_json(framing_json)
    return name, seed, run, run_training(name, framing, seed=seed, engine=engine, shared_start=shared_start)


# ------------------------------------------------------------------------ the pipeline

SHIM = """#!{python} -I
# The real python, with its wall time and peak memory appended to a log: the largest sum of
# the RSS of its whole process tree, sampled every 50 ms.
import json, subprocess, sys, time
import psutil
started = time.perf_counter()
child = subprocess.Popen([{python!r}] + sys.argv[1:])
peak = 0
while child.poll() is None:
    total = 0
    try:
        root = psutil.Process(child.pid)
        for process in [root] + root.children(recursive=True):
            total += process.memory_info().rss
    except psutil.NoSuchProcess:
        pass
    peak = max(peak, total)
    time.sleep(0.05)
with open({log!r}, "a") as handle:
    handle.write(json.dumps({{"argv": sys.argv[1:], "peak_bytes": peak,
                             "seconds": round(time.perf_counter() - started, 3)}}) + "\\n")
sys.exit(child.returncode)
"""


def pipeline_env(
    scratch: Path, *, memory_log: Path | None = None, pythonpath: Path | None = None, venv: bool = True
) -> dict:
    """A user's environment after activating the venv (or, ``venv=False``, a clean machine's,
    with no venv on PATH), with an empty numba cache of its own."""
    env = {key: value for key, value in os.environ.items() if key != "VIRTUAL_ENV" or venv}
    others = [part for part in env.get("PATH", "").split(os.pathsep) if part and part != str(VENV_BIN)]
    path = ([str(VENV_BIN)] if venv else []) + others
    if memory_log is not None:
        shim_dir = scratch / "shim"
        shim_dir.mkdir(parents=True, exist_ok=True)
        for name in ("python", "python3"):
            shim = shim_dir / name
            shim.write_text(SHIM.format(python=str(VENV_BIN / "python"), log=str(memory_log)))
            shim.chmod(0o755)
        path.insert(0, str(shim_dir))
    env["PATH"] = os.pathsep.join(path)
    env["NUMBA_CACHE_DIR"] = str(scratch / "numba-cache")  # a fresh machine compiles once
    for key in ("MLFLOW_TRACKING_URI", "DVC_EXP_NAME", "PYTHONPATH"):
        env.pop(key, None)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return env


def timed(command: list[str], cwd: Path, env: dict, log_path: Path) -> tuple[float | None, str]:
    """Run ``command``, its output to ``log_path``: (seconds or None if it failed, output)."""
    log(f"{' '.join(command)} in {cwd} (output: {log_path.name})")
    started = time.perf_counter()
    with open(log_path, "w") as handle:
        completed = subprocess.run(command, cwd=cwd, env=env, stdout=handle, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - started
    output = log_path.read_text()
    if completed.returncode != 0:
        log(
            f"  failed (exit {completed.returncode}) after {duration(seconds)}; last lines:\n    "
            + "\n    ".join(output.splitlines()[-15:])
        )
        return None, output
    log(f"  {duration(seconds)}")
    return round(seconds, 2), output


def stage_label(argv: list[str]) -> str:
    """``train@one_char`` from ``-m alphabet_lstm.stages.train --framing one_char ...``."""
    module = argv[argv.index("-m") + 1].rsplit(".", 1)[-1] if "-m" in argv else " ".join(argv[:2])
    values = {argv[i][2:]: argv[i + 1] for i in range(len(argv) - 1) if argv[i].startswith("--")}
    label = f"{module}@{values['framing']}" if "framing" in values else module
    return label + (f"-{values['seed']}" if "seed" in values else "")


def stage_memory(memory_log: Path) -> list[dict]:
    if not memory_log.exists():
        return []
    records = [json.loads(line) for line in memory_log.read_text().splitlines()]
    return [
        {"stage": stage_label(r["argv"]), "seconds": r["seconds"], "peak_mib": round(r["peak_bytes"] / 2**20, 1)}
        for r in records
    ]


# ------------------------------------------------------------------------------- parts


def part_study(args, params: Params, scratch: Path, out_dir: Path) -> dict:
    clone = make_clone(scratch / "study", epochs=None)
    env = pipeline_env(scratch / "study-env")
    seeds = ",".join(map(str, STUDY_SEEDS))
    result: dict = {"framings": list(params.framings), "seeds": STUDY_SEEDS}
    result["study_seconds"], output = timed(
        ["dvc", "exp", "run", "-S", f"seeds=[{seeds}]"], clone, env, out_dir / "study-exp-run.log"
    )
    result["failed"] = result["study_seconds"] is None
    result["study_trainings"] = len(trained_seeds(output))
    if result["study_seconds"] is not None:
        result["added_seconds"], output = timed(
            ["dvc", "exp", "run", "-S", f"seeds=[{seeds},{ADDED_SEED}]"], clone, env, out_dir / "study-add-seed.log"
        )
        result["failed"] = result["added_seconds"] is None
        result["added_trained"] = None if result["failed"] else trained_seeds(output)
    log("faithful engine (keras): one_char at the tutorial's settings, seed 7 ...")
    warm_up_engines({"keras"})
    faithful = run_training("one_char", params.framings["one_char"], seed=7, engine="keras")
    result["faithful_one_char_seconds"] = faithful["seconds"]
    log(f"  {duration(faithful['seconds'])}, accuracy {faithful['accuracy']:.2%}")
    return result


def part_repro(args, params: Params, scratch: Path, out_dir: Path) -> dict:
    result: dict = {"baseline_revision": args.baseline}
    clones = {
        "baseline": archive_revision(args.baseline, scratch / "baseline"),
        "current": make_clone(scratch / "current", epochs=None),
    }
    for side in ("baseline", "current"):  # one after the other, never side by side on the cores
        clone = clones[side]
        memory_log = scratch / f"{side}-memory.jsonl"
        env = pipeline_env(
            scratch / f"{side}-env", memory_log=memory_log, pythonpath=clone / "src" if side == "baseline" else None
        )
        entry = result[side] = {}
        entry["cold_seconds"], _ = timed(["dvc", "repro"], clone, env, out_dir / f"repro-{side}-cold.log")
        entry["stages"] = stage_memory(memory_log)
    current = result["current"]
    if current["cold_seconds"] is not None:
        env = pipeline_env(scratch / "current-env")
        current["noop_seconds"], _ = timed(["dvc", "repro"], clones["current"], env, out_dir / "repro-current-noop.log")
    result["failed"] = None in (
        result["baseline"]["cold_seconds"],
        current["cold_seconds"],
        current.get("noop_seconds"),
    )
    return result


def part_engines(args, params: Params, scratch: Path, out_dir: Path) -> dict:
    result: dict = {"epochs_scale": args.epochs_scale, "framings": {}}
    warm_up_engines({"fast", "keras"})
    for engine, key in (("fast", "fast"), ("keras", "faithful")):  # every fast one first: minutes, not an hour
        for name in args.framings:
            framing = scaled(params.framings[name], args.epochs_scale)
            log(f"{key} {name}: {framing.epochs} epochs ...")
            entry = result["framings"].setdefault(name, {"epochs": framing.epochs})
            entry[key] = run_training(name, framing, seed=7, engine=engine)
            log(f"  {duration(entry[key]['seconds'])}, accuracy {entry[key]['accuracy']:.2%}")
    return result


def part_sweeps(args, params: Params, scratch: Path, out_dir: Path) -> dict:
    from sweep_throughput import measure_clusters  # beside this file

    result = measure_clusters(PROJECT_ROOT / "params.yaml", args.sweep)
    result["failed"] = False
    return result


def passed_count(output: str) -> int | None:
    """How many tests pytest's last summary line says passed."""
    found = re.findall(r"(\d+) passed", output)
    return int(found[-1]) if found else None


def part_suite(args, params: Params, scratch: Path, out_dir: Path) -> dict:
    clone = make_clone(scratch / "suite", epochs=None)
    # A clean machine: no venv on PATH, no package cache, an empty numba cache.
    env = {**pipeline_env(scratch / "suite-env", venv=False), "UV_NO_CACHE": "1"}
    result: dict = {}
    result["setup_seconds"], _ = timed(["make", "setup"], clone, env, out_dir / "suite-setup.log")
    result["test_seconds"], output = timed(["make", "test"], clone, env, out_dir / "suite-test.log")
    result["tests_passed"] = passed_count(output)
    result["test_fast_seconds"], output = timed(["make", "test-fast"], clone, env, out_dir / "suite-test-fast.log")
    result["unit_tests_passed"] = passed_count(output)
    result["failed"] = None in (result["setup_seconds"], result["test_seconds"], result["test_fast_seconds"])
    return result


def part_seeds(args, params: Params, scratch: Path, out_dir: Path) -> dict:
    result: dict = {"epochs_scale": args.seeds_epochs_scale, "framings": {}}
    tasks = []
    for name in args.framings:
        framing = scaled(params.framings[name], args.seeds_epochs_scale)
        result["framings"][name] = {"epochs": framing.epochs, "seeds": args.seeds, **{run: {} for run in SEED_RUNS}}
        tasks += [(name, framing.model_dump_json(), seed, run) for run in SEED_RUNS for seed in args.seeds]
    log(f"{len(tasks)} trainings in {args.jobs} process(es) ...")
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        for future in as_completed([pool.submit(_seed_task, *task) for task in tasks]):
            name, seed, run, outcome = future.result()
            result["framings"][name][run][str(seed)] = outcome
            log(f"  {run} {name} seed {seed}: accuracy {outcome['accuracy']:.2%} in {duration(outcome['seconds'])}")
    for entry in result["framings"].values():
        summarize_seeds(entry, list(SEED_RUNS))
    return result


# ------------------------------------------------------------------------------ tables


def study_table(result: dict) -> tuple[list[str], list[list[str]]]:
    return ["measure", "value"], [
        [f"`dvc exp run -S seeds=[{STUDY_SEEDS[0]}..{STUDY_SEEDS[-1]}]`, cold", duration(result.get("study_seconds"))],
        ["trainings it ran", str(result.get("study_trainings", "-"))],
        [f"then with seed {ADDED_SEED} added", duration(result.get("added_seconds"))],
        ["trainings that one ran", ", ".join(result.get("added_trained") or []) or "-"],
        ["faithful engine, one_char, tutorial settings", duration(result.get("faithful_one_char_seconds"))],
    ]


def repro_table(result: dict) -> tuple[list[str], list[list[str]]]:
    rows = []
    for side in ("current", "baseline"):
        entry = result.get(side, {})
        stages = entry.get("stages", [])
        peak = max(stages, key=lambda stage: stage["peak_mib"]) if stages else None
        rows.append(
            [
                side,
                duration(entry.get("cold_seconds")),
                str(len(stages)),
                f"{peak['peak_mib']:.0f} MiB ({peak['stage']})" if peak else "-",
            ]
        )
    rows[0].append(
        f"{result['current']['noop_seconds']:.2f}s" if result.get("current", {}).get("noop_seconds") else "-"
    )
    rows[1].append("-")
    return ["tree", "cold dvc repro", "stages", "peak stage memory", "no-op dvc repro"], rows


def engines_table(result: dict) -> tuple[list[str], list[list[str]]]:
    rows = []
    for name, entry in result.get("framings", {}).items():
        fast, faithful = entry.get("fast"), entry.get("faithful")
        rows.append(
            [
                name,
                str(entry["epochs"]),
                duration(faithful["seconds"]) if faithful else "-",
                f"{fast['seconds']:.2f}s" if fast else "-",
                f"{faithful['seconds'] / fast['seconds']:.0f}x" if fast and faithful else "-",
                f"{faithful['accuracy']:.2%}" if faithful else "-",
                f"{fast['accuracy']:.2%}" if fast else "-",
            ]
        )
    return ["framing", "epochs", "faithful", "fast", "speed-up", "faithful acc", "fast acc"], rows


def seeds_table(result: dict) -> tuple[list[str], list[list[str]]]:
    rows = []
    for name, entry in result.get("framings", {}).items():

        def summary(run: str, entry: dict = entry) -> str:
            if entry.get(f"{run}_mean") is None:
                return "-"
            return f"{entry[f'{run}_mean']:.2%} +- {entry[f'{run}_std']:.2%} (n={entry[f'{run}_count']})"

        def difference(key: str, entry: dict = entry) -> str:
            found = entry.get(key)
            if found is None:
                return "-"
            return f"{found['mean_patterns']:+.2f} [{found['ci_patterns'][0]:+.2f}, {found['ci_patterns'][1]:+.2f}]"

        rows.append(
            [
                name,
                str(entry["epochs"]),
                summary("fast"),
                summary("faithful_own_start"),
                difference("own_start_difference"),
                summary("faithful_same_start"),
                difference("same_start_difference"),
            ]
        )
    return [
        "framing",
        "epochs",
        "fast",
        "faithful, own start",
        "fast - own (patterns, 95% CI)",
        "faithful, same start",
        "fast - same (patterns, 95% CI)",
    ], rows


def sweeps_table(result: dict) -> tuple[list[str], list[list[str]]]:
    rows = [
        [
            cluster["cluster"],
            str(cluster["workers"]),
            str(cluster["trainings"]),
            f"{cluster['sweep_seconds']:.1f}s",
            f"{cluster['trainings_per_minute']:.1f}",
            f"{cluster['cores_used']:.2f}",
            ", ".join(f"{mib} MiB" for mib in cluster["peak_rss_mib"].values()),
        ]
        for cluster in result.get("clusters", [])
    ]
    return ["cluster", "workers", "trainings", "sweep", "trainings/min", "cores used", "peak memory per worker"], rows


def suite_table(result: dict) -> tuple[list[str], list[list[str]]]:
    return ["measure", "value"], [
        ["`make setup`: a new venv, every package downloaded", duration(result.get("setup_seconds"))],
        ["`make test`: the whole suite", duration(result.get("test_seconds"))],
        ["tests passed", str(result.get("tests_passed") or "-")],
        ["`make test-fast`: the unit tier", duration(result.get("test_fast_seconds"))],
        ["unit tests passed", str(result.get("unit_tests_passed") or "-")],
    ]


def text_table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]
    lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)) for row in [headers, *rows]]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return "\n".join(lines + ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows])


TARGET_HEADERS = ["status", "target", "value", "detail"]


def target_rows(targets: list[dict]) -> list[list[str]]:
    return [[t["status"], t["target"], t["value"] or "-", t["detail"]] for t in targets]


# What each part measures, for benchmarks/README.md (the targets' meaning is in their names).
PART_TEXT = {
    "study": "The 10-seed study as a user runs it: a fresh clone at the tutorial's settings, an empty "
    "numba cache, `dvc exp run -S 'seeds=[7,...,16]'`; then seed 17 added, which must train "
    "that seed only. Its yardstick is the faithful engine (Keras `model.fit`) training "
    "one_char once at the tutorial's settings, measured in the same run.",
    "repro": "A cold `dvc repro` at the tutorial's settings (one seed), in a fresh clone of this tree "
    "and, one after the other in the same run, in a clone of the baseline revision "
    "(`--baseline`: the last revision before the per-framing stages), whose own code runs; "
    "then a no-op `dvc repro`. Stage memory is the peak summed RSS of a stage's process tree.",
    "engines": "Each framing at the tutorial's settings, seed 7, trained in one process by the fast "
    "engine and by the faithful one (Keras `model.fit`): wall time of the training alone "
    "(compilation and imports excluded) and final training accuracy.",
    "seeds": "Each framing at several seeds, both engines at the same (shortened) epochs. Own start: "
    "`model.fit` with Keras' initial weights and shuffle, the faithful engine the target "
    "compares with. Same start: `model.fit` from the fast engine's weights and batch order, "
    "so the two differ only in their arithmetic (for information).",
    "sweeps": "A sweep of params.yaml (`--sweep`; by default the shipped `one_char_budget`), every grid point "
    "x seed, as tasks on Dask: a LocalCluster "
    "of 1 and of 2 single-threaded worker processes, then a `dask scheduler` with two `dask worker` "
    "processes on 127.0.0.1. Workers are warmed first (numba loads its kernels once per process), "
    "so the rate is a warm cluster's; peak memory is each worker's peak RSS.",
    "suite": "The test suite as CI runs it (`.ci/run` installs system packages, then runs `make test`): "
    "a fresh clone of this tree with no venv, no package cache (`UV_NO_CACHE`) and an empty numba "
    "cache; `make setup` and `make test` one after the other, which is what a fresh `make test` "
    "does, then `make test-fast`.",
}
TABLES = {
    "study": study_table,
    "repro": repro_table,
    "engines": engines_table,
    "seeds": seeds_table,
    "sweeps": sweeps_table,
    "suite": suite_table,
}


def machine() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next(line.split(":", 1)[1].strip() for line in handle if line.startswith("model name"))
    except (OSError, StopIteration):
        cpu = platform.processor() or platform.machine()
    return f"{cpu}, {os.cpu_count()} CPUs, {platform.system()}, Python {platform.python_version()}"


def readme(results: dict[str, dict]) -> str:
    """benchmarks/README.md from each part's last results."""
    lines = [
        "# Benchmark",
        "",
        "Written by `benchmarks/benchmark.py` from each part's last results; do not edit.",
        "",
        "```bash",
        "make benchmark                                              # every part (about 2 hours here)",
        ".venv/bin/python benchmarks/benchmark.py --parts study,repro  # the pipeline's targets, 10-20 minutes",
        ".venv/bin/python benchmarks/benchmark.py --help               # parts and options",
        "```",
        "",
        "Each part prints a table and its targets: PASS or FAIL, SKIP where a figure is missing, "
        "INFO for figures given for information. Each part's results are in `benchmarks/results/<part>.json` "
        "(this page is generated from them; the dvc logs beside them are git-ignored). Timings depend on "
        "the machine and on what else it runs.",
        "",
    ]
    for part in PARTS:
        if part not in results:
            continue
        headers, rows = TABLES[part](results[part])
        lines += [
            f"## {part}",
            "",
            PART_TEXT[part],
            "",
            f"Machine: {results[part]['machine']}.",
            "",
            markdown_table(headers, rows),
            "",
            markdown_table(TARGET_HEADERS, target_rows(results[part]["targets"])),
            "",
        ]
    missing = [part for part in PARTS if part not in results]
    if missing:
        lines += [f"Not run yet: {', '.join(missing)} (`--parts {','.join(missing)}`).", ""]
    return "\n".join(lines)


def saved_results(out_dir: Path) -> dict[str, dict]:
    """Every part's last results, as the runs wrote them to ``out_dir``."""
    return {
        part: json.loads((out_dir / f"{part}.json").read_text())
        for part in PARTS
        if (out_dir / f"{part}.json").is_file()
    }


# -------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, of: {', '.join(PARTS)}")
    parser.add_argument("--baseline", default=BASELINE_REVISION, help="repro: the git revision compared with")
    parser.add_argument("--framings", help="engines, seeds: comma-separated framings (default: all in params.yaml)")
    parser.add_argument(
        "--epochs-scale",
        type=float,
        default=1.0,
        help="engines: epochs x this (for a quick check; accuracy is then not judged)",
    )
    parser.add_argument("--seeds", default=",".join(map(str, DEFAULT_SEEDS)), help="seeds: the seeds")
    parser.add_argument(
        "--seeds-epochs-scale",
        type=float,
        default=0.1,
        help="seeds: epochs x this for both engines (the faithful one needs hours at full epochs)",
    )
    parser.add_argument("--jobs", type=int, default=2, help="seeds: trainings in this many processes")
    parser.add_argument("--sweep", default="one_char_budget", help="sweeps: the sweep of params.yaml to run")
    parser.add_argument("--out-dir", type=Path, default=PROJECT_ROOT / "benchmarks" / "results")
    parser.add_argument(
        "--readme",
        default=str(PROJECT_ROOT / "benchmarks" / "README.md"),
        help="the Markdown written from the results ('' for none)",
    )
    parser.add_argument("--keep-clones", action="store_true", help="keep the temporary clones")
    args = parser.parse_args(argv)
    args.parts = [part.strip() for part in args.parts.split(",") if part.strip()]
    unknown = sorted(set(args.parts) - set(PARTS))
    if unknown:
        parser.error(f"unknown part(s) {', '.join(unknown)}; parts are: {', '.join(PARTS)}")
    args.seeds = [int(seed) for seed in args.seeds.split(",")]
    return args


RUNNERS = {
    "study": part_study,
    "repro": part_repro,
    "engines": part_engines,
    "seeds": part_seeds,
    "sweeps": part_sweeps,
    "suite": part_suite,
}


def judge(part: str, result: dict, params: Params) -> list[dict]:
    if part == "engines":
        return judge_engines(result, params.report.tutorial_accuracy)
    judges = {
        "study": judge_study,
        "repro": judge_repro,
        "seeds": judge_seeds,
        "sweeps": judge_sweeps,
        "suite": judge_suite,
    }
    return judges[part](result)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    params = load_params(PROJECT_ROOT / "params.yaml")
    args.framings = args.framings.split(",") if args.framings else list(params.framings)
    for name in args.framings:
        params.framing(name)  # fails naming the defined framings
    args.out_dir.mkdir(parents=True, exist_ok=True)
    machine_text = machine()
    results: dict[str, dict] = {}
    failed_run = False
    for part in [part for part in PARTS if part in args.parts]:
        scratch = Path(tempfile.mkdtemp(prefix=f"alphabet-lstm-benchmark-{part}-"))
        log(f"part {part} (scratch {scratch})")
        try:
            result = RUNNERS[part](args, params, scratch, args.out_dir)
        finally:
            if not args.keep_clones:
                shutil.rmtree(scratch, ignore_errors=True)
        result["targets"] = judge(part, result, params)
        result["machine"] = machine_text
        results[part] = result
        failed_run |= result.get("failed", False)
        (args.out_dir / f"{part}.json").write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
        headers, rows = TABLES[part](result)
        print(
            f"\n{part}\n\n{text_table(headers, rows)}\n\n"
            f"{text_table(TARGET_HEADERS, target_rows(result['targets']))}\n",
            flush=True,
        )
    if args.readme:
        Path(args.readme).write_text(readme(saved_results(args.out_dir)))
        log(f"wrote {args.readme}")
    if any(t["status"] == "FAIL" for result in results.values() for t in result["targets"]):
        return 2
    return 1 if failed_run else 0


if __name__ == "__main__":
    sys.exit(main())
