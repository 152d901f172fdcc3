"""The real pipeline end to end, in temporary clones, on the small-epoch profile."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
import yaml

from conftest import SMALL_EPOCHS, make_clone, run

pytestmark = pytest.mark.e2e

FRAMINGS = list(yaml.safe_load((Path(__file__).parents[1] / "params.yaml").read_text())["framings"])


def stages_run(output: str) -> list[str]:
    """Names of the stages a `dvc repro` output says it ran."""
    return re.findall(r"Running stage '([^']+)'", output)


def mlflow_client(root: Path):
    from mlflow.tracking import MlflowClient

    return MlflowClient(f"sqlite:///{root / 'mlflow.db'}")


def test_repro_writes_every_output(reproduced_clone: Path):
    for framing in FRAMINGS:
        name = f"{framing}-seed7"
        assert (reproduced_clone / "models" / f"{name}.npz").is_file()
        metrics = json.loads((reproduced_clone / "metrics" / "evaluation" / f"{name}.json").read_text())
        assert 0.0 <= metrics["accuracy"] <= 1.0
        history = list(csv.DictReader((reproduced_clone / "metrics" / "history" / f"{name}.csv").open()))
        assert [int(row["epoch"]) for row in history] == list(range(1, SMALL_EPOCHS + 1))
        table = list(csv.DictReader((reproduced_clone / "metrics" / "predictions" / f"{name}.csv").open()))
        assert sum(row["correct"] == "True" for row in table) == metrics["correct"]
    assert (reproduced_clone / "reports" / "report.md").is_file()
    assert (reproduced_clone / "reports" / "report.html").is_file()
    assert json.loads((reproduced_clone / "metrics" / "summary.json").read_text())


def test_second_repro_runs_nothing(reproduced_clone: Path):
    result = run(["dvc", "repro"], reproduced_clone)
    assert stages_run(result.stdout) == []
    assert "Data and pipelines are up to date" in result.stdout


def test_stateful_chain_recorded(reproduced_clone: Path):
    details = json.loads((reproduced_clone / "metrics" / "details" / "stateful-seed7.json").read_text())
    assert details["chain_from_A"][0] == "A" and len(details["chain_from_A"]) == 26
    assert [row["start"] for row in details["cold_starts"]] == list("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    assert len(details["warm_starts"]) == 26


def test_mlflow_holds_one_run_per_framing(reproduced_clone: Path, tmp_path: Path):
    client = mlflow_client(reproduced_clone)
    experiment = client.get_experiment_by_name("alphabet-lstm")
    runs = client.search_runs([experiment.experiment_id])
    assert sorted(run.data.tags["framing"] for run in runs) == sorted(FRAMINGS)
    for tracked in runs:
        framing = tracked.data.tags["framing"]
        evaluation = json.loads(
            (reproduced_clone / "metrics" / "evaluation" / f"{framing}-seed7.json").read_text()
        )
        assert tracked.info.status == "FINISHED"
        assert tracked.data.metrics["accuracy"] == pytest.approx(evaluation["accuracy"])
        assert tracked.data.params["epochs"] == str(SMALL_EPOCHS)
        assert tracked.data.tags["seed"] == "7"
        history = client.get_metric_history(tracked.info.run_id, "epoch_loss")
        assert [point.step for point in history] == list(range(1, SMALL_EPOCHS + 1))
        artifacts = {artifact.path for artifact in client.list_artifacts(tracked.info.run_id)}
        assert {"predictions.json", "model"} <= artifacts
        downloaded = client.download_artifacts(tracked.info.run_id, "predictions.json", str(tmp_path))
        table = json.loads(Path(downloaded).read_text())
        assert table["columns"] == ["input", "expected", "predicted", "probability", "correct"]
        assert sum(row[4] for row in table["data"]) == evaluation["correct"]
        run_info = json.loads((reproduced_clone / "models" / f"{framing}-seed7.run.json").read_text())
        assert run_info["run_id"] == tracked.info.run_id


def test_dvc_metrics_and_plots_commands(reproduced_clone: Path):
    shown = json.loads(run(["dvc", "metrics", "show", "--json"], reproduced_clone).stdout)
    # Keyed by revision; the workspace's key is "" (or "workspace" in some DVC versions).
    files = next(iter(shown.values()))["data"]
    assert "metrics/evaluation/stateful-seed7.json" in files
    plots = json.loads(run(["dvc", "plots", "show", "--json"], reproduced_clone).stdout)
    assert not plots.get("errors")
    assert "metrics/history/one_char-seed7.csv" in plots["data"]
    experiments = json.loads(run(["dvc", "exp", "show", "--json"], reproduced_clone).stdout)
    assert experiments


@pytest.fixture(scope="module")
def changed_clone(tmp_path_factory) -> tuple[Path, str, dict]:
    """A second clone, reproduced, then with one framing's batch size changed and rerun."""
    root = make_clone(tmp_path_factory.mktemp("changed") / "repo")
    run(["dvc", "repro"], root)
    snapshot = {
        path.relative_to(root): path.read_bytes() for path in (root / "metrics").rglob("*") if path.is_file()
    }
    params = yaml.safe_load((root / "params.yaml").read_text())
    assert params["framings"]["stateful"]["batch_size"] == 1
    result = run(["dvc", "exp", "run", "-S", "framings.stateful.batch_size=5"], root)
    return root, result.stdout, snapshot


def test_two_runs_are_byte_identical(reproduced_clone: Path, changed_clone):
    """Determinism: the same params give the same metrics and tables, byte for byte."""
    _, _, first_run_of_second_clone = changed_clone
    for relative, content in first_run_of_second_clone.items():
        twin = reproduced_clone / relative
        assert twin.read_bytes() == content, f"{relative} differs between two identical runs"
    assert len(first_run_of_second_clone) >= 4 * len(FRAMINGS)


def test_changing_one_batch_size_reruns_only_that_framing(changed_clone):
    root, output, _ = changed_clone
    assert sorted(stages_run(output)) == ["evaluate@stateful-7", "report", "train@stateful-7"]
    params = yaml.safe_load((root / "params.yaml").read_text())
    assert params["framings"]["stateful"]["batch_size"] == 5
    assert json.loads(run(["dvc", "status", "--json"], root).stdout) == {}
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
