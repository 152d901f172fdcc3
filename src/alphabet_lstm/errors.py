"""How entry points fail: one clear line for the user's mistakes, no traceback."""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable

from alphabet_lstm.interrupts import Terminated
from alphabet_lstm.params import ParamsError


class UsageError(ValueError):
    """A mistake the user can fix (a missing input, an unknown letter, a server that does
    not answer...). Modules that add such errors subclass it; entry points print it."""


def run_entry_point(main: Callable[[list[str] | None], None], argv: list[str] | None = None) -> int:
    """Run ``main``; user errors print ``error: ...`` lines and exit 2, signals 130/143.

    Under DVC (which names the stage in ``DVC_STAGE``), a failure also says how to get the
    stage's previous outputs back (DVC removes them before it runs a stage's command, unless
    they are declared ``persist``).
    """
    try:
        main(argv)
        return 0
    except (ParamsError, UsageError) as error:
        for line in str(error).splitlines():
            print(f"error: {line}", file=sys.stderr)
        code = 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        code = 130
    except Terminated:
        print("terminated", file=sys.stderr)
        code = 143
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
