"""How entry points fail: one clear line for the user's mistakes, no traceback."""

from __future__ import annotations

import sys
from typing import Callable

from alphabet_lstm.params import ParamsError
from alphabet_lstm.tracking import Terminated, TrackingFailed, TrackingUnavailable


class UsageError(ValueError):
    """A mistake in how a command was called (a missing input, an unknown letter...)."""


USER_ERRORS = (ParamsError, TrackingUnavailable, TrackingFailed, UsageError)


def run_entry_point(main: Callable[[list[str] | None], None], argv: list[str] | None = None) -> int:
    """Run ``main``; user errors print ``error: ...`` lines and exit 2, signals 130/143."""
    try:
        main(argv)
    except USER_ERRORS as error:
        for line in str(error).splitlines():
            print(f"error: {line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print("terminated", file=sys.stderr)
        return 143
    return 0
