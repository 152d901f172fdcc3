"""docs/reliability.md against the fault tests: every row names a test that exists, and every
fault test (tests/test_faults_*.py) has its row."""

from __future__ import annotations

import ast
import re

from conftest import REPO_ROOT

PAGE = REPO_ROOT / "docs" / "reliability.md"
ROW_TEST = re.compile(r"^\|.*\| `(tests/test_faults_\w+\.py)::(test_\w+)` \|$")


def page_rows() -> list[tuple[str, str]]:
    rows = [line for line in PAGE.read_text().splitlines() if line.startswith("| ") and "`tests/" in line]
    named = [ROW_TEST.match(line) for line in rows]
    assert all(named), [row for row, match in zip(rows, named) if not match]
    return [(match.group(1), match.group(2)) for match in named if match]


def fault_tests() -> set[tuple[str, str]]:
    found = set()
    for path in sorted((REPO_ROOT / "tests").glob("test_faults_*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                found.add((f"tests/{path.name}", node.name))
    return found


def test_every_row_of_the_reliability_page_names_a_fault_test_and_every_fault_test_has_a_row():
    rows = page_rows()
    assert len(rows) == len(set(rows)), "a test named by two rows"
    # This module checks the page; it is no fault of its own.
    tests = fault_tests() - {("tests/test_faults_page.py", name) for name in globals() if name.startswith("test_")}
    assert sorted(set(rows) - tests) == [], "rows naming a test that does not exist"
    assert sorted(tests - set(rows)) == [], "fault tests without a row in docs/reliability.md"
