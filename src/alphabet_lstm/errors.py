"""How entry points fail: one clear line for the user's mistakes, no traceback."""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable


class UsageError(ValueError):
    """A mistake the user can fix (a missing input, an unknown letter, a server that does
    not answer...). Modules that add such errors subclass it; entry points print it."""


class ParamsError(UsageError):
    """A params file that does not fit the schema. ``problems`` holds one line per error."""

    def __init__(self, problems: list[str], source: str = "params.yaml"):
        self.problems = problems
        self.source = source
        super().__init__("\n".join(f"{source}: {problem}" for problem in problems))


def run_entry_point(main: Callable[[list[str] | None], None], argv: list[str] | None = None) -> int:
    """Run ``main``; user errors print ``error: ...`` lines and exit 2, signals 130/143.

    Under DVC (which names the stage in ``DVC_STAGE``), a failure also says how to get the
    stage's previous outputs back (DVC removes them before it runs a stage's command, unless
    they are declared ``persist``).
    """
    try:
        main(argv)
        return 0
    except UsageError as error:
        for line in str(error).splitlines():
            print(f"error: {line}", file=sys.stderr)
        code = 2
    except KeyboardInterrupt as stop:  # interrupts.Terminated (SIGTERM) is one, with its own status
        print(str(stop) or "interrupted", file=sys.stderr)
        code = getattr(stop, "exit_status", 130)
    except Exception:
        traceback.print_exc()
        code = 1
    stage = os.environ.get("DVC_STAGE")
    if stage:
        print(
            f"note: stage {stage} failed; if its outputs are gone, `dvc checkout {stage}` restores them "
            "from DVC's cache (`git checkout -- <path>` for those git tracks)",
            file=sys.stderr,
        )
    return code
