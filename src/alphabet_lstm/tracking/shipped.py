"""The project files an MLflow model carries, so that it loads without this package installed.

The list is derived from the imports of the model's code file (tracking/pyfunc_entry.py),
followed through every ``alphabet_lstm`` module it reaches, so it follows the code when a
module moves. The files travel as MLflow ``code_paths`` under ``alphabet_lstm/`` without the
packages' ``__init__.py`` files (Python imports the directories as namespace packages): the
package's own ``__init__`` modules are not needed to predict, and where the project is
installed its regular package still wins over the shipped copy.
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
    """The package files the entry file runs, relative to the package's parent directory
    (``alphabet_lstm/querying.py``, ...), sorted; neither the entry file nor ``__init__``."""
    paths = (module_path(name) for name in module_closure(ENTRY_MODULE) if name != ENTRY_MODULE)
    return sorted(path.relative_to(PACKAGE_ROOT.parent) for path in paths if path and path.name != "__init__.py")


def third_party_imports() -> set[str]:
    """The top-level names of what the shipped files import from outside the package and
    the standard library: what the model's environment must hold."""
    names = {name for relative in code_files() for name in imports_of(PACKAGE_ROOT.parent / relative)}
    names |= imports_of(ENTRY_FILE)
    return {
        top for top in (name.split(".")[0] for name in names) if top != PACKAGE and top not in sys.stdlib_module_names
    }


def copy_code(destination: Path) -> Path:
    """The shipped files copied under ``destination/alphabet_lstm``; returns that directory
    (MLflow copies it into the model's ``code/`` and puts ``code/`` on sys.path)."""
    for relative in code_files():
        target = destination / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(PACKAGE_ROOT.parent / relative, target)
    return destination / PACKAGE
