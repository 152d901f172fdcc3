"""Sweeps: the params section, the Dask execution on real clusters, the DVC stages, MLflow.

The cluster tests start a real `dask scheduler` and `dask worker` processes on 127.0.0.1
(random ports through a scheduler file) and tear them down, process group and all.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import EVALUATE_ONE_CHAR, LOG_TEMPLATES, REPO_ROOT, VENV_BIN, make_clone, pipeline_env, run, stages_run
from mlflow.tracking import MlflowClient

from alphabet_lstm.formats import read_table as read_csv
from alphabet_lstm.params import SWEEP_ENGINE as ENGINE
from alphabet_lstm.params import ParamsError, Sweep, load_params, parse_params
from alphabet_lstm.report.sweep import answer, points_record, summarize_points
from alphabet_lstm.sweep import TrainingOutcome, run_tasks, run_training, sweep_tasks
from alphabet_lstm.sweep import sweep_results_csv as results_csv
from alphabet_lstm.sweep import sweep_timing_csv as timing_csv

REAL_PARAMS = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
# Small enough for a test, long enough (about 0.1-0.5 s a training) to kill a worker mid-sweep.
TINY_SWEEP = {
    "question": "Do more epochs help the one-letter framing?",
    "framing": "one_char",
    "grid": {"epochs": [300, 600], "units": [8, 16]},
    "seeds": [1, 2, 3],
}
# Long enough (a second or more a training) for a worker to be killed with work in hand.
KILLED_SWEEP = {**TINY_SWEEP, "grid": {"epochs": [1500, 3000], "units": [8, 16]}}


def params_with(sweeps: dict) -> dict:
    raw = copy.deepcopy(REAL_PARAMS)
    raw["sweeps"] = sweeps
    return raw


def load_sweep(params, name: str) -> Sweep:
    return Sweep.from_params(params, name)


def problems_of(raw: dict) -> list[str]:
    """The problems the validate stage reports for the params."""
    with pytest.raises(ParamsError) as caught:
        parse_params(raw)
    return caught.value.problems


# --- the params section ------------------------------------------------------------------


def test_shipped_sweep_expands_grid_point_by_grid_point_seeds_inside():
    sweep = load_sweep(load_params(REPO_ROOT / "params.yaml"), "one_char_budget")
    assert tuple(sweep.params.grid) == ("epochs", "units")
    assert [point.label for point in sweep.points[:4]] == [
        "epochs=500 units=32",
        "epochs=500 units=64",
        "epochs=500 units=128",
        "epochs=1000 units=32",
    ]
    assert len(sweep.points) == 9 and len(sweep_tasks(sweep)) == 9 * len(sweep.seeds)
    assert [(task.point.index, task.seed) for task in sweep_tasks(sweep)[:6]] == [
        (0, 7),
        (0, 8),
        (0, 9),
        (0, 10),
        (0, 11),
        (1, 7),
    ]
    base = load_params(REPO_ROOT / "params.yaml").framing("one_char")
    assert sweep.base_point().index == 0 and sweep.points[0].framing == base
    last = sweep.points[-1].framing
    assert (last.epochs, last.units) == (2000, 128)
    assert last.model_copy(update={"epochs": base.epochs, "units": base.units}) == base


def test_dataset_keys_are_grid_keys_with_a_dot():
    raw = params_with(
        {"windows": {**TINY_SWEEP, "framing": "window_timesteps", "grid": {"dataset.seq_length": [1, 2, 3]}}}
    )
    sweep = load_sweep(parse_params(raw), "windows")
    assert [point.framing.dataset.seq_length for point in sweep.points] == [1, 2, 3]
    assert [point.label for point in sweep.points] == [f"dataset.seq_length={n}" for n in (1, 2, 3)]


def test_training_keys_name_content_not_sweep():
    raw = params_with({"a": TINY_SWEEP, "b": {**TINY_SWEEP, "grid": {"units": [8], "epochs": [300]}}})
    params = parse_params(raw)
    first = {(t.point.framing, t.seed): t.key for t in sweep_tasks(load_sweep(params, "a"))}
    second = {(t.point.framing, t.seed): t.key for t in sweep_tasks(load_sweep(params, "b"))}
    shared = set(first) & set(second)
    assert shared and all(first[item] == second[item] for item in shared)
    assert len(set(first.values())) == len(first)


BAD_SWEEPS = {
    # A grid key is a key of every point's framing (or, with a dot, of its dataset).
    "unknown-grid-key": (
        {"grid": {"unit": [8]}},
        "sweeps.s.grid[unit=8].unit: unknown key (did you mean 'units'?); allowed keys: dataset, layout",
    ),
    "unknown-dataset-key": (
        {"grid": {"dataset.seq_lenth": [1]}},
        "sweeps.s.grid[dataset.seq_lenth=1].dataset.seq_lenth: unknown key (did you mean 'seq_length'?)",
    ),
    "empty-values": (
        {"grid": {"units": []}},
        "sweeps.s.grid.units: got []; List should have at least 1 item after validation, not 0",
    ),
    "not-a-list": ({"grid": {"units": 8}}, "sweeps.s.grid.units: got 8; Input should be a valid list"),
    "repeated-values": ({"grid": {"units": [8, 8]}}, "sweeps.s.grid.units: got [8, 8]; allowed: distinct values"),
    "wrong-type-value": (
        {"grid": {"units": [8, "16"]}},
        "sweeps.s.grid[units=16].units: got '16'; Input should be a valid integer",
    ),
    "out-of-range-value": (
        {"grid": {"dataset.seq_length": [1, 30]}},
        "sweeps.s.grid[dataset.seq_length=30].dataset.seq_length: got 30; Input should be less than or equal to 25",
    ),
    "near-miss-choice": (
        {"grid": {"layout": ["timesteps", "feature"]}},
        "sweeps.s.grid[layout=feature].layout: got feature; Input should be 'timesteps' or 'features' "
        "(did you mean 'features'?)",
    ),
    "nested-value": (
        {"grid": {"units": [[8]]}},
        "sweeps.s.grid[units=[8]].units: got [8]; Input should be a valid integer",
    ),
    "unknown-framing": (
        {"framing": "one_chr"},
        "sweeps.s.framing: got one_chr; no such framing (did you mean 'one_char'?); defined: one_char, ",
    ),
    "unknown-sweep-key": (
        {"seed": [1]},
        "sweeps.s.seed: unknown key (did you mean 'seeds'?); allowed keys: question, framing, grid, seeds",
    ),
    "repeated-seeds": ({"seeds": [1, 1]}, "sweeps.s.seeds: got [1, 1]; allowed: distinct seeds, but 1"),
    "negative-seed": ({"seeds": [-1]}, "sweeps.s.seeds[0]: got -1; Input should be greater than or equal to 0"),
    "empty-grid": ({"grid": {}}, "sweeps.s.grid: got {}; Dictionary should have at least 1 item"),
    "no-question": ({"question": None}, "sweeps.s.question: got null; Input should be a valid string"),
}


@pytest.mark.parametrize("case", list(BAD_SWEEPS), ids=list(BAD_SWEEPS))
def test_bad_sweep_names_key_path_value_and_what_is_allowed(case):
    change, expected = BAD_SWEEPS[case]
    problems = problems_of(params_with({"s": {**TINY_SWEEP, **change}}))
    assert len(problems) == 1, problems
    assert problems[0].startswith(expected), problems[0]


def test_missing_key_and_bad_names():
    spec = {key: value for key, value in TINY_SWEEP.items() if key != "question"}
    assert problems_of(params_with({"s": spec})) == ["sweeps.s.question: Field required"]
    assert problems_of(params_with({"Bad-Name": TINY_SWEEP}))[0].startswith(
        "sweeps.Bad-Name: sweep name 'Bad-Name' is not allowed"
    )
    assert problems_of(params_with([1])) == ["sweeps: got [1]; Input should be a valid dictionary"]


def test_every_grid_point_must_be_a_valid_framing_cross_keys_included():
    """A stateful batch size must divide the data: 7 does not divide 25, whatever the units."""
    stateful = {**TINY_SWEEP, "framing": "stateful", "grid": {"batch_size": [1, 5, 7], "units": [10, 20]}}
    problems = problems_of(params_with({"s": stateful}))
    assert problems == [
        "sweeps.s.grid[batch_size=7 units=10 and 1 more grid points].batch_size: got 7; allowed: a "
        "divisor of the data set's 25 patterns (1, 5, 25) or 'all', because a stateful framing "
        "continues each batch's state in the next"
    ]
    shuffled = {**TINY_SWEEP, "framing": "stateful", "grid": {"shuffle": [False, True]}}
    assert problems_of(params_with({"s": shuffled}))[0].startswith(
        "sweeps.s.grid[shuffle=true].shuffle: got true with stateful: true; allowed: false"
    )


def test_a_bad_base_framing_is_reported_once_under_framings():
    raw = params_with({"s": TINY_SWEEP})
    raw["framings"]["one_char"]["batch_size"] = 26
    assert [p.split(":")[0] for p in problems_of(raw)] == ["framings.one_char.batch_size"]


def test_unknown_sweep_name_lists_the_defined_ones():
    with pytest.raises(ParamsError, match=r"sweeps.one_char_budgt: no such sweep \(did you mean 'one_char_budget'\?\)"):
        load_sweep(load_params(REPO_ROOT / "params.yaml"), "one_char_budgt")


@pytest.mark.slow
def test_bad_sweep_fails_validate_and_sweep_stages_with_one_error_line_writing_nothing(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(params_with({"s": {**TINY_SWEEP, "grid": {"unit": [8]}}})))
    outputs = {name: tmp_path / name for name in ("validated.json", "datasets.json", "results.csv", "timing.csv")}
    commands = {
        "validate": ["--out", str(outputs["validated.json"]), "--datasets", str(outputs["datasets.json"])],
        "sweep_run": ["--sweep", "s", "--results", str(outputs["results.csv"]), "--timing", str(outputs["timing.csv"])],
    }
    for stage, arguments in commands.items():
        result = subprocess.run(
            [sys.executable, "-m", f"alphabet_lstm.stages.{stage}", "--params", str(params), *arguments],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 2, (stage, result.stderr)
        assert result.stderr == (
            f"error: {params}: sweeps.s.grid[unit=8].unit: unknown key (did you mean 'units'?); allowed keys: "
            "dataset, layout, stateful, batch_size, epochs, units, shuffle\n"
        ), stage
    assert not any(path.exists() for path in outputs.values())


# --- tables and the answer -------------------------------------------------------------


def _outcome(point: int, seed: int, accuracy: float, worker: str = "w") -> TrainingOutcome:
    return TrainingOutcome(
        key=f"k{point}-{seed}",
        point=point,
        seed=seed,
        accuracy=accuracy,
        loss=1.0,
        correct=0,
        patterns=25,
        data_md5="d",
        weights_md5=f"m{point}{seed}",
        seconds=0.5,
        worker=worker,
    )


def test_tables_sort_by_grid_point_then_seed_order_never_by_finishing_order():
    sweep = load_sweep(parse_params(params_with({"s": {**TINY_SWEEP, "seeds": [3, 1, 2]}})), "s")
    outcomes = [_outcome(p, s, 0.5) for p in range(4) for s in (3, 1, 2)]
    finishing = list(reversed(outcomes[::2])) + outcomes[1::2]
    assert results_csv(sweep, finishing) == results_csv(sweep, outcomes)
    lines = results_csv(sweep, finishing).splitlines()
    assert lines[0] == "point,epochs,units,seed,accuracy,loss,correct,patterns,data_md5,weights_md5"
    assert [line.split(",")[3] for line in lines[1:4]] == ["3", "1", "2"]
    assert lines[1].startswith("epochs=300 units=8,300,8,3,0.500000,")
    assert timing_csv(sweep, finishing).splitlines()[1] == "epochs=300 units=8,3,0.500,w"


def _summaries(accuracies: dict[int, list[float]]):
    sweep = load_sweep(parse_params(params_with({"s": {**TINY_SWEEP, "grid": {"epochs": [500, 1000, 2000]}}})), "s")
    outcomes = [
        _outcome(point, seed, value) for point, values in accuracies.items() for seed, value in zip(sweep.seeds, values)
    ]
    return sweep, summarize_points(pd.read_csv(io.StringIO(results_csv(sweep, outcomes))), sweep)


def test_answer_reads_the_numbers():
    sweep, summaries = _summaries({0: [0.8, 0.84, 0.8], 1: [0.92, 1.0, 0.96], 2: [1.0, 1.0, 1.0]})
    assert answer(sweep, summaries, tutorial_accuracy=0.84) == (
        "Mean accuracy over 3 seeds goes from 81.3% (sd 2.3%) at the base framing's own epochs=500 "
        "to 100.0% at epochs=2000, where all 3 seeds reach 100%: the tutorial's 84% is a limit of "
        "epochs=500, not of the framing."
    )
    sweep, summaries = _summaries({0: [0.8, 0.84, 0.8], 1: [0.92, 1.0, 0.96], 2: [0.96, 0.96, 1.0]})
    assert answer(sweep, summaries, tutorial_accuracy=None).endswith(
        "at epochs=2000, where 1 of 3 seeds reach 100%: setting epochs=2000 helps, but no grid point "
        "reaches 100% on every seed, so one_char's ceiling within this grid is 97.3%."
    )
    sweep, summaries = _summaries({0: [0.9, 0.9, 0.9], 1: [0.8, 0.8, 0.8], 2: [0.9, 0.9, 0.9]})
    assert answer(sweep, summaries, tutorial_accuracy=None).endswith(
        "so epochs do not limit one_char here: its ceiling within this grid is 90.0%."
    )


def test_summary_refuses_a_table_from_other_params():
    sweep, _ = _summaries({0: [1.0] * 3, 1: [1.0] * 3, 2: [1.0] * 3})
    with pytest.raises(
        ValueError, match=r"has no training of epochs=500 at seed\(s\) 2, 3: it was written for other params"
    ):
        summarize_points(pd.DataFrame([{"point": "epochs=500", "seed": 1, "accuracy": 1.0, "loss": 1.0}]), sweep)


# --- real Dask clusters ----------------------------------------------------------------


def _kill_group(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory):
    """A `dask scheduler` and two single-thread `dask worker` processes on 127.0.0.1, one
    cluster for the module's tests (the test that kills a worker comes last).

    Yields (address, {worker address: pid}); the finalizer kills each process group (the
    scheduler and workers start sessions of their own) and checks that none is left.
    """
    from distributed import Client

    tmp_path = tmp_path_factory.mktemp("dask")
    scheduler_file = tmp_path / "scheduler.json"
    processes: list[subprocess.Popen] = []
    logs = []

    def start(*args: str) -> None:
        log = open(tmp_path / f"dask-{len(processes)}.log", "w")  # noqa: SIM115 (closed after the processes end)
        logs.append(log)
        processes.append(
            subprocess.Popen(
                [str(VENV_BIN / "dask"), *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=pipeline_env({"DASK_SCHEDULER_ADDRESS": ""}),
            )
        )

    try:
        start(
            "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard", "--scheduler-file", str(scheduler_file)
        )
        deadline = time.monotonic() + 60
        while not scheduler_file.exists():
            assert time.monotonic() < deadline, (tmp_path / "dask-0.log").read_text()
            time.sleep(0.2)
        address = json.loads(scheduler_file.read_text())["address"]
        for name in ("worker-a", "worker-b"):
            start(
                "worker",
                address,
                "--name",
                name,
                "--nworkers",
                "1",
                "--nthreads",
                "1",
                "--no-nanny",
                "--no-dashboard",
                "--host",
                "127.0.0.1",
            )
        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
            pids = client.run(os.getpid)  # {worker address: its process id}
        yield address, pids
    finally:
        for process in reversed(processes):
            _kill_group(process)
        for log in logs:
            log.close()
        for process in processes:  # each started its own process group: none of it is left
            with pytest.raises(ProcessLookupError):
                os.killpg(process.pid, 0)


def _write_tiny_params(path: Path) -> Path:
    path.write_text(yaml.safe_dump(params_with({"tiny": TINY_SWEEP}), sort_keys=False))
    return path


def _run_stage(tmp_path: Path, name: str, extra_env: dict, *args: str) -> tuple[Path, Path]:
    params = tmp_path / "params.yaml"
    if not params.exists():
        _write_tiny_params(params)
    results, timing = tmp_path / f"{name}-results.csv", tmp_path / f"{name}-timing.csv"
    run(
        [
            sys.executable,
            "-m",
            "alphabet_lstm.stages.sweep_run",
            "--params",
            str(params),
            "--sweep",
            "tiny",
            "--results",
            str(results),
            "--timing",
            str(timing),
            *args,
        ],
        cwd=tmp_path,
        env=pipeline_env(extra_env),
        timeout=600,
    )
    return results, timing


@pytest.mark.slow
def test_two_worker_cluster_matches_local_cluster_byte_for_byte(dask_cluster, tmp_path):
    address, pids = dask_cluster
    on_cluster, cluster_timing = _run_stage(tmp_path, "cluster", {"DASK_SCHEDULER_ADDRESS": address})
    local, local_timing = _run_stage(tmp_path, "local", {"DASK_SCHEDULER_ADDRESS": ""}, "--workers", "2")
    assert on_cluster.read_bytes() == local.read_bytes()
    workers = {row["worker"] for row in read_csv(cluster_timing)}
    assert workers == set(pids), "both workers of the cluster ran trainings"
    assert not workers & {row["worker"] for row in read_csv(local_timing)}
    assert len(read_csv(on_cluster)) == 12 and all(float(row["seconds"]) > 0 for row in read_csv(cluster_timing))


def killed_sweep() -> Sweep:
    return load_sweep(parse_params(params_with({"tiny": KILLED_SWEEP})), "tiny")


def write_undisturbed_results(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    sweep = killed_sweep()
    (directory / "results.csv").write_text(results_csv(sweep, [run_training(task) for task in sweep_tasks(sweep)]))


@pytest.fixture(scope="session")
def undisturbed_killed_sweep(built_once) -> str:
    """KILLED_SWEEP's results table with every training called one by one in this process, no
    Dask at all: what a sweep that loses a worker must still write. Built once per run (its
    twelve trainings), for this module's and test_faults_dask's killed-worker tests."""
    return (built_once("undisturbed_killed_sweep", write_undisturbed_results) / "results.csv").read_text()


@pytest.mark.slow
def test_worker_killed_mid_sweep_loses_no_training(dask_cluster, undisturbed_killed_sweep, tmp_path):
    # Last of the cluster's tests: it leaves the cluster one worker short.
    from distributed import Client

    address, pids = dask_cluster
    sweep = killed_sweep()
    tasks = sweep_tasks(sweep)
    reference = undisturbed_killed_sweep
    victim = sorted(pids)[0]
    killed = {}

    with Client(address, timeout=60) as client:

        def kill_once(outcome, done, total):
            # After the first result, kill a worker while the scheduler has given it work.
            if killed or done < 1:
                return
            processing = client.processing()
            if not processing.get(victim):
                return
            os.kill(pids[victim], signal.SIGKILL)
            killed["with"] = list(processing[victim])

        outcomes = run_tasks(client, tasks, kill_once)
        survivors = set(client.scheduler_info(n_workers=-1)["workers"])
    assert killed, "the victim was never given a task while the sweep ran"
    assert survivors == set(pids) - {victim}
    assert len(outcomes) == len(tasks)
    assert results_csv(sweep, outcomes) == reference
    lost_keys = set(killed["with"])
    rerun = [o for o in outcomes if o.key in lost_keys]
    assert rerun and all(o.worker != victim for o in rerun), "the victim's tasks ran again elsewhere"


# --- the DVC stages end to end ---------------------------------------------------------


def _mlflow_runs(store: Path):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{store}")
    experiment = client.get_experiment_by_name("alphabet-lstm-sweeps")
    return client.search_runs([experiment.experiment_id], max_results=1000)


@pytest.mark.slow
@pytest.mark.e2e
def test_dvc_sweep_stages_end_to_end(tmp_path):
    # (The root pipeline, `make run`, leaves the sweeps alone: tests/test_pipeline.py.)
    root = make_clone(tmp_path / "repo")
    raw = yaml.safe_load((root / "params.yaml").read_text())
    raw["sweeps"] = {"tiny": {**TINY_SWEEP, "grid": {"epochs": [20, 40]}, "seeds": [1, 2]}}
    (root / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    env = pipeline_env({"DASK_SCHEDULER_ADDRESS": ""})

    # What `make sweep SWEEP=tiny` runs (make itself would build a venv in the clone). Of the
    # root pipeline it needs only the stages' code files and the validated params: no
    # framing is trained.
    sweep_command = ["dvc", "repro", "sweeps/dvc.yaml:sweep_log@tiny"]
    assert " ".join(sweep_command) in run(["make", "-n", "sweep", "SWEEP=tiny"], root, env).stdout
    first = run(sweep_command, root, env)
    assert stages_run(first.stdout) == [
        "code",
        "validate",
        "sweeps/dvc.yaml:sweep_run@tiny",
        "sweeps/dvc.yaml:sweep_report@tiny",
        "sweeps/dvc.yaml:sweep_log@tiny",
    ]
    assert "[tiny 4/4] epochs=" in first.stderr, "each training's seconds and worker are printed"
    out = root / "sweeps" / "tiny"
    rows = read_csv(out / "results.csv")
    assert [(row["point"], row["seed"]) for row in rows] == [
        ("epochs=20", "1"),
        ("epochs=20", "2"),
        ("epochs=40", "1"),
        ("epochs=40", "2"),
    ]
    metrics = json.loads(run(["dvc", "metrics", "show", "--json"], root, env).stdout)
    summary = next(v for k, v in metrics.items() if "data" in v)["data"]["sweeps/tiny/summary.json"]["data"]
    best = max(
        ("epochs=20", "epochs=40"),
        key=lambda point: (sum(float(row["accuracy"]) for row in rows if row["point"] == point), point == "epochs=20"),
    )
    assert summary["best"]["point"] == best and summary["trainings"] == 4
    report = (out / "report" / "report.md").read_text()
    assert "### Answer\n\nMean accuracy over 2 seeds" in report and "](figures/accuracy.png)" in report
    assert (out / "report" / "figures" / "accuracy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert 'src="data:image/png;base64,' in (out / "report" / "report.html").read_text()
    plots = run(["dvc", "plots", "show", "--json", "sweeps/tiny/results.csv"], root, env)
    assert "epochs=40" in plots.stdout
    # Tracked outputs: every deterministic one; the timing table is in neither git nor DVC.
    status = run(["git", "status", "--porcelain", "--untracked-files=all"], root, env).stdout
    for name in (
        "results.csv",
        "summary.json",
        "report/points.json",
        "report/report.md",
        "report/report.html",
        "report/figures/accuracy.png",
    ):
        assert f"sweeps/tiny/{name}" in status
    assert "timing.csv" not in status and (out / "timing.csv").is_file()

    runs = _mlflow_runs(root / "mlflow.db")
    parents = [r for r in runs if r.data.tags.get("run_kind") == "sweep"]
    children = [r for r in runs if r.data.tags.get("run_kind") == "training"]
    assert len(parents) == 1 and len(children) == 4
    assert {r.data.tags["mlflow.parentRunId"] for r in children} == {parents[0].info.run_id}
    assert all(r.info.status == "FINISHED" for r in runs)
    assert all(float(r.data.metrics["train_seconds"]) > 0 and r.data.tags["worker"] != "unknown" for r in children)
    artifacts = {
        item.path
        for item in MlflowClient(f"sqlite:///{root / 'mlflow.db'}").list_artifacts(parents[0].info.run_id, "report")
    }
    assert {"report/report.md", "report/report.html", "report/figures"} <= artifacts

    run(["git", "add", "-A"], root, env)
    run(["git", "commit", "-qm", "tiny sweep"], root, env)
    second = run(sweep_command, root, env)
    assert "Stage 'sweeps/dvc.yaml:sweep_run@tiny' didn't change, skipping" in second.stdout
    assert len(_mlflow_runs(root / "mlflow.db")) == 5
    # Forced again: the same bytes, and the store already holds every run. Only these three
    # stages (-s): forced without it, DVC reruns the root pipeline's code and validate too.
    third = run(
        [
            "dvc",
            "repro",
            "-f",
            "-s",
            "sweeps/dvc.yaml:sweep_run@tiny",
            "sweeps/dvc.yaml:sweep_report@tiny",
            "sweeps/dvc.yaml:sweep_log@tiny",
        ],
        root,
        env,
    )
    assert stages_run(third.stdout) == [
        f"sweeps/dvc.yaml:{stage}@tiny" for stage in ("sweep_run", "sweep_report", "sweep_log")
    ]
    assert "0 training runs added, 4 already there" in third.stderr or "already logged" in third.stderr
    assert run(["git", "status", "--porcelain"], root, env).stdout == "", "an unchanged sweep rewrites nothing"
    assert "Data and pipelines are up to date" in run(["dvc", "status", "sweeps/dvc.yaml"], root, env).stdout
    assert len(_mlflow_runs(root / "mlflow.db")) == 5


def _log(sweep: Sweep, results: Path, store: Path, report_dir: Path):
    from alphabet_lstm.tracking import SWEEPS_EXPERIMENT_NAME
    from alphabet_lstm.tracking import store as mlflow_store
    from alphabet_lstm.tracking.records import sweep_records

    summary = points_record(sweep, summarize_points(pd.read_csv(results), sweep), "the answer")
    parent, children = sweep_records(
        sweep, read_csv(results), summary, engine=ENGINE, results_md5="r", timing={}, git_commit="c"
    )
    store = mlflow_store.open_store(f"sqlite:///{store}", SWEEPS_EXPERIMENT_NAME)
    return mlflow_store.log_summary(store, parent, report_dir=report_dir, children=children)


@pytest.mark.slow
def test_logging_a_sweep_twice_adds_nothing_and_a_failed_logging_ends_failed(tmp_path):
    sweep = load_sweep(
        parse_params(params_with({"s": {**TINY_SWEEP, "grid": {"epochs": [500, 1000]}, "seeds": [1, 2]}})), "s"
    )
    outcomes = [_outcome(point, seed, 0.5 + point / 10) for point in range(2) for seed in (1, 2)]
    (tmp_path / "results.csv").write_text(results_csv(sweep, outcomes))
    rows = tmp_path / "results.csv"
    store = tmp_path / "mlflow.db"
    report = tmp_path / "report"
    report.mkdir()
    (report / "report.md").write_text("# the page\n")

    # A report file that cannot be read fails the logging after the children were written.
    broken = tmp_path / "broken-report"
    broken.mkdir()
    (broken / "figure.png").symlink_to(tmp_path / "nowhere.png")
    with pytest.raises(OSError):
        _log(sweep, rows, store, broken)
    runs = _mlflow_runs(store)
    [failed] = [r for r in runs if r.data.tags.get("run_kind") == "sweep"]
    assert failed.info.status == "FAILED" and len(runs) == 5

    first, created = _log(sweep, rows, store, report)
    assert first.created and first.run_id != failed.info.run_id
    # The trainings were logged by the failed attempt already: found by key, not repeated.
    assert created == 0 and len(_mlflow_runs(store)) == 6
    child = next(r for r in _mlflow_runs(store) if r.data.tags.get("run_kind") == "training")
    assert child.data.params["epochs"] in ("500", "1000") and child.data.params["sweep"] == "s"
    assert {r.info.status for r in _mlflow_runs(store)} == {"FINISHED", "FAILED"}

    again, created = _log(sweep, rows, store, report)
    assert (again.run_id, again.created, created) == (first.run_id, False, 0)
    assert len(_mlflow_runs(store)) == 6


@pytest.mark.slow
def test_a_sweep_training_has_the_key_the_pipeline_gives_the_same_training(tmp_path):
    """The shipped sweep's grid point epochs=500 units=32 is the framing one_char: at seed 7
    the sweep's child run and the pipeline's training run name it by one key."""
    from alphabet_lstm.stages import encode, evaluate, generate, train
    from alphabet_lstm.tracking.records import read_training, sweep_records

    params = load_params(REPO_ROOT / "params.yaml")
    sweep = load_sweep(params, "one_char_budget")
    point = sweep.base_point()
    assert point is not None and point.label == "epochs=500 units=32"
    [task] = [task for task in sweep_tasks(sweep) if task.point == point and task.seed == 7]
    outcome = run_training(task)
    table = results_csv(sweep, [outcome])
    # The summary of the one grid point and seed the table holds.
    one_training = dataclasses.replace(sweep, params=sweep.params.model_copy(update={"seeds": [7]}), points=(point,))
    summary = points_record(one_training, summarize_points(pd.read_csv(io.StringIO(table)), one_training), "")
    _, [child] = sweep_records(
        sweep, read_csv_text(table), summary, engine=ENGINE, results_md5="r", timing={}, git_commit="c"
    )

    # The pipeline's stages, as dvc.yaml runs them, for one_char at seed 7.
    (tmp_path / "params.yaml").write_text((REPO_ROOT / "params.yaml").read_text())
    with contextlib.chdir(tmp_path):
        generate.main(["--out-dir", "data/patterns"])
        encode.main(["--patterns", "data/patterns", "--out-dir", "data/encoded"])
        train.main(
            [
                "--framing",
                "one_char",
                "--encoded",
                "data/encoded/one_char.npz",
                "--models",
                "models/one_char",
                "--history",
                "metrics/history/one_char",
            ]
        )
        evaluate.main(EVALUATE_ONE_CHAR)
    pipeline = read_training(
        LOG_TEMPLATES, params, "one_char", 7, root=tmp_path, git_commit="c", dvc_exp_name="workspace"
    )
    assert pipeline.key == child.key and pipeline.data_md5 == child.data_md5
    assert float(child.metrics["evaluation/accuracy"]) == pipeline.metrics["evaluation/accuracy"]


def read_csv_text(text: str) -> list[dict]:
    import csv
    import io

    return list(csv.DictReader(io.StringIO(text)))
