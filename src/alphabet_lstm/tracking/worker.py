"""The process that talks to MLflow for one train stage: ``python -m alphabet_lstm.tracking.worker``.

Importing MLflow and opening its store cost 5-6 s of Python work; in a thread of the
training process that work and numba's start-up take turns on the GIL. In a process of
its own it runs on the second core while the stage trains. The stage drives it with one
JSON object per line on stdin and reads one JSON reply per line from stdout:

    {"op": "open", "uri": ..., "run_name": ..., "tags": {...}, "params": {...}}
    {"op": "log_metrics", "series": {"key": [values by epoch]}}   # steps 1..n
    {"op": "log_metrics", "values": {"key": value}}               # step 0
    {"op": "log_table", "rows": [...], "artifact_file": ...}
    {"op": "log_artifact", "path": ..., "artifact_path": ...}
    {"op": "end", "status": "FINISHED" | "FAILED" | "KILLED"}

It imports MLflow as soon as it starts and opens nothing until the ``open`` request: a
stage that fails before it (bad params) just closes stdin. Replies are ``{"ok": true, ...}`` or ``{"error": "..."}``. Ctrl-C and SIGTERM are ignored
here: the stage receives them too and ends the run itself. If the stage goes away without
an ``end`` (stdin closes), the run is ended KILLED so that none is left RUNNING.
"""

from __future__ import annotations

import json
import os
import signal
import sys

from alphabet_lstm import tracking


def reply_channel():
    """The stdout the stage reads, kept for replies; fd 1 itself then goes to stderr, so
    that nothing a library prints can be taken for a reply."""
    replies = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    def reply(**fields) -> None:
        replies.write(json.dumps(fields) + "\n")
        replies.flush()

    return reply


def open_run(request: dict) -> tuple[object, str]:
    from mlflow.entities import Param

    client, experiment_id = tracking.open_client(request["uri"])
    run = client.create_run(experiment_id, run_name=request["run_name"], tags=request["tags"])
    run_id = run.info.run_id
    if request["params"]:
        client.log_batch(run_id, params=[Param(key, str(value)) for key, value in request["params"].items()])
    return client, run_id


def handle(client, run_id: str, request: dict) -> None:
    operation = request["op"]
    if operation == "log_metrics" and "series" in request:
        tracking.log_epoch_metrics(client, run_id, request["series"])
    elif operation == "log_metrics":
        tracking.log_final_metrics(client, run_id, request["values"])
    elif operation == "log_table":
        import pandas

        client.log_table(run_id, data=pandas.DataFrame(request["rows"]), artifact_file=request["artifact_file"])
    elif operation == "log_artifact":
        client.log_artifact(run_id, request["path"], artifact_path=request["artifact_path"])
    else:
        raise ValueError(f"unknown operation {operation!r}")


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    reply = reply_channel()
    # The stage starts this process first thing; these imports (3-4 s) overlap its own.
    import mlflow.entities  # noqa: F401
    import mlflow.tracking  # noqa: F401
    import pandas  # noqa: F401

    first = sys.stdin.readline()
    if not first:
        return 0
    try:
        client, run_id = open_run(json.loads(first))
    except Exception as error:  # reported to the stage, which raises it there
        reply(error=f"{type(error).__name__}: {error}")
        return 1
    reply(ok=True, run_id=run_id)
    for line in sys.stdin:
        request = json.loads(line)
        if request["op"] == "end":
            client.set_terminated(run_id, status=request["status"])
            reply(ok=True)
            # Everything is in the store (each call above is committed or uploaded before it
            # returns); skip the 1-2 s interpreter teardown of MLflow's modules.
            sys.stderr.flush()
            os._exit(0)
        try:
            handle(client, run_id, request)
        except Exception as error:
            reply(error=f"{type(error).__name__}: {error}")
        else:
            reply(ok=True)
    client.set_terminated(run_id, status="KILLED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
