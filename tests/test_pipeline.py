"""The real pipeline end to end, in temporary clones, on the small-epoch profile."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
import yaml
from conftest import SMALL_EPOCHS, copy_with_store, pipeline_env, run, stages_run

pytestmark = pytest.mark.e2e

FRAMINGS = list(yaml.safe_load((Path(__file__).parents[1] / "params.yaml").read_text())["framings"])


def test_repro_writes_every_output(reproduced_clone: Path):
    for framing in FRAMINGS:
        assert (reproduced_clone / "models" / framing / "seed7.npz").is_file()
        metrics = json.loads((reproduced_clone / "metrics" / "evaluation" / framing / "seed7.json").read_text())
        assert 0.0 <= metrics["accuracy"] <= 1.0
        history = list(csv.DictReader((reproduced_clone / "metrics" / "history" / framing / "seed7.csv").open()))
        assert [int(row["epoch"]) for row in history] == list(range(1, SMALL_EPOCHS + 1))
        table = list(csv.DictReader((reproduced_clone / "metrics" / "predictions" / framing / "seed7.csv").open()))
        assert sum(row["correct"] == "True" for row in table) == metrics["correct"]
    assert (reproduced_clone / "reports" / "report.md").is_file()
    assert (reproduced_clone / "reports" / "report.html").is_file()
    assert json.loads((reproduced_clone / "metrics" / "summary.json").read_text())
    # The sweeps have a pipeline of their own (make sweep): the shipped one did not run.
    assert "one_char_budget" in yaml.safe_load((reproduced_clone / "params.yaml").read_text())["sweeps"]
    assert not (reproduced_clone / "sweeps" / "one_char_budget" / "timing.csv").exists()


def test_second_repro_runs_nothing(reproduced_clone: Path):
    result = run(["dvc", "repro"], reproduced_clone)
    assert stages_run(result.stdout) == []
    assert "Data and pipelines are up to date" in result.stdout


def test_stateful_chain_recorded(reproduced_clone: Path):
    details = json.loads((reproduced_clone / "metrics" / "details" / "stateful" / "seed7.json").read_text())
    assert details["chain_from_A"][0] == "A" and len(details["chain_from_A"]) == 26
    assert [row["start"] for row in details["cold_starts"]] == list("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    assert len(details["warm_starts"]) == 26


def test_dvc_metrics_and_plots_commands(reproduced_clone: Path):
    shown = json.loads(run(["dvc", "metrics", "show", "--json"], reproduced_clone).stdout)
    # Keyed by revision; the workspace's key is "" (or "workspace" in some DVC versions).
    files = next(iter(shown.values()))["data"]
    # The study's one metrics file; the sweeps' pipeline (sweeps/dvc.yaml) adds its own.
    assert [name for name in files if not name.startswith("sweeps/")] == ["metrics/summary.json"]
    plots = json.loads(run(["dvc", "plots", "show", "--json"], reproduced_clone).stdout)
    assert not plots.get("errors")
    assert "metrics/predictions/one_char/seed7.csv" in plots["data"]
    for view in ("Accuracy during training", "Loss during training", "Accuracy per seed"):
        values = plots["data"][view][0]["content"]["data"]["values"]
        assert sorted({row["framing"] for row in values}) == sorted(FRAMINGS), view
    # (`dvc exp show --json`, and the experiment it lists: test_changing_one_batch_size_reruns_only_that_framing.)


# The per-framing folders under metrics/ that evaluate and train write.
METRIC_KINDS = ("history", "evaluation", "details", "predictions", "probabilities")


def test_an_independent_run_writes_the_same_bytes(reproduced_clone: Path, team_reproduced: Path):
    """Determinism end to end: another clone, run on its own (the team clone: its own git
    repository, DVC cache and processes, cut to a stateless and a stateful framing), wrote the
    same data, models and per-framing tables byte for byte."""
    framings = ("one_char", "stateful")
    assert sorted(yaml.safe_load((team_reproduced / "params.yaml").read_text())["framings"]) == sorted(framings)
    compared = 0
    for name in framings:
        folders = [Path("models") / name] + [Path("metrics") / kind / name for kind in METRIC_KINDS]
        files = [Path("data") / "patterns" / f"{name}.json", Path("data") / "encoded" / f"{name}.npz"]
        for folder in folders:
            assert sorted(path.name for path in (team_reproduced / folder).iterdir()) == sorted(
                path.name for path in (reproduced_clone / folder).iterdir()
            ), folder
            files += [folder / path.name for path in (team_reproduced / folder).iterdir()]
        for relative in files:
            assert (team_reproduced / relative).read_bytes() == (reproduced_clone / relative).read_bytes(), relative
            compared += 1
    assert compared >= 2 * (len(METRIC_KINDS) + 3)


@pytest.fixture(scope="module")
def changed_clone(reproduced_clone: Path, tmp_path_factory) -> tuple[Path, str]:
    """A copy of the reproduced clone with its results committed, as a user commits them
    before trying an experiment, then one framing's batch size changed (`dvc exp run`)."""
    # The baseline logged, in a store of its own: the shared clone's, moved to the copy. (That
    # a `dvc repro` there runs nothing: test_second_repro_runs_nothing.)
    root = copy_with_store(reproduced_clone, tmp_path_factory.mktemp("changed") / "repo")
    run(["git", "add", "-A"], root)
    run(["git", "commit", "-q", "-m", "Baseline results"], root)
    params = yaml.safe_load((root / "params.yaml").read_text())
    assert params["framings"]["stateful"]["batch_size"] == 1
    result = run(["dvc", "exp", "run", "-S", "framings.stateful.batch_size=5"], root)
    return root, result.stdout


