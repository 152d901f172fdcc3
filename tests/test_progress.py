"""Progress output: a few whole lines in a log, a throttled live line on a terminal."""

from __future__ import annotations

import io
import re
import time

from alphabet_lstm.progress import TERMINAL_INTERVAL_SECONDS, ProgressReporter


class TerminalStream(io.StringIO):
    """A stream that says it is a terminal, as stderr does in an interactive shell."""

    def isatty(self) -> bool:
        return True


def test_a_log_gets_one_line_per_quarter_of_the_epochs():
    stream = io.StringIO()
    reporter = ProgressReporter("one_char seed 7", 100, stream=stream)
    for epoch in range(1, 101):
        reporter.update(epoch, loss=1.0 / epoch, accuracy=epoch / 100)
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue()
    assert [re.search(r"epoch (\d+)/100", line).group(1) for line in lines] == ["25", "50", "75", "100"]
    assert lines[-1].startswith("[one_char seed 7] epoch 100/100, loss 0.0100, accuracy 1.000, elapsed ")


def test_chunks_that_pass_several_quarters_give_one_line_each():
    stream = io.StringIO()
    reporter = ProgressReporter("stateful seed 8", 300, stream=stream)
    for epoch in (40, 160, 300):  # the fast engine reports after chunks of epochs
        reporter.update(epoch, loss=0.5, accuracy=0.5)
    assert [re.search(r"epoch (\d+)/", line).group(1) for line in stream.getvalue().splitlines()] == ["160", "300"]


def test_a_terminal_is_redrawn_at_most_five_times_a_second():
    stream = TerminalStream()
    reporter = ProgressReporter("batch_all seed 7", 20_000, stream=stream)
    started = time.monotonic()
    for epoch in range(1, 20_001):
        reporter.update(epoch, loss=0.1, accuracy=0.9)
    elapsed = time.monotonic() - started
    draws = stream.getvalue().count("\r")
    # One draw at the start, at most one per interval, and the final one when it closes.
    assert 2 <= draws <= elapsed / TERMINAL_INTERVAL_SECONDS + 3
    assert "epoch 20000/20000, loss 0.1000, accuracy 0.900" in stream.getvalue()
    assert stream.getvalue().endswith("\n")
