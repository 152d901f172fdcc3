"""How an entry point ends: a user's mistake in one line (exit 2), Ctrl-C 130, SIGTERM 143."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import pytest

from alphabet_lstm.errors import ParamsError, UsageError, run_entry_point

# A real process: the signal arrives while the loop waits at its safe point.
SIGNALLED = textwrap.dedent(
    """
    import os, signal, sys, time
    from alphabet_lstm.errors import run_entry_point
    from alphabet_lstm.interrupts import deferred_signals

    def main(argv):
        with deferred_signals() as stop:
            os.kill(os.getpid(), int(sys.argv[1]))
            while True:
                stop.check()
                time.sleep(0.01)

    sys.exit(run_entry_point(main))
    """
)


@pytest.mark.pipeline
@pytest.mark.parametrize(
    "signal_number, status, line",
    [
        (signal.SIGINT, 130, "interrupted (Ctrl-C): stopped before finishing; no output was half-written"),
        (signal.SIGTERM, 143, "terminated (SIGTERM): stopped before finishing; no output was half-written"),
    ],
    ids=["SIGINT", "SIGTERM"],
)
def test_a_signal_ends_the_entry_point_with_its_status(signal_number, status, line):
    result = subprocess.run(
        [sys.executable, "-c", SIGNALLED, str(int(signal_number))], capture_output=True, text=True, timeout=60
    )
    assert (result.returncode, result.stderr.strip()) == (status, line)


# The first signal waits for a safe point that never comes; the second must stop it at once.
SIGNALLED_TWICE = textwrap.dedent(
    """
    import os, signal, sys, time
    from alphabet_lstm.errors import run_entry_point
    from alphabet_lstm.interrupts import deferred_signals

    def main(argv):
        with deferred_signals():
            os.kill(os.getpid(), signal.SIGTERM)
            print("first held", flush=True)
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(30)
            print("not stopped", flush=True)

    sys.exit(run_entry_point(main))
    """
)


@pytest.mark.pipeline
def test_a_second_signal_stops_at_once_without_a_safe_point():
    result = subprocess.run([sys.executable, "-c", SIGNALLED_TWICE], capture_output=True, text=True, timeout=20)
    assert (result.returncode, result.stdout, result.stderr.strip()) == (
        130,
        "first held\n",
        "interrupted (Ctrl-C): stopped before finishing; no output was half-written",
    )


def test_a_params_error_is_a_usage_error_printed_line_by_line(capsys):
    def main(argv):
        raise ParamsError(["seeds: got []", "framings: missing"], "p.yaml")

    assert issubclass(ParamsError, UsageError)
    assert run_entry_point(main) == 2
    assert capsys.readouterr().err.splitlines() == ["error: p.yaml: seeds: got []", "error: p.yaml: framings: missing"]
