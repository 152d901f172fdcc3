"""What this checkout has logged to each MLflow store: run ids by content key, and versions.

The log stage reads it first: trainings, summaries and registry versions it holds are not
asked of the store again, and a repro whose every run is in it imports no MLflow at all.
It is a git-ignored file of this machine (run ids, store URIs), written only after a log
succeeded. For the embedded store, read-only SQLite queries (milliseconds, no MLflow)
check that the experiment is the one logged to and that the runs a log needs are still
there; a server's entry is trusted (delete the file to ask the server about every run again).
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from dataclasses import asdict, dataclass, field
from pathlib import Path

from alphabet_lstm.artifacts import write_json
from alphabet_lstm.tracking import EXPERIMENT_NAME


def store_identity(uri: str) -> str:
    """A server's URI; for the embedded store, its experiment's id and creation time (a store
    deleted and made again is another store), or "" when it has none or cannot be read."""
    if not uri.startswith("sqlite:///"):
        return uri
    found = _query(
        uri,
        "SELECT experiment_id, creation_time FROM experiments WHERE name = ?",
        (os.environ.get("MLFLOW_EXPERIMENT_NAME", EXPERIMENT_NAME),),
    )
    return f"{found[0][0]}:{found[0][1]}" if found else ""


def _query(uri: str, sql: str, values: tuple) -> list[tuple]:
    """Rows of a read-only query of an embedded store's file; none if it cannot be read.
    MLflow's tables (experiments, runs) have kept these columns since MLflow 1."""
    location = Path(uri.removeprefix("sqlite:///")).as_uri()
    try:  # a missing file is an error too: read-only, sqlite3 does not create it
        with contextlib.closing(sqlite3.connect(f"{location}?mode=ro", uri=True)) as connection:
            return connection.execute(sql, values).fetchall()
    except sqlite3.Error:
        return []


@dataclass
class Ledger:
    """One store's entry: ``runs`` (content key -> run id), ``versions`` (framing -> model md5
    -> registry version) and ``study_versions`` (framing -> the version the committed study
    last recorded, champion's)."""

    runs: dict[str, str] = field(default_factory=dict)
    versions: dict[str, dict[str, str]] = field(default_factory=dict)
    study_versions: dict[str, str] = field(default_factory=dict)


def read_ledger(path: Path, uri: str, keys: set[str]) -> Ledger:
    """The entry of ``uri`` in the ledger at ``path``, without the runs of ``keys`` (the ones
    this log needs) that the embedded store no longer holds; empty when there is no entry,
    the file is unreadable, or the embedded store is not the one logged to."""
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))[uri]
        runs, versions, study_versions = entry["runs"], entry["versions"], entry["study_versions"]
    except (OSError, ValueError, KeyError, TypeError):
        return Ledger()
    identity = store_identity(uri)
    if not identity or entry.get("store") != identity:
        return Ledger()
    if uri.startswith("sqlite:///"):  # a server's runs are trusted
        # Those of the runs this log needs that are in the store, finished and not deleted.
        needed = tuple(runs[key] for key in keys if key in runs)
        marks = ",".join("?" * len(needed))
        where = f"run_uuid IN ({marks}) AND status = 'FINISHED' AND lifecycle_stage = 'active'"
        present = {row[0] for row in _query(uri, f"SELECT run_uuid FROM runs WHERE {where}", needed)}
        runs = {key: run_id for key, run_id in runs.items() if key not in keys or run_id in present}
    return Ledger(runs, versions, study_versions)


def write_ledger(path: Path, uri: str, ledger: Ledger) -> None:
    """Record ``ledger`` as the entry of ``uri`` (other stores' entries kept), atomically."""
    document = {}
    with contextlib.suppress(OSError, ValueError):
        document = json.loads(path.read_text(encoding="utf-8"))
    document = document if isinstance(document, dict) else {}
    document[uri] = {"store": store_identity(uri), **asdict(ledger)}
    write_json(path, document)
