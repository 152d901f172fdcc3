"""Stage log: mirror every training of the repro into MLflow, then one summary run.

Every training (framing x seed of params.yaml) is read from the files DVC recorded and logged
idempotently by its content key. The first seed's model of each framing is registered as
``alphabet-lstm-<framing>`` (a new version only when its bytes change); the committed study,
outside any DVC experiment, points ``champion`` at its new versions, an experiment never does.
The summary run holds every framing's results and the ids of its training runs, tagged with the
DVC experiment. The store is the param ``tracking.uri``; the output (--out) names what was logged
by content only, deleted first and written last, so a stage that fails or is killed runs again
(docs/architecture.md, the MLflow store).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from alphabet_lstm import tracking
from alphabet_lstm.artifacts import write_json
from alphabet_lstm.errors import run_stage
from alphabet_lstm.interrupts import StopRequest, deferred_signals
from alphabet_lstm.params import load_params
from alphabet_lstm.tracking.ledger import Ledger, read_ledger, write_ledger
from alphabet_lstm.tracking.records import TrainingRecord, logged_manifest, read_training, summary_key, summary_record

if TYPE_CHECKING:  # MLflow's import takes seconds: only a log that writes pays it
    from alphabet_lstm.tracking.store import Store

TEMPLATE_FIELDS = ("model", "history", "evaluation", "predictions", "patterns", "encoded")
# The DVC experiment name of a repro outside any experiment (DVC sets DVC_EXP_NAME inside one).
WORKSPACE = "workspace"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--params", default="params.yaml")
    for name in TEMPLATE_FIELDS:
        parser.add_argument(f"--{name}", required=True, help=f"{name} path template, with {{framing}} and {{seed}}")
    parser.add_argument("--report-dir", type=Path, help="the report (figures, state numbers) for the summary run")
    parser.add_argument("--out", required=True, help="JSON naming what was logged (by content)")
    parser.add_argument("--ledger", type=Path, help="this machine's record of the runs logged to each store")
    args = parser.parse_args(argv)

    params = load_params(args.params)
    Path(args.out).unlink(missing_ok=True)  # until all is logged: a failed log stage runs again
    uri = tracking.tracking_uri(params.tracking.uri)
    templates = {name: getattr(args, name) for name in TEMPLATE_FIELDS}
    commit = tracking.git_commit()
    exp_name = os.environ.get("DVC_EXP_NAME") or WORKSPACE
    records = [
        read_training(templates, params, name, seed, root=Path.cwd(), git_commit=commit, dvc_exp_name=exp_name)
        for name in params.framings
        for seed in params.seeds
    ]
    first_seed = params.seeds[0]
    sets_champion = exp_name == WORKSPACE
    # What the ledger holds is not asked of the store again (tracking/ledger.py).
    this_summary = summary_key([record.key for record in records], exp_name)
    needed = {record.key for record in records} | {this_summary}
    ledger = read_ledger(args.ledger, uri, needed) if args.ledger else Ledger()
    summary_id = ledger.runs.get(this_summary)
    created, summary_created, champion_note = 0, False, ""
    if summary_id is None or not all(_recorded(ledger, record, first_seed, sets_champion) for record in records):
        # Before MLflow's import (seconds): a server that is down or refuses us fails at once.
        tracking.check_tracking_server(uri)
        from alphabet_lstm.tracking import store as mlflow_store

        # MLflow's INFO lines would drown the stage's one summary line.
        logging.getLogger("mlflow").setLevel(logging.WARNING)
        # Ctrl-C and SIGTERM are raised between runs, never in the middle of MLflow's requests;
        # a run interrupted anyway (a second signal) is ended FAILED by mlflow.start_run.
        with mlflow_store.held_store(uri) as store, deferred_signals() as stop_request:
            created, champion_note = _log_trainings(store, records, ledger, first_seed, sets_champion, stop_request)
            stop_request.check()
            summary_entry = summary_record(records, ledger.runs, git_commit=commit, dvc_exp_name=exp_name)
            summary, _ = mlflow_store.log_summary(store, summary_entry, report_dir=args.report_dir)
        ledger.runs[summary_entry.key] = summary_id = summary.run_id
        summary_created = summary.created
        if args.ledger:
            write_ledger(args.ledger, uri, ledger)
    write_json(args.out, logged_manifest(records, first_seed))
    print(
        f"MLflow {uri}: {len(records)} trainings ({created} new runs, {len(records) - created} already logged), "
        f"summary run {summary_id} ({'new' if summary_created else 'already logged'}) for {exp_name}",
        file=sys.stderr,
    )
    if champion_note:
        print(f"MLflow {uri}: {champion_note}", file=sys.stderr)


def _recorded(ledger: Ledger, record: TrainingRecord, first_seed: int, sets_champion: bool) -> bool:
    """Whether the ledger holds all a record needs: its run, and for a framing's first seed
    its registry version and (for the committed study) that version recorded as the study's."""
    if record.key not in ledger.runs:
        return False
    if record.seed != first_seed:
        return True
    version = ledger.versions.get(record.framing, {}).get(record.model_md5)
    return version is not None and (not sets_champion or ledger.study_versions.get(record.framing) == version)


def _log_trainings(
    store: Store,
    records: list[TrainingRecord],
    ledger: Ledger,
    first_seed: int,
    sets_champion: bool,
    stop_request: StopRequest,
) -> tuple[int, str]:
    """Log and register what the ledger lacks, recording it there. Returns the runs created and
    which versions champion moved to (or "")."""
    from alphabet_lstm.tracking import registry
    from alphabet_lstm.tracking import store as mlflow_store

    created = 0
    champions: list[str] = []
    for record in records:
        stop_request.check()
        if record.key not in ledger.runs:
            logged = mlflow_store.log_training(store, record)
            ledger.runs[record.key] = logged.run_id
            created += logged.created
        if _recorded(ledger, record, first_seed, sets_champion):
            continue
        versions = ledger.versions.setdefault(record.framing, {})
        if record.model_md5 not in versions:
            versions[record.model_md5] = registry.ensure_registered(store, record, ledger.runs[record.key])
        version = versions[record.model_md5]
        if sets_champion:
            if registry.record_study_version(store, record.framing, version):
                champions.append(f"{registry.registered_model_name(record.framing)} v{version}")
            ledger.study_versions[record.framing] = version
    return created, f"@{registry.CHAMPION_ALIAS} now names {', '.join(champions)}" if champions else ""


if __name__ == "__main__":
    run_stage(main)
