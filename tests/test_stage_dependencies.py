"""dvc.yaml lists, for every stage, exactly the project modules its command runs, and for
generate and encode exactly the params keys their outputs depend on.

The modules come from the stage module's imports, followed through the package
(alphabet_lstm.source_code), so a code change reruns the stages it affects and no other.
`make deps` (tools/stage_deps.py) rewrites the lists after a change of imports or framings.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from conftest import REPO_ROOT
from stage_deps import FRAMING_KEYS_READ, framing_names, stage_code_deps, synced_dvc_yaml

from alphabet_lstm.params import ParamsError
from alphabet_lstm.report.render import TEMPLATES
from alphabet_lstm.stages import encode, generate

DVC_YAML = REPO_ROOT / "dvc.yaml"
PARAMS = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())


def test_dvc_yaml_deps_are_the_stages_imports_and_the_framings_keys():
    text = DVC_YAML.read_text()
    assert synced_dvc_yaml(text, framing_names(REPO_ROOT / "params.yaml")) == text, "run `make deps`"


def test_a_new_framing_needs_its_keys_listed():
    """A framing added to params.yaml is a key generate and encode do not list yet: the
    check fails until `make deps` lists it."""
    text = DVC_YAML.read_text()
    synced = synced_dvc_yaml(text, [*PARAMS["framings"], "one_more"])
    assert synced != text
    # generate's list, then encode's, each gaining the new framing's keys at its end.
    assert "      - framings.prefix_padded.dataset\n      - framings.one_more.dataset\n    outs:" in synced
    assert "      - framings.one_more.dataset\n      - framings.one_more.layout\n    outs:" in synced


def test_every_stage_has_code_deps():
    stages = yaml.safe_load(DVC_YAML.read_text())["stages"]
    for name, stage in stages.items():
        definition = stage.get("do", stage)
        module = definition["cmd"].split("python -m ", 1)[1].split()[0]
        listed = [dep for dep in definition["deps"] if dep.startswith("${core}/")]
        assert listed == stage_code_deps(module), name


def test_a_lazy_import_counts():
    """The Keras engine is imported inside a function; train still depends on it."""
    assert "${core}/model/engine_keras.py" in stage_code_deps("alphabet_lstm.stages.train")
    assert "${core}/model/engine_keras.py" not in stage_code_deps("alphabet_lstm.stages.evaluate")


def test_the_report_stage_depends_on_its_templates():
    """Templates are not imports: the report stage lists their folder, so editing one (the
    state explorer's, say) reruns the report."""
    dvc = yaml.safe_load(DVC_YAML.read_text())
    folder = next(entry["report_templates"] for entry in dvc["vars"] if "report_templates" in entry)
    assert (REPO_ROOT / folder).resolve() == TEMPLATES.resolve()
    assert sorted(path.name for path in TEMPLATES.glob("*.j2")) == [
        "explorer.html.j2",
        "report.html.j2",
    ]
    assert "${report_templates}" in dvc["stages"]["report"]["deps"]
    # A sweep's page is the same HTML page.
    sweeps = yaml.safe_load((REPO_ROOT / "sweeps" / "dvc.yaml").read_text())
    page = next(entry["report_page"] for entry in sweeps["vars"] if isinstance(entry, dict) and "report_page" in entry)
    assert (REPO_ROOT / page).resolve() == (TEMPLATES / "report.html.j2").resolve()
    assert "${report_page}" in sweeps["stages"]["sweep_report"]["do"]["deps"]


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
def test_generate_and_encode_list_exactly_the_params_their_outputs_depend_on(tmp_path: Path):
    """Each framing key changed alone (when the change is valid): a stage's files change
    exactly when dvc.yaml lists the key for it, and only that framing's file."""
    stages = yaml.safe_load(DVC_YAML.read_text())["stages"]
    listed = {stage: stages[stage]["params"] for stage in ("generate", "encode")}
    assert all(key.startswith("framings.") for keys in listed.values() for key in keys)
    baseline = stage_outputs(PARAMS, tmp_path / "baseline")
    tested_keys: set[str] = set()
    for index, (framing, dotted) in enumerate(one_key_changes()):
        try:
            outputs = stage_outputs(with_changed(PARAMS, dotted), tmp_path / str(index))
        except ParamsError:
            continue  # not a valid framing with this change (a stateful batch size, say)
        tested_keys.add(dotted.split(".")[2])
        for stage, keys in listed.items():
            depends = any(dotted == key or dotted.startswith(key + ".") for key in keys)
            changed = {name for name in baseline[stage] if outputs[stage][name] != baseline[stage][name]}
            assert changed == ({framing} if depends else set()), (stage, dotted)
    read = {key for keys in FRAMING_KEYS_READ.values() for key in keys}
    assert read <= tested_keys and {"batch_size", "epochs", "units", "stateful", "shuffle"} <= tested_keys
