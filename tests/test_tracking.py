"""MLflow mirroring of trainings, against a real SQLite store and the real MLflow model
loader and server, on outputs made by the real generate, encode, train and evaluate stages.

One module-scoped workspace holds three framings (one_char and variable_length on the
small-epoch profile, stateful at the tutorial's 300 epochs so that it recites the alphabet)
and one store into which they are logged once; tests that need a store of their own say so.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import LOG_TEMPLATES, REPO_ROOT, SMALL_EPOCHS, VENV_BIN, alphabet_lstm, in_this_process, spec_for
from mlflow.exceptions import MlflowException

from alphabet_lstm import tracking
from alphabet_lstm.alphabet import ALPHABET
from alphabet_lstm.artifacts import main_checkout_root
from alphabet_lstm.params import load_params
from alphabet_lstm.stages import encode, evaluate, generate, train
from alphabet_lstm.tracking import records

FRAMINGS = ("one_char", "stateful", "variable_length")
SEED = 7
# The tutorial's epochs for stateful: enough to recite A..Z from the registry.
STATEFUL_EPOCHS = 300
LOG_ARGS = [arg for name, template in LOG_TEMPLATES.items() for arg in (f"--{name}", template)]


def produce_outputs(root: Path, framings=FRAMINGS) -> None:
    """The stage outputs of ``framings``, written by the stages' own entry points."""
    params = ["--params", str(root / "params.yaml")]
    generate.main([*params, "--out-dir", "data/patterns"])
    encode.main([*params, "--patterns", "data/patterns", "--out-dir", "data/encoded"])
    for name in framings:
        for main, argv in (
            (
                train.main,
                [
                    "--framing",
                    name,
                    "--encoded",
                    f"data/encoded/{name}.npz",
                    "--models",
                    f"models/{name}",
                    "--history",
                    f"metrics/history/{name}",
                ],
            ),
            (
                evaluate.main,
                [
                    "--models",
                    f"models/{name}",
                    "--encoded",
                    f"data/encoded/{name}.npz",
                    "--patterns",
                    f"data/patterns/{name}.json",
                    "--metrics",
                    f"metrics/evaluation/{name}",
                    "--predictions",
                    f"metrics/predictions/{name}",
                    "--details",
                    f"metrics/details/{name}",
                    "--probabilities",
                    f"metrics/probabilities/{name}",
                ],
            ),
        ):
            main([*params, *argv] if main is train.main else argv)


def write_params(root: Path, framings=FRAMINGS, **overrides) -> None:
    params = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    params["seeds"] = [SEED]
    params["framings"] = {name: params["framings"][name] for name in framings}
    for name, framing in params["framings"].items():
        framing["epochs"] = STATEFUL_EPOCHS if name == "stateful" else SMALL_EPOCHS
        framing.update(overrides.get(name, {}))
    params["report"]["tutorial_accuracy"] = {}
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tracking") / "repo"
    root.mkdir()
    write_params(root)
    previous = Path.cwd()
    os.chdir(root)
    try:
        produce_outputs(root)
    finally:
        os.chdir(previous)
    return root


def read_records(root: Path, exp_name: str = "workspace") -> list[records.TrainingRecord]:
    params = load_params(root / "params.yaml")
    return [
        records.read_training(LOG_TEMPLATES, params, name, seed, root=root, git_commit="0" * 40, dvc_exp_name=exp_name)
        for name in params.framings
        for seed in params.seeds
    ]


def stage_env(env: dict | None = None) -> dict:
    """This environment with the venv first on PATH, without a store or experiment of its own."""
    environment = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"}
    environment.pop("MLFLOW_TRACKING_URI", None)
    environment.pop("DVC_EXP_NAME", None)
    return {**environment, **(env or {})}


