"""Training progress at a steady, bounded rate: live on a terminal, a few lines in logs."""

from __future__ import annotations

import sys
import time
from typing import TextIO

TERMINAL_INTERVAL_SECONDS = 0.2
LOG_MILESTONES = (0.25, 0.5, 0.75, 1.0)


def _format_seconds(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes}m{seconds:02d}s"


class ProgressReporter:
    """Prints ``[label] epoch n/N loss accuracy elapsed eta``.

    On a terminal the line is redrawn at most every 0.2 s; elsewhere (CI logs, files) one
    line is printed at each quarter of the epochs, so a training never floods a log.
    """

    def __init__(self, label: str, total_epochs: int, stream: TextIO | None = None):
        self.label = label
        self.total_epochs = total_epochs
        self.stream = stream if stream is not None else sys.stderr
        self.live = self.stream.isatty()
        self.started = time.monotonic()
        self.last_drawn = 0.0
        self.next_milestone = 0

    def line(self, epoch: int, loss: float, accuracy: float) -> str:
        elapsed = time.monotonic() - self.started
        remaining = elapsed / epoch * (self.total_epochs - epoch) if epoch else 0.0
        return (
            f"[{self.label}] epoch {epoch}/{self.total_epochs}  loss {loss:.4f}  "
            f"accuracy {accuracy:.3f}  elapsed {_format_seconds(elapsed)}  "
            f"eta {_format_seconds(remaining)}"
        )

    def update(self, epoch: int, loss: float, accuracy: float) -> None:
        if self.live:
            now = time.monotonic()
            if now - self.last_drawn >= TERMINAL_INTERVAL_SECONDS or epoch == self.total_epochs:
                self.last_drawn = now
                end = "\n" if epoch == self.total_epochs else ""
                print("\r" + self.line(epoch, loss, accuracy), end=end, file=self.stream, flush=True)
            return
        printed = False
        while (
            self.next_milestone < len(LOG_MILESTONES)
            and epoch >= LOG_MILESTONES[self.next_milestone] * self.total_epochs
        ):
            self.next_milestone += 1
            if not printed:
                print(self.line(epoch, loss, accuracy), file=self.stream, flush=True)
                printed = True
