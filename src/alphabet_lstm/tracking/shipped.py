"""The project files an MLflow model carries, so that it loads without this package installed:
every module the model's code file (tracking/pyfunc_entry.py) reaches by its imports, as
``code_paths`` without the ``__init__.py`` files (namespace packages, so an installed
package still wins over the shipped copy).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from alphabet_lstm.source_code import PACKAGE, PACKAGE_ROOT, imports_of, module_closure, module_path

# The models-from-code file MLflow stores as the model and runs when loading it.
ENTRY_MODULE = "alphabet_lstm.tracking.pyfunc_entry"
ENTRY_FILE = PACKAGE_ROOT / "tracking" / "pyfunc_entry.py"


def code_files() -> list[Path]:
    """The package files the entry file runs (``alphabet_lstm/model/querying.py``, ...),
    sorted; neither the entry file nor ``__init__``."""
    paths = (module_path(name) for name in module_closure(ENTRY_MODULE) if name != ENTRY_MODULE)
    return sorted(path.relative_to(PACKAGE_ROOT.parent) for path in paths if path and path.name != "__init__.py")


def third_party_imports() -> set[str]:
    """What the model's environment must hold: the shipped files' third-party imports."""
    files = [PACKAGE_ROOT.parent / relative for relative in code_files()] + [ENTRY_FILE]
    tops = {name.split(".")[0] for path in files for name in imports_of(path)}
    return tops - {PACKAGE} - sys.stdlib_module_names


def copy_code(destination: Path) -> Path:
    """The shipped files copied under ``destination/alphabet_lstm``; returns that directory
    (MLflow copies it into the model's ``code/`` and puts ``code/`` on sys.path)."""
    for relative in code_files():
        target = destination / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(PACKAGE_ROOT.parent / relative, target)
    return destination / PACKAGE
