"""Stage code: the code each stage runs, one file per stage module, named after it.

``<out-dir>/train.json`` lists the project modules ``alphabet_lstm.stages.train`` runs and
the sha256 of their source, the digest its models embed. Why each stage depends on its own
file and not on each module: docs/architecture.md.
"""

from __future__ import annotations

import argparse

from alphabet_lstm.artifacts import publish_directory, to_json
from alphabet_lstm.errors import run_stage
from alphabet_lstm.source_code import PACKAGE, PACKAGE_ROOT, code_digest, module_closure


def stage_modules() -> list[str]:
    names = sorted(path.stem for path in (PACKAGE_ROOT / "stages").glob("*.py"))
    return [f"{PACKAGE}.stages.{name}" for name in names if name not in ("__init__", "code")]


def code_document(module: str) -> dict:
    return {"module": module, "modules": list(module_closure(module)), "sha256": code_digest(module)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out-dir", required=True, help="directory to hold <stage>.json")
    args = parser.parse_args(argv)
    files = {f"{module.rpartition('.')[2]}.json": to_json(code_document(module)).encode() for module in stage_modules()}
    publish_directory(args.out_dir, files)


if __name__ == "__main__":
    run_stage(main)
