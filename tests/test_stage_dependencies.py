"""Each stage of dvc.yaml depends on the file the code stage writes for it (the project
modules its command runs, followed through the package's imports, and their digest), and
generate and encode on exactly the params their outputs depend on.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO_ROOT

from alphabet_lstm.params import ParamsError, parse_params
from alphabet_lstm.report.render import TEMPLATES
from alphabet_lstm.source_code import PACKAGE_ROOT
from alphabet_lstm.stages import code, encode, generate
from alphabet_lstm.stages.validate import datasets_document

DVC_YAML = REPO_ROOT / "dvc.yaml"
PARAMS = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())


def stage_definitions(dvc_yaml: Path) -> dict[str, dict]:
    """Each stage of a dvc.yaml by name, a foreach stage by its ``do`` block."""
    return {name: stage.get("do", stage) for name, stage in yaml.safe_load(dvc_yaml.read_text())["stages"].items()}


@pytest.mark.parametrize("dvc_yaml", [DVC_YAML, REPO_ROOT / "sweeps" / "dvc.yaml"], ids=["root", "sweeps"])
def test_every_stage_depends_on_the_code_file_of_the_module_it_runs(dvc_yaml: Path):
    written = set(code.stage_modules())
    for name, stage in stage_definitions(dvc_yaml).items():
        module = stage["cmd"].split("python -m ", 1)[1].split()[0]
        if name == "code":
            assert stage["deps"] == ["${core}"], "the code stage hashes the whole package"
            continue
        assert module in written, name
        assert f"${{code}}/{module.rpartition('.')[2]}.json" in stage["deps"], name
        assert not any(dep.startswith("${core}") for dep in stage["deps"]), f"{name} lists a module itself"


def test_the_code_stage_writes_one_file_per_stage_module(tmp_path: Path):
    code.main(["--out-dir", str(tmp_path / "code")])
    files = sorted(path.name for path in (tmp_path / "code").iterdir())
    stage_files = sorted(path.name.replace(".py", ".json") for path in (PACKAGE_ROOT / "stages").glob("*.py"))
    assert files == [name for name in stage_files if name not in ("__init__.json", "code.json")]
    train = json.loads((tmp_path / "code" / "train.json").read_text())
    assert train["module"] == "alphabet_lstm.stages.train" and len(train["sha256"]) == 64
    # The Keras engine is imported inside a function; train still runs it, evaluate never.
    assert "alphabet_lstm.model.engine_keras" in train["modules"]
    evaluate = json.loads((tmp_path / "code" / "evaluate.json").read_text())
    assert "alphabet_lstm.model.engine_keras" not in evaluate["modules"]
    assert "alphabet_lstm.report.figures" not in train["modules"]


@pytest.mark.pipeline
def test_a_changed_module_changes_exactly_the_code_files_of_the_stages_that_run_it(tmp_path: Path):
    """The code stage run on a copy of the package with one module changed: the files of the
    stages that import it (directly or not) change, no other does."""

    def code_files(package_parent: Path, out: Path) -> dict[str, bytes]:
        environment = {**os.environ, "PYTHONPATH": str(package_parent)}
        command = [sys.executable, "-m", "alphabet_lstm.stages.code", "--out-dir", str(out)]
        subprocess.run(command, check=True, env=environment, cwd=tmp_path)
        return {path.name: path.read_bytes() for path in out.iterdir()}

    def running(files: dict[str, bytes], module: str) -> set[str]:
        return {name for name, data in files.items() if module in json.loads(data)["modules"]}

    copied = tmp_path / "src" / "alphabet_lstm"
    shutil.copytree(PACKAGE_ROOT, copied, ignore=shutil.ignore_patterns("__pycache__"))
    files = code_files(copied.parent, tmp_path / "0")
    assert running(files, "alphabet_lstm.report.figures") == {"report.json", "sweep_report.json", "sweep_log.json"}
    assert running(files, "alphabet_lstm.model.engine_keras") == {"train.json", "sweep_run.json"}
    for index, changed in enumerate(["report/figures.py", "model/engine_keras.py", "alphabet.py"], start=1):
        module = copied / changed
        module.write_text(module.read_text() + "\n# a comment: new bytes\n")
        changed_files = code_files(copied.parent, tmp_path / str(index))
        name = "alphabet_lstm." + changed.removesuffix(".py").replace("/", ".")
        assert {file for file in files if files[file] != changed_files[file]} == running(files, name), changed
        files = changed_files


def defined_stage_names(dvc_yaml: Path) -> set[str]:
    """The stage names a dvc.yaml defines, a foreach stage once per key of its params."""
    names = set()
    for name, stage in yaml.safe_load(dvc_yaml.read_text())["stages"].items():
        keys = PARAMS[stage["foreach"].strip("${}")] if "foreach" in stage else None
        names |= {f"{name}@{key}" for key in keys} if keys else {name}
    return names


@pytest.mark.parametrize("folder", [".", "sweeps"])
def test_dvc_lock_holds_only_the_stages_dvc_yaml_defines(folder: str):
    """DVC keeps a renamed or removed stage's entry in dvc.lock for ever, and rereads and
    rewrites the whole file at every command and after every stage: 14 such entries were a
    third of the file and a sixth of a no-op `dvc repro`'s CPU."""
    root = REPO_ROOT / folder
    locked = set(yaml.safe_load((root / "dvc.lock").read_text())["stages"])
    stale = sorted(locked - defined_stage_names(root / "dvc.yaml"))
    dvc_yaml = (Path(folder) / "dvc.yaml").as_posix()
    assert not stale, (
        f"{folder}/dvc.lock: stages {dvc_yaml} does not define {stale}; "
        f"delete the lock and run `dvc commit -f {dvc_yaml}` with the outputs checked out"
    )


