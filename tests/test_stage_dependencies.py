"""dvc.yaml lists, for every stage, exactly the project modules its command runs.

The modules come from the stage module's imports, followed through the package
(alphabet_lstm.dependencies), so a code change reruns the stages it affects and no other.
`python -m alphabet_lstm.dependencies --write` rewrites the lists after a change of imports.
"""

from __future__ import annotations

import yaml
from conftest import REPO_ROOT

from alphabet_lstm.dependencies import stage_code_deps, synced_dvc_yaml
from alphabet_lstm.report.render import TEMPLATES


def test_dvc_yaml_code_deps_are_the_stages_imports():
    text = (REPO_ROOT / "dvc.yaml").read_text()
    assert synced_dvc_yaml(text) == text, "run `python -m alphabet_lstm.dependencies --write`"


def test_every_stage_has_code_deps():
    stages = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())["stages"]
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
    dvc = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())
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
