"""The MLflow UI and the HTML report, checked in a real (headless) Chromium.

The pipeline's MLflow store is served by `mlflow ui` on a free loopback port and browsed
as a user would: the experiment's runs table, with the accuracy column added, must list
one run per framing with the accuracy the evaluate stage measured; a run's Artifacts tab
must show the logged prediction table. The report (reports/report.html) must render its
comparison table and its embedded figures. Screenshots go to test-artifacts/.

Chromium is Debian's package (.ci/run installs it), driven by Playwright without any
browser download (conftest.py's ``browser`` fixture, shared with test_explorer.py). Without
/usr/bin/chromium the tests skip, except in CI, where they run.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from conftest import CHROMIUM, REPO_ROOT, SCREENSHOTS, VENV_BIN, pipeline_env, read_store

pytestmark = pytest.mark.e2e

FRAMINGS = list(yaml.safe_load((REPO_ROOT / "params.yaml").read_text())["framings"])
SEED = 7
EXPERIMENT_NAME = "alphabet-lstm"
# Cold starts of the server are slow on a busy two-core machine; pages are quick after.
SERVER_START_SECONDS = 180
PAGE_TIMEOUT_MS = 45_000
# Wide enough that the runs table shows the accuracy column beside MLflow's side panel.
VIEWPORT = {"width": 1920, "height": 1080}
# The runs table shows metrics rounded; the evaluate stage keeps six decimals.
ACCURACY_TOLERANCE = 1e-3
# The evaluation's accuracy (the runs also hold the per-epoch training curve `accuracy`).
EVALUATION_ACCURACY = "evaluation/accuracy"


if not CHROMIUM.exists() and not os.environ.get("CI"):
    pytest.skip(
        f"{CHROMIUM} is absent (apt-get install chromium); these browser tests run in CI",
        allow_module_level=True,
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get_json(url: str, timeout: float = 10):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def mlflow_ui(reproduced_clone: Path, tmp_path_factory) -> Iterator[str]:
    """`mlflow ui` on the clone's own store, on a free loopback port; yields its base URL."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("mlflow-ui") / "server.log"
    env = pipeline_env(
        {
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "DO_NOT_TRACK": "true",
            # Background job workers are for GenAI features; they only slow the start.
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        }
    )
    command = [
        str(VENV_BIN / "mlflow"),
        "ui",
        "--backend-store-uri",
        f"sqlite:///{reproduced_clone / 'mlflow.db'}",
        "--default-artifact-root",
        (reproduced_clone / "mlartifacts").as_uri(),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    with log_path.open("w") as log:
        # A session of its own, so teardown stops the server's worker processes too.
        server = subprocess.Popen(
            command,
            cwd=reproduced_clone,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_SECONDS
        while True:
            if server.poll() is not None:
                pytest.fail(f"mlflow ui exited {server.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{base_url}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"mlflow ui did not answer in {SERVER_START_SECONDS}s:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.5)
        yield base_url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


@pytest.fixture
def page(browser, request):
    """A fresh page; its screenshot is saved when the test ends, passed or failed."""
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    page = context.new_page()
    yield page
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{request.node.name}.png"), full_page=True)
    context.close()


def experiment_id(base_url: str) -> str:
    query = urllib.parse.urlencode({"experiment_name": EXPERIMENT_NAME})
    return get_json(f"{base_url}/ajax-api/2.0/mlflow/experiments/get-by-name?{query}")["experiment"]["experiment_id"]


def training_run_id(clone: Path, framing: str) -> str:
    """The id of ``framing``'s one training run in the clone's store (the log stage names it),
    read straight from SQLite: MLflow's client would cost this process its import and a store
    per lookup, 3.7 CPU-seconds for the module's lookups."""
    query = (
        "SELECT runs.run_uuid FROM runs JOIN experiments USING (experiment_id) "
        "WHERE experiments.name = ? AND runs.name = ? AND runs.lifecycle_stage = 'active'"
    )
    [(run_id,)] = read_store(clone / "mlflow.db", query, EXPERIMENT_NAME, f"{framing}-seed{SEED}")
    return run_id


def test_experiment_page_lists_one_run_per_framing_with_its_accuracy(mlflow_ui: str, reproduced_clone: Path, page):
    # MLflow 3 opens experiments in its GenAI view; the runs table is the classic ML view.
    page.goto(f"{mlflow_ui}/#/experiments/{experiment_id(mlflow_ui)}/runs?workflowType=machine_learning")
    page.get_by_role("link", name=f"{FRAMINGS[0]}-seed{SEED}").wait_for()
    # Metrics are hidden until chosen, as a user would in the Columns menu.
    page.get_by_role("button", name="Columns").click()
    page.get_by_title(EVALUATION_ACCURACY, exact=True).click()
    page.keyboard.press("Escape")
    accuracy_header = page.get_by_role("columnheader", name=EVALUATION_ACCURACY).first
    accuracy_header.wait_for()
    # On screen without scrolling, as the screenshot shows it.
    box = accuracy_header.bounding_box()
    assert box["width"] > 0 and box["x"] + box["width"] <= VIEWPORT["width"]
    # One run per training, and the repro's summary run.
    page.get_by_text(f"{len(FRAMINGS) + 1} matching runs").wait_for()

    # The grid splits each run's row between a pinned part (the name) and the rest, both
    # tagged with the run id.
    for framing in FRAMINGS:
        row = page.locator(f'[role="row"][row-id="{training_run_id(reproduced_clone, framing)}"]')
        name = row.locator('[col-id="attributes.`Run Name`"]').get_by_role("link").inner_text().strip()
        accuracy_cell = row.locator(f'[col-id="metrics.`{EVALUATION_ACCURACY}`"]')
        assert accuracy_cell.is_visible(), framing
        shown = accuracy_cell.inner_text().strip()
        evaluated = json.loads(
            (reproduced_clone / "metrics" / "evaluation" / framing / f"seed{SEED}.json").read_text()
        )["accuracy"]
        assert name == f"{framing}-seed{SEED}"
        assert float(shown) == pytest.approx(evaluated, abs=ACCURACY_TOLERANCE), framing


@pytest.mark.parametrize("framing", ["one_char", "variable_length"])
def test_run_page_shows_the_logged_prediction_table(mlflow_ui: str, reproduced_clone: Path, page, framing: str):
    run_id = training_run_id(reproduced_clone, framing)
    page.goto(f"{mlflow_ui}/#/experiments/{experiment_id(mlflow_ui)}/runs/{run_id}?workflowType=machine_learning")
    page.get_by_role("tab", name="Artifacts").click()
    page.get_by_test_id("artifact-tree-node").filter(has_text="predictions.json").click()
    table = page.get_by_role("table")
    table.get_by_role("cell").first.wait_for()

    headers = [text.strip() for text in table.get_by_role("columnheader").all_inner_texts()]
    assert headers == ["input", "expected", "predicted", "probability", "correct"]
    rows = table.get_by_role("row").filter(has=page.get_by_role("cell"))
    shown = [[cell.strip() for cell in row.get_by_role("cell").all_inner_texts()] for row in rows.all()]
    expected = list(csv.DictReader((reproduced_clone / "metrics" / "predictions" / framing / f"seed{SEED}.csv").open()))
    # The viewer pages the table; its first page must be the table's first rows, in order.
    assert 10 <= len(shown) <= len(expected)
    for cells, record in zip(shown, expected):
        assert cells[:3] == [record["input"], record["expected"], record["predicted"]]
        assert float(cells[3]) == pytest.approx(float(record["probability"]))
        assert cells[4] == record["correct"].lower()


def test_html_report_renders_its_table_and_figures(reproduced_clone: Path, page):
    outside_requests = []
    page.on(
        "request",
        lambda request: (
            outside_requests.append(request.url) if not request.url.startswith(("file:", "data:")) else None
        ),
    )
    page.goto((reproduced_clone / "reports" / "report.html").as_uri())
    page.wait_for_load_state("load")

    comparison = page.locator("h2:has-text('Accuracy of every framing') ~ table").first
    assert comparison.is_visible()
    assert comparison.bounding_box()["height"] > 0
    first_cells = comparison.locator("tbody tr td:first-child").all_inner_texts()
    assert [text.strip() for text in first_cells] == FRAMINGS

    images = page.locator("img")
    assert images.count() > 0
    for index in range(images.count()):
        image = images.nth(index)
        image.scroll_into_view_if_needed()
        source, complete, width, height = image.evaluate(
            "img => [img.src.slice(0, 22), img.complete, img.naturalWidth, img.naturalHeight]"
        )
        assert source == "data:image/png;base64,", index
        assert complete and width > 0 and height > 0, image.get_attribute("alt")
    # The report is one self-contained file: it must not fetch anything.
    assert outside_requests == []
