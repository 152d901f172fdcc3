"""Which project modules a module runs: its imports, followed through the package.

One source for two uses: the test that checks every stage in dvc.yaml lists exactly the
modules its command runs, and the training fingerprint (a saved model is reused only if
the code that trained it is unchanged). Imports are read from the source (``ast``), so
nothing is executed; imports inside functions count too, because they run when called.
"""

from __future__ import annotations

import ast
import hashlib
from functools import lru_cache
from pathlib import Path

PACKAGE = "alphabet_lstm"
PACKAGE_ROOT = Path(__file__).resolve().parent


def module_path(module: str) -> Path | None:
    """The source file of a project module (``alphabet_lstm.model.lstm``), or None."""
    parts = module.split(".")
    if parts[0] != PACKAGE:
        return None
    base = PACKAGE_ROOT.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported_modules(path: Path) -> set[str]:
    """Project modules named by the import statements of one file."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from alphabet_lstm.model import engine_fast` names a module; the package
            # itself counts only when a name is taken from it.
            submodules = {f"{node.module}.{alias.name}" for alias in node.names}
            found = {name for name in submodules if module_path(name) is not None}
            names.update(found)
            if len(found) < len(submodules):
                names.add(node.module)
    return {name for name in names if module_path(name) is not None}


@lru_cache(maxsize=None)
def module_closure(module: str) -> tuple[str, ...]:
    """``module`` and every project module it imports, directly or not, sorted."""
    seen: set[str] = set()
    pending = [module]
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        pending.extend(_imported_modules(module_path(name)) - seen)
    return tuple(sorted(seen))


def closure_files(module: str) -> list[Path]:
    """The source files of :func:`module_closure`, sorted by module name."""
    return [module_path(name) for name in module_closure(module)]


def code_digest(module: str) -> str:
    """sha256 over the source of every module ``module`` runs (names and bytes)."""
    digest = hashlib.sha256()
    for name, path in zip(module_closure(module), closure_files(module)):
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()
