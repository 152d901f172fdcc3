"""Which project modules a module runs, and a digest of their source: the training
fingerprint embeds it, an MLflow model ships the files, the code stage writes both. Imports
are read from the source (``ast``), nothing executed; those inside functions count too.
"""

from __future__ import annotations

import ast
import hashlib
from functools import cache
from pathlib import Path
from typing import cast

PACKAGE = "alphabet_lstm"
PACKAGE_ROOT = Path(__file__).resolve().parent


def module_path(module: str) -> Path | None:
    """The source file of a project module (``alphabet_lstm.model.lstm``), or None."""
    parts = module.split(".")
    if parts[0] != PACKAGE:
        return None
    base = PACKAGE_ROOT.joinpath(*parts[1:])
    return next((file for file in (base.with_suffix(".py"), base / "__init__.py") if file.is_file()), None)


def _runtime_imports(path: Path) -> list[ast.Import | ast.ImportFrom]:
    """The absolute import statements of one file that run (not those under ``if TYPE_CHECKING:``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    type_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"
        for statement in node.body
        for inner in ast.walk(statement)
    }
    return [
        node
        for node in ast.walk(tree)
        if id(node) not in type_only
        and (isinstance(node, ast.Import) or (isinstance(node, ast.ImportFrom) and node.module and node.level == 0))
    ]


def imports_of(path: Path) -> set[str]:
    """Every module one file imports when it runs, top-level names included."""
    return {
        node.module if isinstance(node, ast.ImportFrom) and node.module else alias.name
        for node in _runtime_imports(path)
        for alias in node.names
    }


def _imported_modules(path: Path) -> set[str]:
    """Project modules named by the import statements of one file."""
    names: set[str] = set()
    for node in _runtime_imports(path):
        for alias in node.names:
            if isinstance(node, ast.Import):
                names.add(alias.name)
                continue
            # `from alphabet_lstm.model import engine_fast` names a module; the package
            # itself counts only when a name is taken from it.
            submodule = f"{node.module}.{alias.name}"
            names.add(submodule if module_path(submodule) is not None else str(node.module))
    return {name for name in names if module_path(name) is not None}


@cache
def module_closure(module: str) -> tuple[str, ...]:
    """``module`` and every project module it imports, directly or not, sorted."""
    seen: set[str] = set()
    pending = [module]
    while pending:
        name = pending.pop()
        if name in seen:  # pushed twice before its first visit: its imports are read once
            continue
        seen.add(name)
        path = module_path(name)
        if path is None:
            raise ValueError(f"{name} is not a module of {PACKAGE}")
        pending.extend(_imported_modules(path) - seen)
    return tuple(sorted(seen))


def code_digest(module: str) -> str:
    """sha256 over the source of every module ``module`` runs (names and bytes)."""
    digest = hashlib.sha256()
    for name in module_closure(module):
        digest.update(name.encode() + b"\0" + cast(Path, module_path(name)).read_bytes() + b"\0")
    return digest.hexdigest()
