"""Which project modules a module runs: its imports, followed through the package.

One source for two uses: the test that checks every stage in dvc.yaml lists exactly the
modules its command runs, and the training fingerprint (a saved model is reused only if
the code that trained it is unchanged). Imports are read from the source (``ast``), so
nothing is executed; imports inside functions count too, because they run when called.
"""

from __future__ import annotations

import ast
import hashlib
import re
import sys
from functools import cache
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


def _source(module: str) -> Path:
    """The source file of a project module; ValueError for a module outside the project."""
    path = module_path(module)
    if path is None:
        raise ValueError(f"{module} is not a module of {PACKAGE}")
    return path


def _runtime_imports(path: Path) -> list[ast.Import | ast.ImportFrom]:
    """The absolute import statements of one file that run: imports for type checkers
    only (under ``if TYPE_CHECKING:``) never do."""
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
        if name in seen:
            continue
        seen.add(name)
        pending.extend(_imported_modules(_source(name)) - seen)
    return tuple(sorted(seen))


def closure_files(module: str) -> list[Path]:
    """The source files of :func:`module_closure`, sorted by module name."""
    return [_source(name) for name in module_closure(module)]


def code_digest(module: str) -> str:
    """sha256 over the source of every module ``module`` runs (names and bytes)."""
    digest = hashlib.sha256()
    for name, path in zip(module_closure(module), closure_files(module)):
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


CORE_PREFIX = "${core}/"
_STAGE_COMMAND = re.compile(r"python -m (alphabet_lstm\.stages\.\w+)")


def stage_code_deps(module: str) -> list[str]:
    """dvc.yaml's code deps for a stage module: the module first, then the rest sorted."""
    paths = [path.relative_to(PACKAGE_ROOT).as_posix() for path in closure_files(module)]
    own = _source(module).relative_to(PACKAGE_ROOT).as_posix()
    return [CORE_PREFIX + own] + sorted(CORE_PREFIX + path for path in paths if path != own)


def synced_dvc_yaml(text: str) -> str:
    """dvc.yaml with each stage's ``${core}/`` deps replaced by what its command runs.

    Works on the text, so comments and layout stay; a stage's code deps are the run of
    ``- ${core}/...`` lines in its deps list.
    """
    lines = text.splitlines(keepends=True)
    result: list[str] = []
    module = None
    index = 0
    while index < len(lines):
        line = lines[index]
        found = _STAGE_COMMAND.search(line)
        if found:
            module = found.group(1)
        if module and line.lstrip().startswith(f"- {CORE_PREFIX}"):
            indent = line[: len(line) - len(line.lstrip())]
            while index < len(lines) and lines[index].lstrip().startswith(f"- {CORE_PREFIX}"):
                index += 1
            result.extend(f"{indent}- {dep}\n" for dep in stage_code_deps(module))
            module = None
            continue
        result.append(line)
        index += 1
    return "".join(result)


def main(argv: list[str] | None = None) -> int:
    """`python -m alphabet_lstm.dependencies [--write] [dvc.yaml]`: check or rewrite the code deps."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("dvc_yaml", nargs="?", default="dvc.yaml")
    parser.add_argument("--write", action="store_true", help="rewrite the file instead of checking it")
    args = parser.parse_args(argv)
    path = Path(args.dvc_yaml)
    text = path.read_text(encoding="utf-8")
    synced = synced_dvc_yaml(text)
    if synced == text:
        return 0
    if args.write:
        path.write_text(synced, encoding="utf-8")
        print(f"{path}: code deps rewritten from the stages' imports", file=sys.stderr)
        return 0
    print(
        f"{path}: code deps differ from the stages' imports; run `python -m alphabet_lstm.dependencies --write`",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
