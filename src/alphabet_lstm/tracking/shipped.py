"""The project files an MLflow model carries, so that it loads without this package installed.

The list is derived from the imports of the model's code file (tracking/pyfunc_entry.py),
followed through every ``alphabet_lstm`` module it reaches, so it follows the code when a
module moves. The files travel as MLflow ``code_paths`` under ``alphabet_lstm/`` without the
packages' ``__init__.py`` files (Python imports the directories as namespace packages): the
package's own ``__init__`` modules are not needed to predict, and where the project is
installed its regular package still wins over the shipped copy.
"""

from __future__ import annotations

import ast
import shutil
import sys
from pathlib import Path

PACKAGE = "alphabet_lstm"
PACKAGE_ROOT = Path(__file__).resolve().parents[1]
# The models-from-code file MLflow stores as the model and runs when loading it.
ENTRY_FILE = PACKAGE_ROOT / "tracking" / "pyfunc_entry.py"


def module_file(module: str) -> Path | None:
    """The source file of an ``alphabet_lstm`` module, or None if ``module`` is not one."""
    parts = module.split(".")
    if parts[0] != PACKAGE:
        return None
    base = PACKAGE_ROOT.joinpath(*parts[1:])
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return None


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports at its top level or anywhere inside (absolute imports)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            # `from package import module` imports a module, not a name.
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def code_files(entry: Path = ENTRY_FILE) -> list[Path]:
    """The package files the entry file needs, relative to the package's parent directory
    (``alphabet_lstm/querying.py``, ...), sorted; the entry file itself is not among them."""
    seen: set[Path] = set()
    pending = [entry]
    while pending:
        for module in imported_modules(pending.pop()):
            path = module_file(module)
            if path is not None and path.name != "__init__.py" and path not in seen:
                seen.add(path)
                pending.append(path)
    return sorted(path.relative_to(PACKAGE_ROOT.parent) for path in seen)


def third_party_imports(entry: Path = ENTRY_FILE) -> set[str]:
    """The top-level names of what the shipped files import from outside the package and
    the standard library: what the model's environment must hold."""
    names: set[str] = set()
    for relative in [entry.relative_to(PACKAGE_ROOT.parent), *code_files(entry)]:
        for module in imported_modules(PACKAGE_ROOT.parent / relative):
            top = module.split(".")[0]
            if top != PACKAGE and top not in sys.stdlib_module_names:
                names.add(top)
    return names


def copy_code(destination: Path, entry: Path = ENTRY_FILE) -> Path:
    """The shipped files copied under ``destination/alphabet_lstm``; returns that directory
    (MLflow copies it into the model's ``code/`` and puts ``code/`` on sys.path)."""
    for relative in code_files(entry):
        target = destination / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(PACKAGE_ROOT.parent / relative, target)
    return destination / PACKAGE