def test_the_report_stage_depends_on_its_templates():
    """Templates are not imports: the report stage lists their folder, so editing one (the
    state explorer's, say) reruns the report."""
    dvc = yaml.safe_load(DVC_YAML.read_text())
    folder = next(entry["report_templates"] for entry in dvc["vars"] if "report_templates" in entry)
    assert (REPO_ROOT / folder).resolve() == TEMPLATES.resolve()
    assert sorted(path.name for path in TEMPLATES.glob("*.j2")) == [
        "explorer.html.j2",
        "report.html.j2",
        "report.md.j2",
        "sweep.md.j2",
    ]
    assert "${report_templates}" in dvc["stages"]["report"]["deps"]
    # A sweep's page is its own Markdown in the same HTML page.
    sweeps = yaml.safe_load((REPO_ROOT / "sweeps" / "dvc.yaml").read_text())
    for name, template in (("report_page", "report.html.j2"), ("sweep_page", "sweep.md.j2")):
        page = next(entry[name] for entry in sweeps["vars"] if isinstance(entry, dict) and name in entry)
        assert (REPO_ROOT / page).resolve() == (TEMPLATES / template).resolve()
        assert "${" + name + "}" in sweeps["stages"]["sweep_report"]["do"]["deps"]


# --- params deps: what generate's and encode's outputs depend on ---------------------------


def changed_value(value):
    """Another valid-looking value of a param: a number one up, a flag flipped, the other layout."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    return {"all": 1, "timesteps": "features", "features": "timesteps"}.get(value)


def one_key_changes() -> list[tuple[str, str]]:
    """Every leaf key of every framing (``framings.<name>.<key>``, a dataset's keys
    included, its kind excepted), with the framing it belongs to."""
    keys = []
    for name, framing in PARAMS["framings"].items():
        keys += [(name, f"framings.{name}.{key}") for key in framing if key != "dataset"]
        keys += [(name, f"framings.{name}.dataset.{key}") for key in framing["dataset"] if key != "kind"]
    return keys


def with_changed(params: dict, dotted: str) -> dict:
    changed = copy.deepcopy(params)
    *parents, leaf = dotted.split(".")
    holder = changed
    for part in parents:
        holder = holder[part]
    holder[leaf] = changed_value(holder[leaf])
    return changed


def stage_outputs(params: dict, folder: Path) -> dict[str, dict[str, bytes]]:
    """generate's and encode's files for ``params``, run in this process."""
    folder.mkdir()
    params_path = folder / "params.yaml"
    params_path.write_text(yaml.safe_dump(params))
    generate.main(["--params", str(params_path), "--out-dir", str(folder / "patterns")])
    encode.main(
        ["--params", str(params_path), "--patterns", str(folder / "patterns"), "--out-dir", str(folder / "encoded")]
    )
    return {
        stage: {path.stem: path.read_bytes() for path in (folder / out).iterdir()}
        for stage, out in (("generate", "patterns"), ("encode", "encoded"))
    }


@pytest.mark.slow
def test_generate_and_encode_outputs_change_exactly_when_their_datasets_file_does(tmp_path: Path):
    """Each framing key changed alone (when the change is valid): generate's and encode's
    files change exactly when the framing's entry in validate's datasets file does, and only
    that framing's files; so DVC, which reruns them on that file alone, never serves stale
    data and reruns neither for a batch size, epochs, units, stateful or shuffle change."""
    stages = yaml.safe_load(DVC_YAML.read_text())["stages"]
    for stage in ("generate", "encode"):
        assert "${datasets}" in stages[stage]["deps"] and "params" not in stages[stage], stage
    baseline = stage_outputs(PARAMS, tmp_path / "baseline")
    baseline_datasets = datasets_document(parse_params(PARAMS))
    tested_keys: set[str] = set()
    for index, (framing, dotted) in enumerate(one_key_changes()):
        try:
            changed_params = with_changed(PARAMS, dotted)
            outputs = stage_outputs(changed_params, tmp_path / str(index))
        except ParamsError:
            continue  # not a valid framing with this change (a stateful batch size, say)
        tested_keys.add(dotted.split(".")[2])
        entry = datasets_document(parse_params(changed_params))[framing]
        # generate reads the dataset, encode the dataset and the layout: the whole entry.
        read = {"generate": ["dataset"], "encode": ["dataset", "layout"]}
        for stage, keys in read.items():
            entry_changed = any(entry[key] != baseline_datasets[framing][key] for key in keys)
            changed = {name for name in baseline[stage] if outputs[stage][name] != baseline[stage][name]}
            assert changed == ({framing} if entry_changed else set()), (stage, dotted)
    assert {"dataset", "layout", "batch_size", "epochs", "units", "stateful", "shuffle"} <= tested_keys


def test_dvc_parses_its_yaml_files_in_c():
    """DVC reads dvc.lock, dvc.yaml and params.yaml with ruamel's YAML(typ="safe"): without
    ruamel.yaml.clib that is pure Python, a quarter of DVC's own CPU in `dvc exp run`."""
    from ruamel.yaml import YAML
    from ruamel.yaml.main import CParser

    assert CParser is not None and YAML(typ="safe").Parser is CParser, "pip install ruamel.yaml.clib"
