"""Write or check dvc.yaml's dependencies: each stage's code deps and per-framing params keys.

`python tools/stage_deps.py [--write] [dvc.yaml]` (`make deps` writes both dvc.yaml files).
Code deps: the project modules a stage's command runs (alphabet_lstm.source_code follows
its imports). Params: generate and encode read a few keys of every framing, and DVC's params
take no wildcard (framings.*.dataset), so their keys are listed per framing of params.yaml:
a batch size change then reruns neither. A framing added to params.yaml needs `make deps`.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import yaml

from alphabet_lstm.source_code import PACKAGE_ROOT, closure_files, module_path

CORE_PREFIX = "${core}/"
PARAMS_PREFIX = "framings."
_STAGE_COMMAND = re.compile(r"python -m (alphabet_lstm\.stages\.\w+)")

# The keys of each framing that a one-process-for-all-framings stage reads
# (tests/test_stage_dependencies.py checks them against what the stage's output depends on).
FRAMING_KEYS_READ = {
    "alphabet_lstm.stages.generate": ("dataset",),
    "alphabet_lstm.stages.encode": ("dataset", "layout"),
}


def stage_code_deps(module: str) -> list[str]:
    """dvc.yaml's code deps for a stage module: the module first, then the rest sorted."""
    own_path = module_path(module)
    if own_path is None:
        raise ValueError(f"{module} is not a module of the project")
    own = own_path.relative_to(PACKAGE_ROOT).as_posix()
    paths = [path.relative_to(PACKAGE_ROOT).as_posix() for path in closure_files(module)]
    return [CORE_PREFIX + own] + sorted(CORE_PREFIX + path for path in paths if path != own)


def stage_framing_params(module: str, framings: list[str]) -> list[str]:
    """dvc.yaml's params keys for a stage that reads some keys of every framing."""
    return [f"{PARAMS_PREFIX}{name}.{key}" for name in framings for key in FRAMING_KEYS_READ[module]]


def _replace_run(lines: list[str], index: int, prefix: str, entries: list[str], result: list[str]) -> int:
    """Replace the run of ``- <prefix>...`` list items starting at ``index`` with ``entries``;
    returns the index after the run."""
    line = lines[index]
    indent = line[: len(line) - len(line.lstrip())]
    while index < len(lines) and lines[index].lstrip().startswith(f"- {prefix}"):
        index += 1
    result.extend(f"{indent}- {entry}\n" for entry in entries)
    return index


def synced_dvc_yaml(text: str, framings: list[str] | None = None) -> str:
    """dvc.yaml with each stage's ``${core}/`` deps replaced by what its command runs and,
    given the framings of params.yaml, the per-framing params keys of generate and encode.

    Works on the text, so comments and layout stay; a stage's code deps are the run of
    ``- ${core}/...`` lines in its deps list, its framing keys the run of ``- framings....``.
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
        if module in FRAMING_KEYS_READ and framings is not None and item.startswith(f"- {PARAMS_PREFIX}"):
            index = _replace_run(lines, index, PARAMS_PREFIX, stage_framing_params(module, framings), result)
            continue
        result.append(line)
        index += 1
    return "".join(result)


def framing_names(params_path: Path) -> list[str]:
    """The framings of params.yaml, in its order."""
    return list(yaml.safe_load(params_path.read_text(encoding="utf-8"))["framings"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dvc_yaml", nargs="?", default="dvc.yaml")
    parser.add_argument("--params", default="params.yaml", help="params.yaml whose framings generate and encode read")
    parser.add_argument("--write", action="store_true", help="rewrite the file instead of checking it")
    args = parser.parse_args(argv)
    path = Path(args.dvc_yaml)
    text = path.read_text(encoding="utf-8")
    synced = synced_dvc_yaml(text, framing_names(Path(args.params)))
    if synced == text:
        return 0
    if args.write:
        path.write_text(synced, encoding="utf-8")
        print(f"{path}: deps rewritten from the stages' imports and params.yaml's framings", file=sys.stderr)
        return 0
    print(f"{path}: deps differ from the stages' imports or params.yaml's framings; run `make deps`", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
