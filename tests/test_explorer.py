"""The state explorer (reports/explorer.html): its data, and the page in a real Chromium.

Unit tests build the page from freshly initialised weights of params.yaml's framings (no
pipeline). The browser tests (e2e) open the page the report stage wrote in the shared
reproduced clone from disk, type queries into every framing and compare what the page
computes with the numpy forward pass (`evaluation.query_probabilities`, `model.state.trace`,
the report's projection) and with what `alphabet-lstm predict --show-state` prints.
"""

from __future__ import annotations

import base64
import json
import re
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO_ROOT, SCREENSHOTS, alphabet_lstm

from alphabet_lstm.alphabet import ALPHABET, letters_to_codes
from alphabet_lstm.artifacts import load_model, save_model
from alphabet_lstm.model.lstm import LSTMWeights, ModelSpec, initial_weights, ordered_sum
from alphabet_lstm.model.querying import query_probabilities
from alphabet_lstm.model.state import StateTrace, norm, trace
from alphabet_lstm.params import load_params
from alphabet_lstm.report.explorer import EXPLORER_NAME, TEMPLATE_NAME, explorer_data, explorer_page, query_lengths
from alphabet_lstm.report.render import TEMPLATES
from alphabet_lstm.report.state_views import stateful_view

PARAMS = load_params(REPO_ROOT / "params.yaml")
FRAMINGS = list(PARAMS.framings)
# The budget: about 500 KB, drawn in under a second, at most about 300 lines of script.
MAX_BYTES = 500_000
MAX_RENDER_MS = 1000
MAX_SCRIPT_LINES = 300
# The page repeats the numpy pass's float32 operations; the issue asks for 1e-6.
TOLERANCE = 1e-6
# Queries typed into every framing that takes their length: single letters, windows, runs
# from A (the warm K), lower case, the longest padded query.
QUERIES = ("K", "ABC", "xyz", "KLMNO", "ABCDEFGHIJK", "ABCDEFGHIJKLMNOPQRSTUVWXY")
SCRIPT_DATA = re.compile(r'<script type="application/json" id="explorer-data">(.*?)</script>', re.S)


def params_specs(seed: int = 7) -> list[ModelSpec]:
    """The spec each framing of params.yaml trains into (the train stage's model_spec)."""
    return [
        ModelSpec(
            framing=name,
            units=framing.units,
            layout=framing.layout,
            input_length=framing.dataset.input_length,
            stateful=framing.stateful,
            batch_size=1,
            engine="fast",
            seed=seed,
            shortest_query=framing.dataset.shortest_query,
            scores_all_queries=framing.dataset.scores_all_queries,
        )
        for name, framing in PARAMS.framings.items()
    ]


@pytest.fixture(scope="module")
def untrained() -> list[tuple[LSTMWeights, ModelSpec]]:
    return [
        (initial_weights(features=spec.features, units=spec.units, seed=spec.seed), spec) for spec in params_specs()
    ]


@pytest.fixture(scope="module")
def untrained_page(untrained) -> str:
    return explorer_page(untrained, title="explorer")


def embedded_data(page: str) -> dict:
    return json.loads(SCRIPT_DATA.search(page).group(1))


# --------------------------------------------------------------------------- the page's data


def test_each_framings_query_lengths_are_the_ones_its_spec_accepts():
    for spec in params_specs():
        shortest, longest = query_lengths(spec)
        for length in range(0, 40):
            inside = length >= shortest and (longest is None or length <= longest)
            assert inside == spec.accepts_length(length), (spec.framing, length)


def test_the_page_embeds_every_framings_exact_weights_and_spec(untrained, untrained_page):
    data = embedded_data(untrained_page)
    assert [entry["framing"] for entry in data["framings"]] == FRAMINGS
    for (weights, spec), entry in zip(untrained, data["framings"]):
        for name, array in zip(LSTMWeights.NAMES, weights.as_list()):
            decoded = np.frombuffer(base64.b64decode(entry["weights"][name]), dtype="<f4")
            assert np.array_equal(decoded, array.ravel()), (spec.framing, name)
        assert (entry["layout"], entry["input_length"], entry["stateful"]) == (
            spec.layout,
            spec.input_length,
            spec.stateful,
        )
        assert (entry["plane"] is not None) == spec.stateful


