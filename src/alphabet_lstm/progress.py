"""Training progress through tqdm: on a terminal one live line per reporter (seeds trained
in parallel threads each keep theirs), redrawn at most 5 times a second; elsewhere (logs,
files, where redraws would pile up) a plain line at each quarter of the epochs.
"""

from __future__ import annotations

import sys
from typing import TextIO

from tqdm import tqdm

TERMINAL_INTERVAL_SECONDS = 0.2
# tqdm puts ", " before a non-empty {postfix}.
TERMINAL_FORMAT = "[{desc}] {percentage:3.0f}%|{bar}| epoch {n_fmt}/{total_fmt}{postfix} [{elapsed}<{remaining}]"
LOG_FORMAT = "[{desc}] epoch {n_fmt}/{total_fmt}{postfix}, elapsed {elapsed}, eta {remaining}"


class ProgressReporter:
    """``update(epoch, loss, accuracy)`` after each chunk of epochs; closes at the last epoch."""

    def __init__(self, label: str, total_epochs: int, stream: TextIO | None = None):
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()
        self.next_milestone = 0
        self.bar = tqdm(
            total=total_epochs,
            desc=label,
            file=self.stream,
            bar_format=TERMINAL_FORMAT if self.live else LOG_FORMAT,
            dynamic_ncols=self.live,
            mininterval=TERMINAL_INTERVAL_SECONDS,
            # Off a terminal tqdm never draws (an infinite delay): update() prints the lines.
            delay=0 if self.live else float("inf"),
        )

    def update(self, epoch: int, loss: float, accuracy: float) -> None:
        self.bar.set_postfix_str(f"loss {loss:.4f}, accuracy {accuracy:.3f}", refresh=False)
        self.bar.update(epoch - self.bar.n)
        # Off a terminal, a line per quarter of the epochs (one if a chunk passes several).
        quarters = 4 * epoch // self.bar.total
        if not self.live and quarters > self.next_milestone:
            self.next_milestone = quarters
            # tqdm's lock: other seeds' reporters write to the same stream from their threads.
            with tqdm.get_lock():
                print(str(self.bar), file=self.stream, flush=True)
        if epoch >= self.bar.total:
            self.bar.close()
