"""`dvc exp run -S` on this project's params.yaml changes the values it sets and nothing else.

params.yaml is kept in the form DVC's writer gives it (lists in block style, long strings
wrapped, no blank line or comment after a list, which DVC drops when it rewrites one), so an
experiment's diff is its change. The experiment is queued, not run: the queue's stash commit
holds params.yaml exactly as DVC wrote it, and nothing is trained.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import make_clone, run

pytestmark = pytest.mark.e2e


def test_dvc_exp_run_set_param_changes_only_the_values_it_sets(tmp_path: Path):
    root = make_clone(tmp_path / "repo", epochs=None)
    run(
        [
            "dvc",
            "exp",
            "run",
            "--queue",
            "-S",
            "seeds=[7,8]",
            "-S",
            "framings.stateful.batch_size=5",
            "-S",
            "sweeps.one_char_budget.seeds=[7,8]",
        ],
        root,
    )
    diff = run(["git", "diff", "--unified=0", "main", "refs/exps/celery/stash", "--", "params.yaml"], root).stdout
    changed = [line for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    assert changed == [
        "+- 8",
        "-    batch_size: 1",
        "+    batch_size: 5",
        "-    - 9",
        "-    - 10",
        "-    - 11",
    ]
    run(["dvc", "exp", "remove", "--queue"], root)
