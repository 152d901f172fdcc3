"""The report's figure cache: figures whose inputs did not change are read back, not drawn,
and the report is byte for byte what a full redraw writes."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_reporting import FIGURE_CACHE, stage_argv, write_fake_inputs

from alphabet_lstm.stages import report as report_stage

pytestmark = pytest.mark.slow


def run(command: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, check=True, capture_output=True, text=True)


def report_bytes(root: Path, out_dir: str) -> dict[str, bytes]:
    folder = root / out_dir
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in folder.rglob("*") if path.is_file()}


def cached_files(cache: Path) -> dict[str, int]:
    return {path.name: path.stat().st_mtime_ns for path in cache.glob("*.png")}


@pytest.fixture(scope="module")
def filled(tmp_path_factory) -> Path:
    """Fake inputs at seeds 7 and 8 and their report written through an empty figure cache,
    which it fills: made once for the module (drawing every figure costs seconds); the tests
    copy the cache they change. Figures are keyed by content, so another folder's identical
    inputs find them."""
    root = tmp_path_factory.mktemp("filled")
    write_fake_inputs(root, [7, 8])
    report_stage.main(stage_argv(root, "filling", figure_cache=root / FIGURE_CACHE))
    return root


def test_a_cached_report_is_the_bytes_of_a_full_redraw(filled: Path, tmp_path: Path):
    write_fake_inputs(tmp_path, [7, 8])
    cache = shutil.copytree(filled / FIGURE_CACHE, tmp_path / FIGURE_CACHE)

    report_stage.main(stage_argv(tmp_path, "drawn"))
    filled_files = cached_files(cache)
    assert len(filled_files) >= 8  # every figure, drawn once (by the fixture)
    report_stage.main(stage_argv(tmp_path, "cached", figure_cache=cache))
    assert set(cached_files(cache)) == set(filled_files), "an unchanged report draws nothing new"
    drawn = report_bytes(tmp_path, "drawn")
    assert report_bytes(filled, "filling") == drawn
    assert report_bytes(tmp_path, "cached") == drawn

    # One framing's training history changes: its figures are drawn again, the others read.
    history = tmp_path / "metrics/history/stateful-seed8.csv"
    history.write_text(history.read_text().replace("3,1.0,0.9", "3,0.7,1.0"))
    report_stage.main(stage_argv(tmp_path, "changed-drawn"))
    report_stage.main(stage_argv(tmp_path, "changed-cached", figure_cache=cache))
    # Only its training curves: the accuracy figure's inputs (the accuracies) did not change.
    assert len(set(cached_files(cache)) - set(filled_files)) == 1
    changed = report_bytes(tmp_path, "changed-drawn")
    assert report_bytes(tmp_path, "changed-cached") == changed
    assert changed["figures/training-stateful.png"] != drawn["figures/training-stateful.png"]
    assert changed["figures/training-one_char.png"] == drawn["figures/training-one_char.png"]


def test_a_report_whose_figures_are_all_cached_imports_no_matplotlib_and_no_scipy_stats(tmp_path: Path):
    write_fake_inputs(tmp_path, [7, 8])
    argv = stage_argv(tmp_path, figure_cache=tmp_path / FIGURE_CACHE)
    script = (
        "import sys; from alphabet_lstm.stages import report; report.main(sys.argv[1:]); "
        "print(sorted(name for name in ('matplotlib', 'scipy.stats') if name in sys.modules))"
    )
    loaded = [run([sys.executable, "-c", script, *argv]).stdout.strip() for _ in range(2)]
    assert loaded == ["['matplotlib']", "[]"]  # drawn, then every figure read from the cache


def test_an_experiment_copy_reads_and_fills_the_workspace_cache(filled: Path, tmp_path: Path, monkeypatch):
    """`dvc exp run --temp` and queued runs work in a copy under .dvc/tmp/exps/ that starts
    without the workspace's .dvc/tmp: the relative cache is the main checkout's, so a copy
    draws only what the workspace has not drawn. Here the workspace has drawn every figure
    but one: the first copy draws that one into it, the second draws nothing."""
    cache = Path(".dvc/tmp/report-figures")
    every_figure = set(cached_files(filled / FIGURE_CACHE))
    shutil.copytree(filled / FIGURE_CACHE, tmp_path / cache)
    (tmp_path / cache / min(every_figure)).unlink()
    copies = [tmp_path / ".dvc/tmp/exps" / name for name in ("tmp1", "tmp2")]
    for copy in copies:
        copy.mkdir(parents=True)
        write_fake_inputs(copy, [7, 8])
    monkeypatch.chdir(copies[0])
    report_stage.main(stage_argv(copies[0], figure_cache=cache))
    filled_files = cached_files(tmp_path / cache)
    assert set(filled_files) == every_figure and not (copies[0] / cache).exists()
    monkeypatch.chdir(copies[1])
    report_stage.main(stage_argv(copies[1], figure_cache=cache))
    assert set(cached_files(tmp_path / cache)) == set(filled_files), "the second copy drew nothing"
    assert report_bytes(copies[1], "reports") == report_bytes(copies[0], "reports")
