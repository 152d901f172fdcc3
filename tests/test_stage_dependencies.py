"""dvc.yaml lists, for every stage, exactly the project modules its command runs.

The modules come from the stage module's imports, followed through the package
(alphabet_lstm.dependencies), so a code change reruns the stages it affects and no other.
"""

from __future__ import annotations

import re

import pytest
import yaml

from alphabet_lstm.dependencies import closure_files, PACKAGE_ROOT
from conftest import REPO_ROOT

CORE = "${core}/"
COMMAND = re.compile(r"python -m (alphabet_lstm\.stages\.\w+)")


def stage_definitions() -> dict[str, dict]:
    stages = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())["stages"]
    return {name: stage.get("do", stage) for name, stage in stages.items()}


@pytest.mark.parametrize("stage_name", sorted(stage_definitions()))
def test_stage_lists_exactly_the_modules_it_runs(stage_name):
    stage = stage_definitions()[stage_name]
    module = COMMAND.search(stage["cmd"]).group(1)
    listed = {dep[len(CORE):] for dep in stage["deps"] if dep.startswith(CORE)}
    runs = {path.relative_to(PACKAGE_ROOT).as_posix() for path in closure_files(module)}
    assert listed == runs, (
        f"{stage_name}: dvc.yaml lists modules it does not run: {sorted(listed - runs)}; "
        f"runs modules dvc.yaml does not list: {sorted(runs - listed)}"
    )