def test_what_the_page_says_a_framing_takes_is_what_the_cli_says(untrained, untrained_page, tmp_path: Path):
    # The CLI, given each model and an empty query, names the lengths the framing takes.
    for weights, spec in untrained:
        save_model(tmp_path / "models" / spec.framing / f"seed{spec.seed}.npz", weights, spec)
    for entry in embedded_data(untrained_page)["framings"]:
        refused = alphabet_lstm("predict", "--framing", entry["framing"], "--seed", "7", "", cwd=tmp_path)
        assert refused.returncode == 2
        assert refused.stderr.strip().endswith(f"framing {entry['framing']} takes {entry['takes']}"), refused.stderr


def test_the_plane_is_the_alphabets_states_on_their_two_leading_principal_axes(untrained, untrained_page):
    weights, spec = next(model for model in untrained if model[1].stateful)
    plane = next(entry["plane"] for entry in embedded_data(untrained_page)["framings"] if entry["stateful"])
    # Independently of the page's builder: the numpy forward pass's h over A..Z from a reset,
    # and LAPACK's singular value decomposition of those states.
    states = trace(weights, spec, ALPHABET).hidden.astype(np.float64)
    mean = states.mean(axis=0)
    leading_axes = np.linalg.svd(states - mean)[2][:2]
    components, path = np.array(plane["components"]), np.array(plane["path"])
    np.testing.assert_allclose(plane["mean"], mean, rtol=0, atol=1e-12)
    # An axis is defined up to its sign.
    np.testing.assert_allclose(np.abs(np.sum(components * leading_axes, axis=1)), [1.0, 1.0], rtol=0, atol=1e-9)
    np.testing.assert_allclose(path, (states - mean) @ components.T, rtol=0, atol=1e-12)
    assert path.shape == (len(ALPHABET), 2)


def test_the_page_is_one_light_self_contained_file_with_a_short_script(untrained, untrained_page):
    page = untrained_page
    assert len(page.encode("utf-8")) <= MAX_BYTES
    assert explorer_page(untrained, title="explorer") == page  # the same models, the same bytes
    # Nothing to fetch: no external script, stylesheet, image or link other than the report.
    assert not re.search(r"(src|href)=\"(?!report\.html\")", page)
    assert "http://" not in page and "https://" not in page
    script = (TEMPLATES / TEMPLATE_NAME).read_text().split("<script>\n", 1)[1].split("</script>", 1)[0]
    assert len(script.splitlines()) <= MAX_SCRIPT_LINES
    # The embedded JSON cannot end its <script> element early.
    assert page.count("</script>") == 2


def test_the_pages_float32_constants_are_floatmaths_exactly():
    """The page's exp and tanh take model/floatmath.py's constants from the embedded data:
    each is a float32 written as a double, so Math.fround gives back the same float32."""
    from alphabet_lstm.model import floatmath as fm
    from alphabet_lstm.report.explorer import float_math

    constants = float_math()
    assert [np.float32(value) for value in constants["exp"]["poly"]] == [
        fm.EXP_P0,
        fm.EXP_P1,
        fm.EXP_P2,
        fm.EXP_P3,
        fm.EXP_P4,
        fm.EXP_P5,
    ]
    assert np.float32(constants["tanh"]["clamp"]) == fm.TANH_CLAMP and constants["tanh"]["clamp"] == float(
        fm.TANH_CLAMP
    )
    assert all(
        float(np.float32(value)) == value
        for group in constants.values()
        for item in group.values()
        for value in (item if isinstance(item, list) else [item])
    )
    script = (TEMPLATES / TEMPLATE_NAME).read_text()
    assert "1.9875691500e-4" not in script and "DATA.float_math.exp" in script


