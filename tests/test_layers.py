"""The package's house: each module on its floor, six floors, no import back up.

A room is a top-level module of ``alphabet_lstm`` or one of its folders (imports inside a
folder do not count); a room stands one floor above the highest room it imports, type-only
imports and imports inside functions included. docs/architecture.md names the layers.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

PACKAGE_ROOT = Path(__file__).resolve().parents[1] / "src" / "alphabet_lstm"

FLOORS = {
    "alphabet": 1,
    "errors": 1,
    "progress": 1,
    "source_code": 1,
    "interrupts": 2,  # SIGTERM is the errors module's Terminated
    "params": 2,
    "data": 3,
    "model": 3,
    "evaluation": 4,
    "artifacts": 4,
    "formats": 4,
    "report": 5,
    "tracking": 5,
    "sweep": 5,
    "stages": 6,
    "cli": 6,
}
SIBLINGS = {"report", "tracking", "sweep"}


def room_of(module: str) -> str | None:
    """``alphabet_lstm.model.lstm`` -> ``model``; None for the package itself or another package."""
    parts = module.split(".")
    return parts[1] if parts[0] == "alphabet_lstm" and len(parts) > 1 else None


def imported_modules(path: Path) -> set[str]:
    """Every ``alphabet_lstm`` module (or package) a source file imports, absolute or relative."""
    package = ["alphabet_lstm", *path.relative_to(PACKAGE_ROOT).parent.parts]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found.update([module, *(f"{module}.{alias.name}" for alias in node.names)])
    return {module for module in found if module.startswith("alphabet_lstm.")}


def room_imports() -> dict[str, set[str]]:
    """Each room and the other rooms it imports."""
    rooms: dict[str, set[str]] = {}
    for path in PACKAGE_ROOT.rglob("*.py"):
        if path == PACKAGE_ROOT / "__init__.py":
            continue
        room = path.relative_to(PACKAGE_ROOT).parts[0].removesuffix(".py")
        targets = {room_of(module) for module in imported_modules(path)}
        rooms.setdefault(room, set()).update(target for target in targets if target and target != room)
    return rooms


def floors(rooms: dict[str, set[str]]) -> dict[str, int]:
    """Each room's floor; ValueError naming the rooms of an import loop."""

    @cache
    def floor(room: str, path: tuple[str, ...] = ()) -> int:
        if room in path:
            raise ValueError(f"import loop: {' -> '.join([*path, room])}")
        return 1 + max((floor(target, (*path, room)) for target in rooms[room]), default=0)

    return {room: floor(room) for room in rooms}


ROOMS = room_imports()
MEASURED = floors(ROOMS)


def test_the_house_has_at_most_six_floors():
    assert max(MEASURED.values()) <= 6, sorted(MEASURED.items(), key=lambda item: item[1])


@pytest.mark.parametrize("room", sorted(ROOMS))
def test_each_room_stands_on_its_layer(room):
    assert room in FLOORS, f"{room} is on no layer of FLOORS (and docs/architecture.md)"
    too_high = {target: FLOORS.get(target) for target in ROOMS[room] if FLOORS.get(target, 99) >= FLOORS[room]}
    assert not too_high, f"{room} (floor {FLOORS[room]}) imports rooms on its floor or above: {too_high}"


def test_report_tracking_and_sweep_stand_side_by_side():
    crossing = {room: ROOMS[room] & SIBLINGS for room in SIBLINGS if ROOMS.get(room, set()) & SIBLINGS}
    assert not crossing, crossing


def test_the_floors_are_measured_from_the_imports():
    # The measure itself, on a small house: a loop is refused, a chain stacks floors.
    assert floors({"a": set(), "b": {"a"}, "c": {"a", "b"}}) == {"a": 1, "b": 2, "c": 3}
    with pytest.raises(ValueError, match="import loop: a -> b -> a"):
        floors({"a": {"b"}, "b": {"a"}})
    assert imported_modules(PACKAGE_ROOT / "data.py") >= {"alphabet_lstm.params", "alphabet_lstm.alphabet"}