def run_log_stage(root: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """The log stage as DVC runs it: its own process, in the checkout, logging to the store
    its params.yaml names (tracking.uri)."""
    environment = stage_env(env)
    return subprocess.run(
        [sys.executable, "-m", "alphabet_lstm.stages.log", *LOG_ARGS, "--out", "mlflow-logged.json"],
        cwd=root,
        env=environment,
        capture_output=True,
        text=True,
        timeout=900,
    )


def log_in_this_process(root: Path, env: dict | None = None, ledger: str | None = None) -> subprocess.CompletedProcess:
    """The log stage's entry point run in this process, where MLflow is already imported (a
    process of its own costs four seconds, most of them MLflow's import), in the checkout and
    the environment ``run_log_stage`` gives it, keeping its ledger at ``ledger`` if given. The
    ``logged`` fixture runs the stage as DVC does, in its own process; the later logs into its
    store run here."""
    from alphabet_lstm.errors import run_entry_point
    from alphabet_lstm.stages import log

    arguments = [*LOG_ARGS, "--out", "mlflow-logged.json", *(["--ledger", ledger] if ledger else [])]
    environment = stage_env(env)
    with pytest.MonkeyPatch.context() as patch:
        for name in set(os.environ) - set(environment):
            patch.delenv(name)
        for name, value in environment.items():
            patch.setenv(name, value)
        return in_this_process(
            ["alphabet_lstm.stages.log", *arguments], lambda: run_entry_point(log.main, arguments), root
        )


@pytest.fixture(scope="module")
def logged(workspace: Path) -> dict:
    """The workspace logged once by the log stage into its own store: tracking.uri's
    default, mlflow.db at the root of the checkout (here a folder that is no DVC checkout)."""
    uri = f"sqlite:///{workspace / 'mlflow.db'}"
    result = run_log_stage(workspace)
    assert result.returncode == 0, result.stderr
    assert f"MLflow {uri}: " in result.stderr
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(tracking.EXPERIMENT_NAME)
    runs = client.search_runs([experiment.experiment_id], max_results=100)
    return {"uri": uri, "client": client, "experiment": experiment, "runs": runs, "output": result.stderr}


def training_run(logged: dict, framing: str):
    return next(run for run in logged["runs"] if run.data.tags.get("framing") == framing)


@pytest.fixture(scope="module")
def migrated_store(tmp_path_factory) -> Path:
    """An SQLite store holding MLflow's tables and nothing else, made once for the module:
    each test that wants an empty store of its own copies it (``empty_store``) instead of
    paying MLflow's migrations, seconds, again."""
    from mlflow.tracking import MlflowClient

    path = tmp_path_factory.mktemp("migrated") / "mlflow.db"
    MlflowClient(f"sqlite:///{path}").search_experiments()  # creates and migrates the tables
    return path


def empty_store(migrated_store: Path, folder: Path):
    """A store of ``folder``'s own (its mlflow.db, artifacts in its mlartifacts/), opened as
    the log stage opens it: a copy of the migrated one, so no run and no experiment of ours yet."""
    from alphabet_lstm.tracking import store as mlflow_store

    shutil.copyfile(migrated_store, folder / "mlflow.db")
    return mlflow_store.open_store(f"sqlite:///{folder / 'mlflow.db'}")


# --- pure functions -------------------------------------------------------------------------


def test_training_key_depends_on_content_only():
    from alphabet_lstm.artifacts import training_key
    from alphabet_lstm.params import FramingParams

    framing = FramingParams.model_validate({"dataset": {"kind": "sliding", "seq_length": 1}, "units": 32, "epochs": 3})
    base = dict(framing=framing, seed=7, engine="fast", data_md5="a" * 32, weights_md5="b" * 32)
    key = training_key(**base)
    # The key of the same content written in another order of keys is the same.
    reordered = FramingParams.model_validate(
        {"epochs": 3, "units": 32, "dataset": {"seq_length": 1, "kind": "sliding"}}
    )
    assert key == training_key(**{**base, "framing": reordered})
    for change in (
        {"seed": 8},
        {"engine": "keras"},
        {"data_md5": "c" * 32},
        {"weights_md5": "d" * 32},
        {"framing": framing.model_copy(update={"units": 33})},
    ):
        assert training_key(**{**base, **change}) != key


def test_curves_written_into_the_embedded_store_read_back_as_log_batch_writes_them(
    migrated_store: Path, tmp_path: Path
):
    """The embedded store's curves skip log_batch's per-point ORM: MLflow reads them back as
    it reads what log_batch wrote, NaN and infinities included, latest values too."""
    from mlflow.entities import Metric

    from alphabet_lstm.tracking import store as mlflow_store

    store = empty_store(migrated_store, tmp_path)
    curves = {"loss": [2.5, float("nan"), 0.5, float("inf")], "accuracy": [0.25, 0.5, float("-inf"), 0.75]}
    timestamp = 1_700_000_000_000
    written, batched = (store.client.create_run(store.experiment_id).info.run_id for _ in range(2))
    mlflow_store.log_curves(store, written, curves, timestamp)
    store.client.log_batch(
        batched,
        metrics=[
            Metric(key, value, timestamp, step)
            for key, values in curves.items()
            for step, value in enumerate(values, start=1)
        ],
    )

    def as_read(run_id: str) -> dict:
        histories = {
            key: [
                (point.step, point.timestamp, repr(point.value))
                for point in store.client.get_metric_history(run_id, key)
            ]
            for key in curves
        }
        return {"histories": histories, "latest": repr(sorted(store.client.get_run(run_id).data.metrics.items()))}

    assert as_read(written) == as_read(batched)
    assert [point.step for point in store.client.get_metric_history(written, "loss")] == [1, 2, 3, 4]


def test_evaluation_json_becomes_numeric_metrics():
    values = {"accuracy": 0.5, "chain_intact": True, "patterns": 25, "note": "text", "nested": {"a": 1}}
    assert records.numeric_metrics(values, prefix="evaluation/") == {
        "evaluation/accuracy": 0.5,
        "evaluation/chain_intact": 1.0,
        "evaluation/patterns": 25.0,
        "evaluation/nested.a": 1.0,
    }


@pytest.mark.pipeline
def test_record_holds_the_training_as_dvc_recorded_it(workspace: Path):
    stateful = next(record for record in read_records(workspace) if record.framing == "stateful")
    assert stateful.data_md5 == records.file_md5(workspace / "data/encoded/stateful.npz")
    assert stateful.model_md5 == records.file_md5(workspace / "models/stateful/seed7.npz")
    assert stateful.data_source == "data/encoded/stateful.npz"
    assert stateful.params["epochs"] == str(STATEFUL_EPOCHS) and stateful.params["stateful"] == "True"
    assert len(stateful.step_metrics["loss"]) == len(stateful.step_metrics["accuracy"]) == STATEFUL_EPOCHS
    evaluation = json.loads((workspace / "metrics/evaluation/stateful/seed7.json").read_text())
    assert stateful.metrics["evaluation/accuracy"] == evaluation["accuracy"]
    assert stateful.metrics["evaluation/chain_intact"] == float(evaluation["chain_intact"])
    assert "evaluation/cold_start_accuracy" in stateful.metrics and "evaluation/warm_start_accuracy" in stateful.metrics
    assert stateful.tags["dvc_stage"] == "train@stateful" and stateful.tags["training_key"] == stateful.key
    assert len(stateful.predictions) == 25 and stateful.predictions[0]["input"] == "A"
    variable = next(record for record in read_records(workspace) if record.framing == "variable_length")
    assert "evaluation/all_queries_accuracy" in variable.metrics


# --- the log stage against a real store -----------------------------------------------------


@pytest.mark.slow
def test_each_training_is_one_finished_run_with_everything_recorded(workspace: Path, logged: dict):
    client, experiment = logged["client"], logged["experiment"]
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    kinds = sorted(run.data.tags["run_kind"] for run in logged["runs"])
    assert kinds == ["summary"] + ["training"] * len(FRAMINGS)
    assert all(run.info.status == "FINISHED" for run in logged["runs"])
    for record in read_records(workspace):
        run = training_run(logged, record.framing)
        assert run.info.run_name == f"{record.framing}-seed{SEED}"
        assert run.data.params == record.params
        for key in (
            "training_key",
            "data_md5",
            "model_md5",
            "dvc_stage",
            "dvc_exp_name",
            "framing",
            "seed",
            "git_commit",
            "mlflow.source.name",
            "mlflow.source.type",
            "mlflow.source.git.commit",
            "mlflow.user",
            "mlflow.note.content",
        ):
            assert run.data.tags.get(key), key
        assert run.data.tags["training_key"] == record.key
        assert run.data.tags["dvc_exp_name"] == "workspace"
        assert run.data.tags["mlflow.source.name"] == "src/alphabet_lstm/stages/train.py"
        history = client.get_metric_history(run.info.run_id, "loss")
        assert [(point.step, point.value) for point in history] == list(enumerate(record.step_metrics["loss"], start=1))
        history = client.get_metric_history(run.info.run_id, "accuracy")
        assert [point.value for point in history] == record.step_metrics["accuracy"]
        assert run.data.metrics["loss"] == record.step_metrics["loss"][-1]
        for key, value in record.metrics.items():
            assert run.data.metrics[key] == value, key
        datasets = run.inputs.dataset_inputs
        assert len(datasets) == 1
        dataset = datasets[0].dataset
        assert (dataset.name, dataset.digest) == (record.framing, record.data_md5)
        assert json.loads(dataset.source) == {"uri": f"data/encoded/{record.framing}.npz"}
        assert {tag.key: tag.value for tag in datasets[0].tags}["mlflow.data.context"] == "training"
        table = json.loads(
            Path(client.download_artifacts(run.info.run_id, "predictions.json", str(workspace / "dl"))).read_text()
        )
        assert table["columns"][:5] == ["input", "expected", "predicted", "probability", "correct"]
        assert len(table["data"]) == len(record.predictions)


@pytest.mark.slow
def test_logging_again_adds_no_run_and_no_version(workspace: Path, logged: dict):
    again = log_in_this_process(workspace)
    assert again.returncode == 0, again.stderr
    assert "0 new runs" in again.stderr and "already logged" in again.stderr
    client = logged["client"]
    runs = client.search_runs([logged["experiment"].experiment_id], max_results=100)
    assert sorted(run.info.run_id for run in runs) == sorted(run.info.run_id for run in logged["runs"])
    for framing in FRAMINGS:
        versions = client.search_model_versions(f"name = 'alphabet-lstm-{framing}'")
        assert [str(version.version) for version in versions] == ["1"]
        assert versions[0].run_id == training_run(logged, framing).info.run_id
        assert versions[0].tags["model_md5"] == records.file_md5(workspace / f"models/{framing}/seed7.npz")


@pytest.mark.slow
def test_stage_output_names_trainings_by_content_only(workspace: Path, logged: dict):
    text = (workspace / "mlflow-logged.json").read_text()
    manifest = json.loads(text)
    assert [entry["framing"] for entry in manifest["trainings"]] == sorted(FRAMINGS)
    assert {entry["training_key"] for entry in manifest["trainings"]} == {
        record.key for record in read_records(workspace)
    }
    assert str(workspace) not in text and "sqlite" not in text and "file:" not in text
    for run in logged["runs"]:
        assert run.info.run_id not in text


@pytest.mark.slow
def test_summary_links_every_training_and_a_second_experiment_gets_its_own(workspace: Path, logged: dict):
    summary = next(run for run in logged["runs"] if run.data.tags["run_kind"] == "summary")
    assert summary.info.run_name == "summary@workspace"
    for framing in FRAMINGS:
        assert summary.data.tags[f"training.{framing}.seed{SEED}"] == training_run(logged, framing).info.run_id
        assert (
            summary.data.metrics[f"{framing}/accuracy"]
            == training_run(logged, framing).data.metrics["evaluation/accuracy"]
        )
    assert summary.data.params["stateful.batch_size"] == "1"

    # The same outputs logged for a DVC experiment: its own summary, the same training runs.
    other = log_in_this_process(workspace, env={"DVC_EXP_NAME": "other-exp"})
    assert other.returncode == 0, other.stderr
    client = logged["client"]
    summaries = client.search_runs(
        [logged["experiment"].experiment_id], filter_string="tags.run_kind = 'summary'", max_results=100
    )
    by_experiment = {run.data.tags["dvc_exp_name"]: run for run in summaries}
    assert sorted(by_experiment) == ["other-exp", "workspace"]
    for framing in FRAMINGS:
        link = f"training.{framing}.seed{SEED}"
        assert by_experiment["other-exp"].data.tags[link] == by_experiment["workspace"].data.tags[link]


@pytest.mark.slow
def test_a_run_that_fails_midway_ends_failed_and_is_not_reused(workspace: Path, migrated_store: Path, tmp_path: Path):
    from alphabet_lstm.tracking import store as mlflow_store

    store = empty_store(migrated_store, tmp_path)
    record = next(record for record in read_records(workspace) if record.framing == "one_char")
    vanished = tmp_path / "vanished.npz"
    shutil.copy(record.model_path, vanished)
    broken = records.TrainingRecord(**{**record.__dict__, "model_path": vanished})
    vanished.unlink()  # the model goes away after the record was read: log_model fails
    with pytest.raises(MlflowException, match="No such artifact: 'vanished.npz'"):
        mlflow_store.log_training(store, broken)
    [failed] = store.client.search_runs([store.experiment_id])
    assert failed.info.status == "FAILED"
    logged = mlflow_store.log_training(store, record)
    assert logged.created and logged.run_id != failed.info.run_id
    assert store.client.get_run(logged.run_id).info.status == "FINISHED"
    assert mlflow_store.log_training(store, record) == mlflow_store.Logged(logged.run_id, created=False)


@pytest.mark.slow
def test_registry_adds_a_version_only_when_the_model_bytes_change(
    workspace: Path, migrated_store: Path, tmp_path: Path
):
    from alphabet_lstm.tracking import registry
    from alphabet_lstm.tracking import store as mlflow_store

    store = empty_store(migrated_store, tmp_path)
    record = next(record for record in read_records(workspace) if record.framing == "one_char")
    run_id = mlflow_store.log_training(store, record).run_id
    assert registry.ensure_registered(store, record, run_id) == "1"
    assert registry.ensure_registered(store, record, run_id) == "1"

    # Retrained with one more epoch: other bytes, another run, version 2 linked to it.
    retrained = tmp_path / "retrained"
    retrained.mkdir()
    write_params(retrained, framings=("one_char",), one_char={"epochs": SMALL_EPOCHS + 1})
    previous = Path.cwd()
    os.chdir(retrained)
    try:
        produce_outputs(retrained, framings=("one_char",))
    finally:
        os.chdir(previous)
    [changed] = read_records(retrained)
    assert changed.model_md5 != record.model_md5
    changed_run = mlflow_store.log_training(store, changed).run_id
    assert registry.ensure_registered(store, changed, changed_run) == "2"
    versions = {
        str(version.version): version
        for version in store.client.search_model_versions("name = 'alphabet-lstm-one_char'")
    }
    assert versions["1"].run_id == run_id and versions["2"].run_id == changed_run


# --- the MLflow model: load, predict, serve -------------------------------------------------

LOAD_AND_PREDICT = """
import json, sys
import mlflow.pyfunc, pandas
answers = []
for model_uri, queries in json.loads(sys.argv[1]):
    table = mlflow.pyfunc.load_model(model_uri).predict(pandas.DataFrame({"letters": queries}))
    answers.append(table.to_dict(orient="records"))
print(json.dumps({"answers": answers,
                  "heavy": sorted(m for m in ("tensorflow", "keras") if m in sys.modules)}))
"""


def load_and_predict(uri: str, requests: list[tuple[str, list[str]]]) -> dict:
    """Load each (model URI, queries) and predict in one fresh interpreter, to see every
    module the loads import."""
    result = subprocess.run(
        [sys.executable, "-c", LOAD_AND_PREDICT, json.dumps(requests)],
        env={**os.environ, "MLFLOW_TRACKING_URI": uri},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def loaded_in_a_fresh_interpreter(logged: dict) -> dict:
    """A variable_length run's model and the stateful champion, loaded and asked in one new
    interpreter (its start and MLflow's import cost seconds: paid once for both)."""
    run_id = training_run(logged, "variable_length").info.run_id
    requests = [
        (f"runs:/{run_id}/model", ["KLM", "b"]),
        ("models:/alphabet-lstm-stateful@champion", [ALPHABET[:length] for length in range(1, 26)]),
    ]
    return load_and_predict(logged["uri"], requests)


@pytest.mark.slow
def test_pyfunc_model_loads_and_predicts_without_tensorflow(loaded_in_a_fresh_interpreter: dict):
    answer = loaded_in_a_fresh_interpreter
    assert answer["heavy"] == []
    first = answer["answers"][0][0]
    assert list(first) == [
        "next_letter",
        "probability",
        "second_letter",
        "second_probability",
        "third_letter",
        "third_probability",
    ]
    assert first["next_letter"] in ALPHABET and 0 < first["probability"] <= 1
    assert first["probability"] >= first["second_probability"] >= first["third_probability"]


@pytest.mark.slow
def test_registered_stateful_model_recites_the_alphabet_from_a(loaded_in_a_fresh_interpreter: dict):
    recited = loaded_in_a_fresh_interpreter["answers"][1]
    assert "".join(row["next_letter"] for row in recited) == ALPHABET[1:]


@pytest.mark.slow
def test_pyfunc_model_rejects_what_its_framing_does_not_take(logged: dict):
    import mlflow
    import mlflow.pyfunc
    import pandas

    mlflow.set_tracking_uri(logged["uri"])
    one_char = mlflow.pyfunc.load_model(f"runs:/{training_run(logged, 'one_char').info.run_id}/model")
    assert one_char.predict(pandas.DataFrame({"letters": ["k"]}))["next_letter"].tolist() != []
    with pytest.raises(ValueError, match=r"row 0: 'K7': character '7' at position 2 is not a letter A-Z"):
        one_char.predict(pandas.DataFrame({"letters": ["K7"]}))
    with pytest.raises(ValueError, match=r"framing one_char takes exactly 1 letter; got 3 \('KLM'\)"):
        one_char.predict(pandas.DataFrame({"letters": ["KLM"]}))
    variable = mlflow.pyfunc.load_model(f"runs:/{training_run(logged, 'variable_length').info.run_id}/model")
    with pytest.raises(ValueError, match=r"takes 1 to 5 letters; got 6"):
        variable.predict(pandas.DataFrame({"letters": ["ABCDEF"]}))
    with pytest.raises(ValueError, match=r"row 0: the query is empty; framing variable_length takes 1 to 5 letters"):
        variable.predict(pandas.DataFrame({"letters": [""]}))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- the tracking server check --------------------------------------------------------------


def test_a_server_that_does_not_answer_fails_fast_naming_it():
    uri = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(tracking.TrackingUnavailable, match=f"MLflow tracking server {uri} did not answer"):
        tracking.check_tracking_server(uri)
    assert time.monotonic() - started < 30


def test_main_checkout_root_from_queue_executor_copy(tmp_path: Path):
    """Stages of queued experiments run in <root>/.dvc/tmp/exps/tmpXXXX (DVC 3.x TempDirExecutor)."""
    root = tmp_path / "checkout"
    copy = root / ".dvc" / "tmp" / "exps" / "tmpab12cd34"
    (copy / ".dvc").mkdir(parents=True)
    (copy / "dvc.yaml").write_text("stages: {}\n")
    (root / "dvc.yaml").write_text("stages: {}\n")
    assert main_checkout_root(copy) == root
    assert main_checkout_root(copy / "src") == root
    # tracking.uri's relative SQLite path: the one store of the main checkout, seen from a copy.
    assert tracking.tracking_uri("sqlite:///mlflow.db", copy, environ={}) == f"sqlite:///{root / 'mlflow.db'}"
    absolute = f"sqlite:///{tmp_path / 'elsewhere' / 'mlflow.db'}"
    assert tracking.tracking_uri(absolute, copy, environ={}) == absolute


def test_an_environment_naming_the_same_store_is_accepted(tmp_path: Path):
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    (tmp_path / ".dvc").mkdir()
    embedded = f"sqlite:///{tmp_path / 'mlflow.db'}"
    for configured, environment in (
        ("sqlite:///mlflow.db", embedded),
        ("sqlite:///mlflow.db", "sqlite:///mlflow.db"),
        (embedded, "sqlite:///mlflow.db"),
        ("http://127.0.0.1:5000", "http://127.0.0.1:5000/"),
        ("http://127.0.0.1:5000", ""),  # set but empty: unset
    ):
        uri = tracking.tracking_uri(configured, tmp_path, environ={"MLFLOW_TRACKING_URI": environment})
        assert uri == (embedded if configured.startswith("sqlite") else "http://127.0.0.1:5000")


def test_an_environment_naming_another_store_is_refused_saying_why_and_what_to_do(tmp_path: Path):
    server = "http://mlflow.example.org:5000"
    with pytest.raises(tracking.StoreMismatch) as refused:
        tracking.tracking_uri("sqlite:///mlflow.db", tmp_path, environ={"MLFLOW_TRACKING_URI": server})
    message = str(refused.value)
    assert len(message.splitlines()) == 1
    assert message.startswith(
        f"MLFLOW_TRACKING_URI={server} names another MLflow store than params.yaml's tracking.uri"
    )
    assert f"(sqlite:///mlflow.db, that is sqlite:///{tmp_path / 'mlflow.db'})" in message
    assert "DVC reruns the log stages when a param changes, never when an environment variable does" in message
    assert f"`dvc exp run -S tracking.uri={server}`" in message and "unset MLFLOW_TRACKING_URI" in message
    with pytest.raises(tracking.StoreMismatch, match="names another MLflow store"):
        tracking.tracking_uri(server, tmp_path, environ={"MLFLOW_TRACKING_URI": "http://mlflow.example.org:5001"})


@pytest.mark.pipeline
def test_the_log_stage_refuses_an_environment_naming_another_store_and_runs_again_next_time(tmp_path: Path):
    shutil.copy(REPO_ROOT / "params.yaml", tmp_path / "params.yaml")
    out = tmp_path / "mlflow-logged.json"
    out.write_text("{}")
    elsewhere = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    result = subprocess.run(
        [sys.executable, "-m", "alphabet_lstm.stages.log", *LOG_ARGS, "--out", str(out)],
        cwd=tmp_path,
        env=stage_env({"MLFLOW_TRACKING_URI": elsewhere}),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"error: MLFLOW_TRACKING_URI={elsewhere} names another MLflow store")
    # Nothing logged anywhere, and the output gone: the next `dvc repro` runs the stage again.
    assert not out.exists() and not (tmp_path / "elsewhere.db").exists() and not (tmp_path / "mlflow.db").exists()


# --- what a logged model carries ------------------------------------------------------------


def test_a_model_ships_the_project_files_its_code_file_imports_and_nothing_else():
    from alphabet_lstm.tracking import shipped

    files = [path.as_posix() for path in shipped.code_files()]
    assert files == [
        "alphabet_lstm/alphabet.py",
        "alphabet_lstm/model/floatmath.py",
        "alphabet_lstm/model/lstm.py",
        "alphabet_lstm/model/querying.py",
        "alphabet_lstm/tracking/pyfunc_model.py",
    ]
    # Beyond the standard library they import exactly what the model's requirements pin.
    assert shipped.third_party_imports() == {"mlflow", "numpy", "pandas"}


def test_model_requirements_pin_what_the_shipped_code_imports():
    from alphabet_lstm.tracking import shipped
    from alphabet_lstm.tracking.store import model_requirements

    pins = dict(line.split("==") for line in (REPO_ROOT / "requirements.lock").read_text().splitlines() if "==" in line)
    requirements = model_requirements()
    assert {line.split("==")[0] for line in requirements} == shipped.third_party_imports()
    assert requirements == [f"{name}=={pins[name]}" for name in ("mlflow", "numpy", "pandas")]


def test_shipped_files_are_what_the_model_runs_and_are_copied_as_they_are(tmp_path: Path):
    """The shipped files follow the imports that run (`from package import module` counts the
    module; an import for type checkers only, artifacts' of params, does not), and the
    packages' __init__ files stay home."""
    from alphabet_lstm.source_code import imports_of
    from alphabet_lstm.tracking import shipped

    files = [path.as_posix() for path in shipped.code_files()]
    assert "alphabet_lstm/params.py" not in files and not any(name.endswith("__init__.py") for name in files)
    artifacts = shipped.PACKAGE_ROOT / "artifacts.py"
    assert "alphabet_lstm.params" in artifacts.read_text() and "alphabet_lstm.params" not in imports_of(artifacts)
    copied = shipped.copy_code(tmp_path / "code")
    assert sorted(path.relative_to(copied.parent).as_posix() for path in copied.rglob("*") if path.is_file()) == files
    for name in files:
        assert (copied.parent / name).read_bytes() == (shipped.PACKAGE_ROOT.parent / name).read_bytes()


def test_a_stateful_model_answers_each_query_as_its_batch_was_evaluated():
    """A..i fed to B streams side by side gives, bit for bit, what evaluation's
    predict_in_streams gave pattern i, at batch size 1 and 5."""
    import numpy as np

    from alphabet_lstm.model.lstm import initial_weights, predict_in_streams
    from alphabet_lstm.model.querying import encode_runs, query_probabilities

    weights = initial_weights(features=1, units=8, seed=3)
    for batch_size in (1, 5):
        spec = spec_for("s", units=8, stateful=True, batch_size=batch_size, seed=3)
        evaluated = predict_in_streams(weights, encode_runs(spec, [[code] for code in range(25)]), batch_size)
        for index in range(25):
            assert np.array_equal(query_probabilities(weights, spec, list(range(index + 1))), evaluated[index])


def test_a_stateful_model_over_windows_refuses_a_query_saying_why():
    from alphabet_lstm.tracking.pyfunc_model import query_codes, query_rule

    spec = spec_for("windows", units=8, input_length=3, stateful=True, shortest_query=3)
    with pytest.raises(
        ValueError,
        match=r"framing windows is stateful over 3-letter windows; this model answers "
        r"stateful framings fed one letter at a time only",
    ):
        query_codes(spec, "ABC", 0)
    batched = spec_for("b5", units=8, stateful=True, batch_size=5)
    assert "letter i in stream i mod 5" in query_rule(batched)


# --- the registry: champion and experiments -------------------------------------------------


@pytest.mark.slow
def test_the_study_sets_champion_and_an_experiment_never_moves_it(
    workspace: Path, logged: dict, tmp_path: Path, monkeypatch
):
    client = logged["client"]
    champion = client.get_model_version_by_alias("alphabet-lstm-stateful", "champion")
    assert str(champion.version) == "1" and champion.tags["dvc_exp_name"] == "workspace"
    assert champion.tags["param.batch_size"] == "1" and champion.tags["accuracy"]
    assert champion.description.startswith("Framing stateful, seed 7: LSTM(50)")

    # An experiment that retrained stateful at batch size 5 logs into the same store.
    experiment = tmp_path / "b5"
    experiment.mkdir()
    write_params(experiment, stateful={"batch_size": 5, "epochs": SMALL_EPOCHS})
    previous = Path.cwd()
    os.chdir(experiment)
    try:
        produce_outputs(experiment, framings=("stateful",))
    finally:
        os.chdir(previous)
    params = yaml.safe_load((experiment / "params.yaml").read_text())
    params["framings"] = {"stateful": params["framings"]["stateful"]}
    params.pop("sweeps")  # its base framing is not in this experiment's params
    params["tracking"] = {"uri": logged["uri"]}  # the study's store
    (experiment / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    result = log_in_this_process(experiment, env={"DVC_EXP_NAME": "b5"})
    assert result.returncode == 0, result.stderr
    assert "champion" not in result.stderr
    versions = {str(item.version): item for item in client.search_model_versions("name = 'alphabet-lstm-stateful'")}
    assert sorted(versions) == ["1", "2"]
    assert versions["2"].tags["dvc_exp_name"] == "b5" and versions["2"].tags["param.batch_size"] == "5"
    assert str(client.get_model_version_by_alias("alphabet-lstm-stateful", "champion").version) == "1"

    # Moved on purpose, by the experiment's name, in the store the workspace's tracking.uri
    # names; the study logging again leaves it there.
    promoted = promote_command(["--framing", "stateful", "--exp", "b5"], workspace)
    assert promoted.returncode == 0, promoted.stderr
    assert promoted.stdout.strip() == f"alphabet-lstm-stateful@champion: version 1 -> version 2 ({logged['uri']})"
    assert log_in_this_process(workspace).returncode == 0
    assert str(client.get_model_version_by_alias("alphabet-lstm-stateful", "champion").version) == "2"
    # The console script ran once above; the rest run its entry point in this process, where
    # MLflow is already imported (a process of its own costs four seconds each), in the
    # environment the console script had: no store named by a variable.
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    back = alphabet_lstm("promote", "--framing", "stateful", "--version", "1", cwd=workspace)
    assert back.stdout.strip().endswith("version 2 -> version 1 (" + logged["uri"] + ")")

    # Wrong input: one line naming what exists.
    for args, message in (
        (
            ["--framing", "stateful", "--version", "9"],
            "error: alphabet-lstm-stateful has no version 9; its versions: 1, 2",
        ),
        (
            ["--framing", "stateful", "--exp", "nope"],
            "error: no version of alphabet-lstm-stateful was registered by DVC "
            "experiment 'nope'; experiments with versions: b5, workspace (an experiment that "
            "did not retrain stateful registers no version)",
        ),
        (
            ["--framing", "statefull", "--version", "1"],
            "error: no registered model alphabet-lstm-statefull in "
            f"{logged['uri']}; framings registered there: one_char, stateful, variable_length",
        ),
    ):
        refused = alphabet_lstm("promote", *args, cwd=workspace)
        assert refused.returncode == 2 and refused.stderr.strip() == message, refused.stderr
    # An environment naming another store than tracking.uri: refused before MLflow is asked.
    elsewhere = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", elsewhere)
    refused = alphabet_lstm("promote", "--framing", "stateful", "--version", "1", cwd=workspace)
    assert refused.returncode == 2, refused.stderr
    assert refused.stderr.startswith(f"error: MLFLOW_TRACKING_URI={elsewhere} names another MLflow store")
    assert not (tmp_path / "elsewhere.db").exists()


def promote_command(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(VENV_BIN / "alphabet-lstm"), "promote", *args],
        cwd=cwd,
        env=stage_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_model_reads_a_saved_model_with_numpy_alone_as_the_project_does(tmp_path: Path):
    import numpy as np

    from alphabet_lstm.artifacts import load_model, save_model
    from alphabet_lstm.model.lstm import initial_weights
    from alphabet_lstm.tracking.pyfunc_model import read_model

    spec = spec_for("b5", units=8, stateful=True, batch_size=5, seed=3)
    save_model(tmp_path / "model.npz", initial_weights(features=1, units=8, seed=3), spec)
    weights, read_spec = read_model(str(tmp_path / "model.npz"))
    expected_weights, expected_spec = load_model(tmp_path / "model.npz")
    assert read_spec == expected_spec == spec
    assert all(np.array_equal(a, b) for a, b in zip(weights.as_list(), expected_weights.as_list()))


@pytest.mark.slow
def test_a_run_left_running_by_a_dead_writer_is_ended_killed_and_written_again(
    workspace: Path, migrated_store: Path, tmp_path: Path
):
    """What a log stage killed with SIGKILL leaves (tests/test_log_robustness.py kills one for
    real): a RUNNING run tagged with a process of this host that no longer exists."""
    import socket

    from alphabet_lstm.tracking import store as mlflow_store

    store = empty_store(migrated_store, tmp_path)
    record = next(record for record in read_records(workspace) if record.framing == "one_char")
    dead = subprocess.Popen(["true"])
    dead.wait()
    hanging = store.client.create_run(
        store.experiment_id,
        run_name=record.run_name,
        tags={**record.tags, mlflow_store.WRITER_TAG: f"{socket.gethostname()}:{dead.pid}"},
    ).info.run_id
    logged = mlflow_store.log_training(store, record)
    assert logged.created and logged.run_id != hanging
    assert store.client.get_run(hanging).info.status == "KILLED"
    assert store.client.get_run(logged.run_id).info.status == "FINISHED"
    assert mlflow_store.log_training(store, record) == mlflow_store.Logged(logged.run_id, created=False)