def test_changing_one_batch_size_reruns_only_that_framing(changed_clone):
    root, output = changed_clone
    # generate and encode depend on each framing's dataset (and layout), not its batch size:
    # neither reruns, and of the per-framing stages only stateful's.
    assert sorted(stages_run(output)) == ["evaluate@stateful", "log", "report", "train@stateful", "validate"]
    params = yaml.safe_load((root / "params.yaml").read_text())
    assert params["framings"]["stateful"]["batch_size"] == 5
    assert json.loads(run(["dvc", "status", "--json", "dvc.yaml"], root).stdout) == {}
    shown = json.dumps(json.loads(run(["dvc", "exp", "show", "--json"], root).stdout))
    assert '"batch_size": 5' in shown


def test_generate_encode_and_evaluate_import_no_tensorflow():
    """Stages that do not train stay numpy-only: importing TensorFlow costs ~10 s here."""
    import subprocess
    import sys

    probe = (
        "import sys, alphabet_lstm.stages.generate, alphabet_lstm.stages.encode, "
        "alphabet_lstm.stages.evaluate; "
        "print(sorted(m for m in ('tensorflow', 'keras', 'mlflow', 'numba') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def output_snapshot(root: Path) -> dict[str, bytes]:
    """Every file a stage writes, and dvc.lock, by path."""
    files = [root / "dvc.lock"] + [
        path for folder in ("data", "models", "metrics", "reports") for path in (root / folder).rglob("*")
    ]
    return {str(path.relative_to(root)): path.read_bytes() for path in files if path.is_file()}


# The README's command for comparing experiments: DVC prints a hash column per changed
# dependency; dropping them leaves the results and params that changed.
EXP_SHOW_COMPARE = [
    "dvc",
    "exp",
    "show",
    "--only-changed",
    "--drop",
    r"Created|^(data|metrics|models|reports)\b",
    "--no-pager",
]


def test_baseline_and_one_experiment_fit_in_120_columns(changed_clone):
    root, _ = changed_clone
    # A terminal wide enough that DVC never squeezes the table: its natural width is measured.
    shown = run(EXP_SHOW_COMPARE, root, env=pipeline_env({"COLUMNS": "1000"})).stdout
    lines = [line.rstrip() for line in shown.splitlines() if line.strip()]
    assert "framings.stateful.batch_size" in shown
    assert max(len(line) for line in lines) <= 120, shown


# --- MLflow: the log stage mirrors what DVC recorded ------------------------------------------


def mlflow_runs(root: Path) -> list:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("alphabet-lstm")
    return client.search_runs([experiment.experiment_id], max_results=1000)


def test_summary_run_holds_the_report_with_the_state_figures(reproduced_clone: Path):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{reproduced_clone / 'mlflow.db'}")
    summary = next(tracked for tracked in mlflow_runs(reproduced_clone) if tracked.data.tags["run_kind"] == "summary")
    figures = {artifact.path for artifact in client.list_artifacts(summary.info.run_id, "report/figures")}
    assert {"report/figures/state-stateful.png", "report/figures/state-padding.png"} <= figures
    files = {artifact.path for artifact in client.list_artifacts(summary.info.run_id, "report")}
    assert {"report/report.md", "report/state.json"} <= files


def test_mlflow_holds_each_training_once_also_after_a_forced_log(reproduced_clone: Path):
    runs = mlflow_runs(reproduced_clone)
    kinds = sorted(tracked.data.tags["run_kind"] for tracked in runs)
    assert kinds == ["summary"] + ["training"] * len(FRAMINGS)
    assert all(tracked.info.status == "FINISHED" for tracked in runs)
    forced = run(["dvc", "repro", "-f", "-s", "log"], reproduced_clone)
    assert stages_run(forced.stdout) == ["log"]
    assert sorted(tracked.info.run_id for tracked in mlflow_runs(reproduced_clone)) == sorted(
        tracked.info.run_id for tracked in runs
    )
    # Its output is the clone's own (git-ignored): a fresh clone logs to its own store.
    ignored = run(["git", "check-ignore", "mlflow-logged.json"], reproduced_clone)
    assert ignored.stdout.strip() == "mlflow-logged.json"


def test_shared_outputs_hold_no_machine_specific_path(reproduced_clone: Path):
    import zipfile

    checked = 0
    for folder in ("models", "metrics", "reports"):
        for path in (reproduced_clone / folder).rglob("*"):
            if not path.is_file():
                continue
            if path.suffix == ".npz":
                with zipfile.ZipFile(path) as archive:
                    content = archive.read("metadata.json")
            else:
                content = path.read_bytes()
            assert str(reproduced_clone).encode() not in content, path
            assert b"sqlite:" not in content and b"file://" not in content, path
            checked += 1
    assert checked >= 5 * len(FRAMINGS)


def test_two_dvc_experiments_compare_side_by_side_in_mlflow(changed_clone):
    root, _ = changed_clone
    runs = mlflow_runs(root)
    summaries = {
        tracked.data.tags["dvc_exp_name"]: tracked for tracked in runs if tracked.data.tags["run_kind"] == "summary"
    }
    assert len(summaries) == 2 and "workspace" in summaries
    [experiment] = set(summaries) - {"workspace"}
    assert experiment in run(["dvc", "exp", "list", "--name-only"], root).stdout.split()
    baseline, changed = summaries["workspace"], summaries[experiment]
    assert (baseline.data.params["stateful.batch_size"], changed.data.params["stateful.batch_size"]) == ("1", "5")
    for framing in FRAMINGS:
        link = f"training.{framing}.seed7"
        # Every framing on both sides, also those the experiment did not retrain (same run).
        assert f"{framing}/accuracy" in baseline.data.metrics and f"{framing}/accuracy" in changed.data.metrics
        assert (changed.data.tags[link] != baseline.data.tags[link]) == (framing == "stateful"), framing
    assert sum(tracked.data.tags["run_kind"] == "training" for tracked in runs) == len(FRAMINGS) + 1


# --- Tests that change the changed clone (they restore it): last in the module --------------


def edited_params(text: str, edit) -> str:
    """params.yaml text after ``edit`` changed its parsed values (comments are not kept)."""
    values = yaml.safe_load(text)
    edit(values)
    return yaml.safe_dump(values, sort_keys=False)


def rename_units(values):
    values["framings"]["one_char"]["unitz"] = values["framings"]["one_char"].pop("units")


# A mistake in one key and one across keys (the changed clone's stateful batch size is 5;
# 4 does not divide its 25 patterns). Every kind of mistake and its message: test_params.py.
BAD_PARAMS = [
    pytest.param(rename_units, id="misspelt-key"),
    pytest.param(
        lambda values: values["framings"]["stateful"].update(batch_size=4), id="stateful-batch-not-dividing-the-data"
    ),
]


@pytest.mark.parametrize("edit", BAD_PARAMS)
def test_bad_params_leave_every_output_byte_identical(changed_clone, edit):
    """Params are checked by the first stage, before DVC removes any stage's outputs."""
    root, _ = changed_clone
    params = root / "params.yaml"
    original = params.read_text()
    before = output_snapshot(root)
    params.write_text(edited_params(original, edit))
    try:
        result = run(["dvc", "repro"], root, check=False)
    finally:
        params.write_text(original)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "error: params.yaml: " in output and "Traceback" not in output
    assert stages_run(result.stdout) == ["validate"]
    assert output_snapshot(root) == before


def test_a_named_experiment_that_changes_nothing_gets_its_summary_run_when_asked(changed_clone):
    """DVC runs no stage for an experiment that changes nothing, so no summary run is written
    for it; docs/mlflow.md's `dvc exp run -n NAME -f -s log` writes one, tagged with NAME."""
    root, _ = changed_clone

    def summaries() -> set[str]:
        return {
            tracked.data.tags["dvc_exp_name"]
            for tracked in mlflow_runs(root)
            if tracked.data.tags["run_kind"] == "summary"
        }

    before = summaries()
    assert stages_run(run(["dvc", "exp", "run", "-n", "unchanged"], root).stdout) == []
    assert summaries() == before
    forced = run(["dvc", "exp", "run", "-n", "unchanged-logged", "-f", "-s", "log"], root)
    assert stages_run(forced.stdout) == ["log"]
    assert summaries() == before | {"unchanged-logged"}


def test_adding_a_seed_trains_only_that_seed(changed_clone):
    # Last in the module: it leaves seed 8 trained. Two framings, a stateless and a stateful
    # one, stand for all (every framing runs the same train stage). (Removing a seed removes
    # its files: tests/test_train_stage.py.)
    root, _ = changed_clone
    framings = ("one_char", "stateful")
    before = {path: path.read_bytes() for path in (root / "models").rglob("seed7.npz")}
    params = root / "params.yaml"
    params.write_text(edited_params(params.read_text(), lambda values: values.update(seeds=[7, 8])))
    result = run(["dvc", "repro", *(f"evaluate@{name}" for name in framings)], root)
    assert sorted(name for name in stages_run(result.stdout) if name.startswith("train@")) == [
        f"train@{name}" for name in framings
    ]
    assert result.stderr.count("seed(s) already trained with these params and code: kept") == len(framings)
    assert sorted(re.findall(r"\[(\w+) seed (\d+)\] trained in", result.stderr)) == [(name, "8") for name in framings]
    assert {path: path.read_bytes() for path in (root / "models").rglob("seed7.npz")} == before
    for name in framings:
        assert sorted(path.name for path in (root / "models" / name).iterdir()) == ["seed7.npz", "seed8.npz"]
        assert (root / "metrics" / "evaluation" / name / "seed8.json").is_file()
