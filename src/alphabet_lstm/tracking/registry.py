"""The model registry: one registered model per framing, ``alphabet-lstm-<framing>``, a
version per model's bytes (by md5), and ``@champion`` on the committed study's version
(moved by the study and by `alphabet-lstm promote`, never by an experiment).
"""

from __future__ import annotations

from mlflow.exceptions import MlflowException

from alphabet_lstm.errors import UsageError
from alphabet_lstm.model.lstm import ModelSpec
from alphabet_lstm.tracking import TrackingFailed, pyfunc_model
from alphabet_lstm.tracking.records import (
    EVALUATION_PREFIX,
    REGISTERED_MODEL_PREFIX,
    TrainingRecord,
    registered_model_name,
)
from alphabet_lstm.tracking.store import MODEL_NAME, Store, shared_store

# The alias the committed study sets and docs load (models:/alphabet-lstm-<framing>@champion).
CHAMPION_ALIAS = "champion"
# The tag naming the version the committed study last logged.
STUDY_VERSION_TAG = "study_version"


def _model_id(store: Store, run_id: str) -> str:
    found = f"source_run_id = '{run_id}' AND name = '{MODEL_NAME}'"
    for model in store.client.search_logged_models([store.experiment_id], filter_string=found):
        return model.model_id
    raise TrackingFailed(f"run {run_id} has no logged model named {MODEL_NAME!r}")


def _versions_holding(store: Store, name: str, model_md5: str) -> list[int]:
    found = store.client.search_model_versions(f"name = '{name}' AND tags.model_md5 = '{model_md5}'")
    return sorted(int(version.version) for version in found)


def ensure_registered(store: Store, record: TrainingRecord, run_id: str) -> str:
    """The registry version holding this model's bytes: one with its md5, else a new one
    linked to ``run_id``, described and tagged. Never moves an alias."""
    name = registered_model_name(record.framing)
    client = store.client
    description = (
        f"The {record.framing} framing of alphabet-lstm (pyfunc: letters in, next letter out). "
        f"Load {name}@{CHAMPION_ALIAS}: the version of the committed study; DVC experiments "
        "register versions beside it and never move it (`alphabet-lstm promote` does)."
    )
    try:
        client.create_registered_model(name, description=description)
    except MlflowException as error:
        if error.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    if existing := _versions_holding(store, name, record.model_md5):
        return str(existing[0])
    model_id = _model_id(store, run_id)
    # What the registry's UI shows of a version: the training's identity, the DVC experiment
    # that logged it, its accuracy and its params.
    identity = ("model_md5", "training_key", "framing", "seed", "dvc_exp_name", "git_commit")
    tags = {key: record.tags[key] for key in identity}
    tags["accuracy"] = f"{record.metrics[f'{EVALUATION_PREFIX}accuracy']:.6f}"
    tags |= {f"param.{key}": value for key, value in record.params.items() if key not in ("framing", "seed")}
    version = client.create_model_version(
        name,
        source=f"models:/{model_id}",
        run_id=run_id,
        model_id=model_id,
        tags=tags,
        # How a query is fed matters to whoever serves it (a stateful model's streams).
        description=f"{record.description} Queries: {pyfunc_model.query_rule(ModelSpec.from_dict(record.spec))}.",
    )
    # Two loggers racing on one server may both have found no version: the later gives way.
    earliest = _versions_holding(store, name, record.model_md5)[0] if shared_store(store) else int(version.version)
    if earliest < int(version.version):
        client.delete_model_version(name, version.version)
    return str(earliest)


def champion_version(store: Store, framing: str) -> str | None:
    try:
        return str(store.client.get_model_version_by_alias(registered_model_name(framing), CHAMPION_ALIAS).version)
    except MlflowException:
        return None


def set_champion(store: Store, framing: str, version: str) -> None:
    store.client.set_registered_model_alias(registered_model_name(framing), CHAMPION_ALIAS, version)


def record_study_version(store: Store, framing: str, version: str) -> bool:
    """Record the committed study's version; champion moves to it when it is new or there is
    none (a promoted champion stays while the study is unchanged). Returns whether it moved."""
    name = registered_model_name(framing)
    model = store.client.get_registered_model(name)
    previous = model.tags.get(STUDY_VERSION_TAG)
    moved = previous != version or CHAMPION_ALIAS not in (model.aliases or {})
    if moved:
        set_champion(store, framing, version)
    if previous != version:
        store.client.set_registered_model_tag(name, STUDY_VERSION_TAG, version)
    return moved


def promotion_target(store: Store, framing: str, *, version: str | None = None, exp: str | None = None) -> str:
    """The version `alphabet-lstm promote` moves champion to: ``version`` as given, or the
    one DVC experiment ``exp`` registered. UsageError naming what exists otherwise."""
    name = registered_model_name(framing)
    try:
        versions = store.client.search_model_versions(f"name = '{name}'")
    except MlflowException as error:
        raise TrackingFailed(f"MLflow store {store.uri}: {error.message}") from None
    if not versions:
        registered = sorted(
            model.name[len(REGISTERED_MODEL_PREFIX) :]
            for model in store.client.search_registered_models(f"name LIKE '{REGISTERED_MODEL_PREFIX}%'")
        )
        raise UsageError(
            f"no registered model {name} in {store.uri}; framings registered there: "
            f"{', '.join(registered) or 'none (run `dvc repro` first)'}"
        )
    numbers = sorted(int(item.version) for item in versions)
    if version is not None:
        if not version.isdigit() or int(version) not in numbers:
            raise UsageError(f"{name} has no version {version}; its versions: {', '.join(map(str, numbers))}")
        return str(int(version))
    matching = sorted((int(item.version) for item in versions if item.tags.get("dvc_exp_name") == exp), reverse=True)
    if not matching:
        experiments = sorted({item.tags.get("dvc_exp_name", "") for item in versions} - {""})
        raise UsageError(
            f"no version of {name} was registered by DVC experiment {exp!r}; experiments with versions: "
            f"{', '.join(experiments) or 'none'} (an experiment that did not retrain {framing} registers no version)"
        )
    return str(matching[0])
