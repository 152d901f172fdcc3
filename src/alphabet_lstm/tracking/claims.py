"""Which run holds a record's key: the claim protocol every writer of the store follows.

A FINISHED run with the key is reused; a RUNNING one whose writer is gone (a process of
this host that exited, or another machine's whose heartbeat tag stopped moving) is ended
KILLED; one a live writer holds is waited for; of two new runs racing for one key the later
gives way (docs/architecture.md, the MLflow store). ``store`` writes the runs.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING

from mlflow.exceptions import MlflowException

from alphabet_lstm.tracking import TrackingFailed

if TYPE_CHECKING:
    from alphabet_lstm.tracking.store import Store

# The tag naming the process that writes a run (host:pid): a later log sees whether a
# RUNNING run's writer is still alive.
WRITER_TAG = "writer"
# The tag a writer on a server store counts up every HEARTBEAT_SECONDS while its run is open:
# the process of another machine cannot be seen, its heartbeat can.
HEARTBEAT_TAG = "writer_heartbeat"
HEARTBEAT_SECONDS = 5.0
# A RUNNING run of another machine whose heartbeat has not changed for this long, as this
# process's own clock measures it (the machines' clocks need not agree), is taken for dead:
# six heartbeats missed, so a writer slowed by a busy server is not. The variable sets another
# (above HEARTBEAT_SECONDS, else a live writer would be taken for dead between two beats).
HEARTBEAT_STALE_SECONDS = 30.0
HEARTBEAT_STALE_VARIABLE = "ALPHABET_LSTM_HEARTBEAT_STALE_SECONDS"
# How long a run another live process writes is waited for, at most.
STALE_AFTER_SECONDS = 600
WAIT_POLL_SECONDS = 1.0
MAX_RUNS_PER_KEY = 100


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


def heartbeat_stale_seconds() -> float:
    """HEARTBEAT_STALE_SECONDS, or the seconds HEARTBEAT_STALE_VARIABLE gives."""
    given = os.environ.get(HEARTBEAT_STALE_VARIABLE) or str(HEARTBEAT_STALE_SECONDS)
    with suppress(ValueError):
        if float(given) > HEARTBEAT_SECONDS:  # nan is not
            return float(given)
    raise TrackingFailed(
        f"{HEARTBEAT_STALE_VARIABLE}={given} is not a number of seconds above {HEARTBEAT_SECONDS:g}, "
        f"the heartbeat's interval (unset, it is {HEARTBEAT_STALE_SECONDS:g})"
    )


def writer_gone(run, seen: dict[str, tuple[str, float]], now: float) -> bool:
    """Whether a RUNNING run's writer is gone: an exited process of this host (a log stage
    killed with SIGKILL), or another machine's whose heartbeat has not moved for
    heartbeat_stale_seconds() (``seen``: each such run's beat and when, monotonic, it was first seen)."""
    host, _, pid = run.data.tags.get(WRITER_TAG, "").rpartition(":")
    if host == socket.gethostname() and pid.isdigit():
        return int(pid) == os.getpid() or not _process_exists(int(pid))
    beat = run.data.tags.get(HEARTBEAT_TAG, "")
    value, since = seen.get(run.info.run_id, (None, now))
    if value != beat:
        seen[run.info.run_id] = (beat, now)
        return False
    return now - since > heartbeat_stale_seconds()


def runs_with(store: Store, tag: str, value: str) -> list:
    return store.client.search_runs(
        [store.experiment_id], filter_string=f"tags.{tag} = '{value}'", max_results=MAX_RUNS_PER_KEY
    )


def settle_runs(store: Store, tag: str, value: str):
    """The FINISHED run whose ``tag`` is ``value``, or None, once no run with it hangs: one
    whose writer is gone is ended KILLED, one a live writer holds is waited for."""
    deadline = time.monotonic() + STALE_AFTER_SECONDS
    seen: dict[str, tuple[str, float]] = {}
    while True:
        finished, live = None, False
        for run in runs_with(store, tag, value):
            if run.info.status == "FINISHED":
                finished = finished or run
            elif run.info.status == "RUNNING":
                if writer_gone(run, seen, time.monotonic()):
                    store.client.set_terminated(run.info.run_id, "KILLED")
                else:
                    live = True
        if finished is not None or not live or time.monotonic() > deadline:
            return finished
        time.sleep(WAIT_POLL_SECONDS)


@contextmanager
def heartbeat(store: Store, run_id: str) -> Iterator[None]:
    """Count the run's HEARTBEAT_TAG up every HEARTBEAT_SECONDS while the block runs. A beat
    that fails (the server busy or gone) is skipped: the block's own requests report that."""
    stop = threading.Event()

    def beat() -> None:
        count = 0
        while not stop.wait(HEARTBEAT_SECONDS):
            count += 1
            with suppress(MlflowException, OSError):
                store.client.set_tag(run_id, HEARTBEAT_TAG, str(count), synchronous=True)

    thread = threading.Thread(target=beat, name=f"heartbeat-{run_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        # A beat stuck on a server that stopped answering is not waited for: it is a daemon,
        # and a beat landing after the run ended changes nothing.
        thread.join(timeout=HEARTBEAT_SECONDS)


def earlier_claim(store: Store, tag: str, value: str, own) -> str | None:
    """Another run with the key, RUNNING or FINISHED, started before ``own`` (ties by run id)."""
    mine = (own.info.start_time, own.info.run_id)
    for run in runs_with(store, tag, value):
        if (
            run.info.run_id != own.info.run_id
            and run.info.status in ("RUNNING", "FINISHED")
            and (run.info.start_time, run.info.run_id) < mine
        ):
            return run.info.run_id
    return None