def test_the_page_needs_a_model():
    with pytest.raises(ValueError, match="at least one trained model"):
        explorer_data([])


# --------------------------------------------------------------------------- in a browser


def first_seed_models(clone: Path) -> dict[str, tuple[LSTMWeights, ModelSpec]]:
    seed = load_params(clone / "params.yaml").seeds[0]
    return {framing: load_model(clone / "models" / framing / f"seed{seed}.npz") for framing in FRAMINGS}


@pytest.fixture(scope="module")
def models(reproduced_clone: Path) -> dict[str, tuple[LSTMWeights, ModelSpec]]:
    return first_seed_models(reproduced_clone)


@pytest.fixture(scope="module")
def explorer(reproduced_clone: Path, browser):
    """The report stage's page opened from disk; it must fetch nothing and raise no error."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    outside, errors = [], []
    page.on(
        "request",
        lambda request: outside.append(request.url) if not request.url.startswith(("file:", "data:")) else None,
    )
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto((reproduced_clone / "reports" / EXPLORER_NAME).as_uri())
    page.wait_for_function("window.explorerState !== undefined")
    yield page
    assert outside == [] and errors == []
    context.close()


def show(page, framing: str, letters: str) -> dict:
    """Choose a framing and type letters as a user would; the state the page then shows."""
    page.select_option("#framing", framing)
    page.fill("#letters", "")
    page.locator("#letters").press_sequentially(letters)
    return page.evaluate("window.explorerState")


def cli_error(clone: Path, framing: str, letters: str) -> str:
    result = alphabet_lstm("predict", "--framing", framing, letters, cwd=clone)
    assert result.returncode == 2, result
    return result.stderr.strip().removeprefix("error: ")


def gate_mean(state: StateTrace, name: str, step: int) -> float:
    """The CLI's mean of a gate: a float32 ordered sum over the units, divided by their number."""
    return float(ordered_sum(getattr(state, name)[step])) / state.units


@pytest.mark.e2e
@pytest.mark.parametrize("framing", FRAMINGS)
def test_the_page_computes_what_the_numpy_pass_and_the_cli_compute(framing, explorer, models, reproduced_clone):
    weights, spec = models[framing]
    queries = [query for query in QUERIES if spec.accepts_length(len(query))]
    assert queries, framing
    plane = stateful_view(weights, spec).projection if spec.stateful else None
    for query in queries:
        shown = show(explorer, framing, query)
        assert shown["message"] is None, (framing, query, shown["message"])
        codes = letters_to_codes(query.upper())
        expected = query_probabilities(weights, spec, codes)
        np.testing.assert_allclose(shown["probabilities"], expected, rtol=0, atol=TOLERANCE)
        state = trace(weights, spec, codes)
        assert [step["label"] for step in shown["steps"]] == list(state.labels)
        for index, step in enumerate(shown["steps"]):
            assert step["h_norm"] == pytest.approx(norm(state.hidden[index]), abs=TOLERANCE)
            assert step["c_norm"] == pytest.approx(norm(state.cell[index]), abs=TOLERANCE)
            np.testing.assert_allclose(step["hidden"], state.hidden[index], rtol=0, atol=TOLERANCE)
            np.testing.assert_allclose(step["cell"], state.cell[index], rtol=0, atol=TOLERANCE)
            for gate, name in zip(("input", "forget", "candidate", "output"), StateTrace.GATES):
                assert step["gates"][gate] == pytest.approx(gate_mean(state, name, index), abs=TOLERANCE)
            assert step["reads"] == ALPHABET[int(np.argmax(state.probabilities[index]))]
            if plane is None:
                assert step["plane"] is None
            else:
                np.testing.assert_allclose(
                    step["plane"], plane.project(state.hidden[index : index + 1])[0], rtol=0, atol=TOLERANCE
                )
        # What a user reads: the prediction as `predict` prints it, and the per-step |h| and |c|
        # of `--show-state`.
        printed = alphabet_lstm("predict", "--framing", framing, "--show-state", query, cwd=reproduced_clone).stdout
        assert explorer.locator("#prediction").inner_text().splitlines() == printed.splitlines()[:4]
        cli_norms = re.findall(r"\|h\| (\S+)  \|c\| (\S+)", printed)
        rows = explorer.locator("#steps tbody tr")
        page_norms = [tuple(rows.nth(k).locator("td").all_inner_texts()[3:5]) for k in range(rows.count())]
        assert page_norms == cli_norms


