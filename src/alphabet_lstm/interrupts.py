"""Ctrl-C and SIGTERM turned into an exception at a safe point of the training loop: raised
by Python's default handler inside a garbage-collector callback, it would be printed and
ignored. The handlers record the signal; the loop calls :meth:`StopRequest.check` between
compiled chunks (every ~0.25 s). A second signal raises at once.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager

from alphabet_lstm.errors import Terminated


class StopRequest:
    """Remembers the first SIGINT or SIGTERM received."""

    def __init__(self) -> None:
        self.signal_number: int | None = None

    def handle(self, signal_number, frame) -> None:
        repeated = self.signal_number is not None
        self.signal_number = signal_number
        if repeated:
            self.check()

    def check(self) -> None:
        if self.signal_number == signal.SIGINT:
            raise KeyboardInterrupt
        if self.signal_number is not None:
            raise Terminated


@contextmanager
def deferred_signals() -> Iterator[StopRequest]:
    """Install the recording handlers for SIGINT and SIGTERM for the duration."""
    request = StopRequest()
    previous = {number: signal.signal(number, request.handle) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield request
        request.check()
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
