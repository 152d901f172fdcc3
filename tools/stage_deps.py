"""Write or check dvc.yaml's code dependencies: each stage's modules, from its imports.

`python tools/stage_deps.py [--write] [dvc.yaml]` (`make deps` writes both dvc.yaml files).
Code deps: the project modules a stage's command runs (alphabet_lstm.source_code follows
its imports).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from alphabet_lstm.source_code import PACKAGE_ROOT, closure_files, module_path

CORE_PREFIX = "${core}/"
_STAGE_COMMAND = re.compile(r"python -m (alphabet_lstm\.stages\.\w+)")


def stage_code_deps(module: str) -> list[str]:
    """dvc.yaml's code deps for a stage module: the module first, then the rest sorted."""
    own_path = module_path(module)
    if own_path is None:
        raise ValueError(f"{module} is not a module of the project")
    own = own_path.relative_to(PACKAGE_ROOT).as_posix()
    paths = [path.relative_to(PACKAGE_ROOT).as_posix() for path in closure_files(module)]
    return [CORE_PREFIX + own] + sorted(CORE_PREFIX + path for path in paths if path != own)


def _replace_run(lines: list[str], index: int, prefix: str, entries: list[str], result: list[str]) -> int:
    """Replace the run of ``- <prefix>...`` list items starting at ``index`` with ``entries``;
    returns the index after the run."""
    line = lines[index]
    indent = line[: len(line) - len(line.lstrip())]
    while index < len(lines) and lines[index].lstrip().startswith(f"- {prefix}"):
        index += 1
    result.extend(f"{indent}- {entry}\n" for entry in entries)
    return index


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
        item = line.lstrip()
        if module and item.startswith(f"- {CORE_PREFIX}"):
            index = _replace_run(lines, index, CORE_PREFIX, stage_code_deps(module), result)
            continue
        result.append(line)
        index += 1
    return "".join(result)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
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
    print(f"{path}: code deps differ from the stages' imports; run `make deps`", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