@pytest.mark.e2e
@pytest.mark.parametrize("framing", FRAMINGS)
def test_input_the_framing_does_not_take_shows_the_clis_message_and_no_prediction(
    framing, explorer, models, reproduced_clone
):
    spec = models[framing][1]
    bad = ["K1", "k-", "A'B"]
    bad += [query for query in ("AB", "ABCDEF", "A" * 26) if not spec.accepts_length(len(query))]
    for query in bad:
        shown = show(explorer, framing, query)
        assert shown["message"] == cli_error(reproduced_clone, framing, query), (framing, query)
        assert explorer.locator("#message").inner_text() == shown["message"]
        assert shown["probabilities"] is None and shown["steps"] == []
        assert explorer.locator("#prediction").inner_text() == ""
        assert explorer.locator("#steps tbody tr").count() == 0
    # An emptied box gets the CLI's message for an empty query (the shell passes "" as is).
    explorer.fill("#letters", "")
    assert explorer.evaluate("window.explorerState.message") == cli_error(reproduced_clone, framing, "")


@pytest.mark.e2e
def test_the_page_is_drawn_in_under_a_second_and_shows_the_cold_k_on_the_plane(reproduced_clone, browser, models):
    path = reproduced_clone / "reports" / EXPLORER_NAME
    size = path.stat().st_size
    assert size <= MAX_BYTES
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    started = time.monotonic()
    page.goto(path.as_uri())
    page.wait_for_function("window.explorerState !== undefined")
    wall_ms = 1000 * (time.monotonic() - started)
    # performance.now() when the first render ended: from the start of navigation, in page time.
    rendered_ms = page.evaluate("window.explorerState.rendered_ms")
    print(f"explorer.html: {size} bytes, drawn {rendered_ms:.0f} ms after navigation ({wall_ms:.0f} ms wall)")
    assert rendered_ms < MAX_RENDER_MS
    # It opens on the first stateful framing with the tutorial's cold K.
    stateful = next(framing for framing in FRAMINGS if models[framing][1].stateful)
    assert page.evaluate("[window.explorerState.framing, window.explorerState.letters]") == [stateful, "K"]
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "explorer-cold-K.png"), full_page=True)
    shown = show(page, stateful, "ABCDEFGHIJK")
    assert len(page.locator("#plane circle").all()) == len(shown["steps"]) + 1  # the steps and the report's cold K
    page.screenshot(path=str(SCREENSHOTS / "explorer-warm-K.png"), full_page=True)
    window = next(framing for framing in FRAMINGS if models[framing][1].layout == "features")
    show(page, window, "ABC")
    assert page.locator("#plane-section").is_hidden()
    page.screenshot(path=str(SCREENSHOTS / "explorer-window-features.png"), full_page=True)
    context.close()


@pytest.mark.e2e
def test_the_report_links_the_explorer_and_the_summary_run_holds_it(reproduced_clone, tmp_path):
    from mlflow.tracking import MlflowClient

    reports = reproduced_clone / "reports"
    assert f"[the state explorer]({EXPLORER_NAME})" in (reports / "report.md").read_text()
    assert f'<a href="{EXPLORER_NAME}">the state explorer</a>' in (reports / "report.html").read_text()
    client = MlflowClient(f"sqlite:///{reproduced_clone / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("alphabet-lstm")
    [summary] = client.search_runs([experiment.experiment_id], filter_string="tags.run_kind = 'summary'")
    local = client.download_artifacts(summary.info.run_id, f"report/{EXPLORER_NAME}", str(tmp_path))
    assert Path(local).read_bytes() == (reports / EXPLORER_NAME).read_bytes()
