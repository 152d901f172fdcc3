"""How entry points fail: one clear line for the user's mistakes, no traceback."""

from __future__ import annotations

import gc
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from functools import cache
from typing import NoReturn


class UsageError(ValueError):
    """A mistake the user can fix (a missing input, an unknown letter...): entry points print it in one line."""


class ParamsError(UsageError):
    """A params file that does not fit the schema. ``problems`` holds one line per error."""

    def __init__(self, problems: list[str], source: str = "params.yaml"):
        self.problems = problems
        self.source = source
        super().__init__("\n".join(f"{source}: {problem}" for problem in problems))


class Terminated(KeyboardInterrupt):
    """SIGTERM as a KeyboardInterrupt: entry points print ``terminated`` and end with 143, as a shell's kill does."""


STOPPED_BY = {130: "interrupted (Ctrl-C)", 143: "terminated (SIGTERM)"}
# Set by SIGTERM: a library that turns the Terminated raised inside it into an error of its
# own (pydantic-core building a schema) must still end the process as terminated.
_SIGTERM_RECEIVED = threading.Event()
# How long a terminated process may take to clean up before it is ended regardless: raised
# at any point, Terminated can leave a lock held that the cleanup then waits for (bpo-29988,
# seen as a stage stuck in subprocess.run's wait after SIGTERM).
STOP_GRACE_SECONDS = 30.0


def _raise_terminated(signal_number, frame) -> None:
    _SIGTERM_RECEIVED.set()
    raise Terminated


@cache
def _watch_for_stuck_cleanup() -> None:
    """Start, once per process, the thread that ends it STOP_GRACE_SECONDS after a SIGTERM."""

    def end_when_stuck() -> None:
        _SIGTERM_RECEIVED.wait()
        time.sleep(STOP_GRACE_SECONDS)
        print(f"terminated (SIGTERM): cleanup still running after {STOP_GRACE_SECONDS:g} s; ended", file=sys.stderr)
        os._exit(143)

    threading.Thread(target=end_when_stuck, name="sigterm-watchdog", daemon=True).start()


def run_entry_point(main: Callable[[list[str] | None], None], argv: list[str] | None = None) -> int:
    """Run ``main``; user errors print ``error: ...`` lines and exit 2, signals 130/143.
    SIGTERM is raised as Terminated: Python's default would end the process without a word.
    Under DVC (``DVC_STAGE`` names the stage), a failure also says how to restore its outputs."""
    _watch_for_stuck_cleanup()
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        main(argv)
        return 0
    except UsageError as error:
        for line in str(error).splitlines():
            print(f"error: {line}", file=sys.stderr)
        code = 2
    except Terminated:
        code = 143
    except KeyboardInterrupt:
        code = 130
    except Exception:
        if _SIGTERM_RECEIVED.is_set():  # a library's own error around the Terminated raised in it
            code = 143
        else:
            import traceback  # a bug's report only: not loaded at every start

            traceback.print_exc()
            code = 1
    finally:
        signal.signal(signal.SIGTERM, previous)
    if code in STOPPED_BY:
        print(f"{STOPPED_BY[code]}: stopped before finishing; no output was half-written", file=sys.stderr)
    if stage := os.environ.get("DVC_STAGE"):
        print(recovery_note(stage), file=sys.stderr)
    return code


def run_stage(main: Callable[[list[str] | None], None]) -> NoReturn:
    """A DVC stage's ``__main__``: run_entry_point, then exit with its status. Every output is
    closed by then: a frozen heap spares the exit a full garbage collection (up to a second)."""
    status = run_entry_point(main)
    gc.freeze()
    sys.exit(status)


def recovery_note(stage: str) -> str:
    """What restores a failed stage's outputs (DVC removed them before the command ran), read
    from its declaration in dvc.yaml: docs/reliability.md. Without a readable dvc.yaml, the general advice."""
    keepers: dict[str, list[str]] = {"cached": [], "tracked": [], "rewritten": []}
    try:
        from dvc.repo import Repo

        with Repo(os.environ.get("DVC_ROOT")) as repo:
            [declared] = repo.stage.collect(stage)
            for out in declared.outs:
                keeper = "cached" if out.use_cache else "tracked" if repo.scm.is_tracked(out.fs_path) else "rewritten"
                keepers[keeper].append(os.path.relpath(out.fs_path, repo.root_dir))
            # A persist output is not removed but may be partly replaced: DVC overwrites only with --force.
            persisted = any(out.use_cache and out.persist for out in declared.outs)
    except Exception:  # whatever DVC raises on a project it cannot read
        return (
            f"note: stage {stage} failed; if its outputs are gone, `dvc checkout {stage}` restores them from "
            "DVC's cache (`git checkout -- <path>` for those git tracks)"
        )
    cached, tracked, rewritten = keepers.values()
    checkout = "dvc checkout --force" if persisted else "dvc checkout"
    steps = [f"`{checkout} {stage}` restores {', '.join(cached)}"] if cached else []
    if tracked:
        steps.append(f"`git checkout -- {' '.join(tracked)}` restores {'the rest' if cached else 'them'}")
    if rewritten:
        verb, pronoun = ("needs", "it") if len(rewritten) == 1 else ("need", "them")
        steps.append(f"{', '.join(rewritten)} {verb} no restoring: the next `dvc repro` writes {pronoun} again")
    return f"note: stage {stage} failed; " + "; ".join(steps)
