"""Each stage stopped with SIGTERM under `dvc repro`, as a user's shell or a CI runner stops it:
one line says what happened, nothing half-written is left, and the recovery note the stage
prints is true: running exactly the commands it names gives back every output,
byte-identical, and the next `dvc repro` completes with the workspace at the baseline.

The clone is a copy of the suite's two-framing team clone (small-epoch profile), reproduced
once and committed as docs/team.md asks (dvc.lock and metrics/ in git).
"""

from __future__ import annotations

import io
import os
import re
import shlex
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import pytest
from conftest import EVALUATE_ONE_CHAR, descendants, own_team_checkout, pipeline_env, run, stages_run
from team_helpers import output_files

pytestmark = pytest.mark.pipeline

# The stage's command line names its module; the stage itself is what DVC calls it.
STAGES = {
    "train@one_char": "alphabet_lstm.stages.train",
    "evaluate@stateful": "alphabet_lstm.stages.evaluate",
    "report": "alphabet_lstm.stages.report",
    "log": "alphabet_lstm.stages.log",
}
SIGTERM_BIT = 1 << (signal.SIGTERM - 1)
UP_TO_DATE = "Data and pipelines are up to date."


@pytest.fixture(scope="module")
def baseline(tmp_path_factory, team_reproduced: Path) -> Path:
    """The module's own copy of the shared team clone (its tests change it), logged to a
    store of its own."""
    return own_team_checkout(team_reproduced, tmp_path_factory.mktemp("faults-stages") / "repo")


def workspace_files(root: Path) -> dict[str, bytes]:
    """What the user has: every pipeline output, and the log stage's record."""
    files = output_files(root)
    logged = root / "mlflow-logged.json"
    if logged.exists():
        files["mlflow-logged.json"] = logged.read_bytes()
    return files


def stage_process(dvc_pid: int, module: str) -> int | None:
    """The stage's Python process once it handles SIGTERM (its entry point is running)."""
    for pid in descendants(dvc_pid):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        caught = int(re.search(r"^SigCgt:\s*([0-9a-f]+)$", status, re.MULTILINE).group(1), 16)
        if f"-m {module} " in command and caught & SIGTERM_BIT:
            return pid
    return None


def terminate_stage(root: Path, stage: str) -> subprocess.CompletedProcess:
    """`dvc repro -f -s STAGE`, its stage process sent SIGTERM once its entry point runs.

    The process is frozen before the signal and thawed after, so that it cannot finish in
    between: the signal always lands inside the stage's work.
    """
    dvc = subprocess.Popen(
        ["dvc", "repro", "-f", "-s", stage],
        cwd=root,
        env=pipeline_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    sent = False
    while not sent and dvc.poll() is None and time.monotonic() < deadline:
        pid = stage_process(dvc.pid, STAGES[stage])
        if pid is not None:
            os.kill(pid, signal.SIGSTOP)
            os.kill(pid, signal.SIGTERM)
            os.kill(pid, signal.SIGCONT)
            sent = True
        time.sleep(0.02)
    stdout, stderr = dvc.communicate(timeout=300)
    assert sent, f"the {stage} stage was not caught running:\n{stdout[-2000:]}\n{stderr[-2000:]}"
    return subprocess.CompletedProcess(dvc.args, dvc.returncode, stdout, stderr)


def up_to_date_after(repro: subprocess.CompletedProcess, root: Path) -> bool:
    """Whether DVC finds every stage of ``root`` up to date after ``repro``. A repro that ran
    no stage says so itself, the answer `dvc status` would give a second of DVC later; after
    one that ran stages, `dvc status` is asked."""
    if not stages_run(repro.stdout):
        return UP_TO_DATE in repro.stdout
    return run(["dvc", "status", "dvc.yaml"], root).stdout.strip() == UP_TO_DATE


def recovery_commands(note: str) -> list[list[str]]:
    """The commands a recovery note names (in backquotes), as argument lists."""
    return [shlex.split(command) for command in re.findall(r"`([^`]+)`", note) if command != "dvc repro"]


@pytest.mark.parametrize("stage", list(STAGES))
def test_a_stage_stopped_by_sigterm_says_so_and_its_note_restores_everything(baseline: Path, stage: str):
    before = workspace_files(baseline)
    baseline_files = dict(before)
    stopped = terminate_stage(baseline, stage)
    output = stopped.stdout + stopped.stderr
    assert stopped.returncode != 0, output
    assert "terminated (SIGTERM): stopped before finishing; no output was half-written" in output.splitlines()
    [note] = [line for line in output.splitlines() if line.startswith(f"note: stage {stage} failed")]
    # Nothing half-written: no temporary file of ours is left, and every output there is whole
    # (the baseline's bytes; DVC removed the rest).
    after = workspace_files(baseline)
    assert [name for name in after if Path(name).name.startswith(".") and name.endswith((".tmp", ".old"))] == []
    assert {name: data for name, data in after.items() if before.get(name) != data} == {}

    # Exactly what the note says, and nothing else, gives back every output.
    for command in recovery_commands(note):
        run(command, baseline)
    restored = workspace_files(baseline)
    if stage == "log":
        # Its one output is the record of what was logged, which the note says the next
        # `dvc repro` writes again; everything else was never touched.
        # (A stage stopped before it deleted the record leaves the baseline's.)
        assert "mlflow-logged.json needs no restoring: the next `dvc repro` writes it again" in note
        assert restored.pop("mlflow-logged.json", None) in (None, before.pop("mlflow-logged.json"))
    assert restored == before, f"{note}: differs in {sorted(set(restored) ^ set(before))}"
    assert run(["git", "status", "--porcelain"], baseline).stdout == ""

    # The next `dvc repro` completes, retraining nothing, and the workspace is the baseline.
    again = run(["dvc", "repro"], baseline)
    assert not [name for name in stages_run(again.stdout) if name.startswith("train@")], again.stdout
    assert workspace_files(baseline) == baseline_files
    assert up_to_date_after(again, baseline), again.stdout
    assert run(["git", "status", "--porcelain"], baseline).stdout == ""


# --- A model file damaged ------------------------------------------------------------------

MODEL = "models/one_char/seed7.npz"


def rewritten_model(original: bytes, change) -> bytes:
    """The model's zip with ``change(members)`` applied to its {name: bytes} members."""
    with zipfile.ZipFile(io.BytesIO(original)) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    change(members)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def array_bytes(array) -> bytes:
    import numpy as np

    member = io.BytesIO()
    np.lib.format.write_array(member, np.asarray(array, dtype=np.float32))
    return member.getvalue()


def with_nan(members: dict[str, bytes]) -> None:
    import numpy as np

    bias = np.lib.format.read_array(io.BytesIO(members["dense_bias.npy"])).copy()
    bias[3] = np.nan
    members["dense_bias.npy"] = array_bytes(bias)


DAMAGES = {
    "an array missing": (lambda members: members.pop("dense_bias.npy"), "dense_bias.npy missing"),
    "its metadata missing": (lambda members: members.pop("metadata.json"), "metadata.json is missing"),
    "NaN weights": (with_nan, "dense_bias holds values that are not finite numbers"),
    "mis-shaped weights": (
        lambda members: members.update({"bias.npy": array_bytes([0.0] * 3)}),
        "bias has shape (3,), the spec makes it",
    ),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_model_is_refused_naming_the_file_and_dvc_checkout_restores_it(baseline: Path, damage: str):
    from conftest import VENV_BIN, alphabet_lstm

    change, problem = DAMAGES[damage]
    before = workspace_files(baseline)
    (baseline / MODEL).write_bytes(rewritten_model(before[MODEL], change))
    expected = (
        f"error: {MODEL}: damaged model ({problem}"
        if problem.endswith("makes it")
        else f"error: {MODEL}: damaged model ({problem}); `dvc checkout --force {MODEL}` restores the trained one"
    )
    export_path = baseline / "one_char.keras"
    for refused in (
        alphabet_lstm("predict", "--framing", "one_char", "A", cwd=baseline),
        alphabet_lstm("export", "--framing", "one_char", "--out", str(export_path), cwd=baseline),
    ):
        assert refused.returncode == 2 and refused.stdout == "", refused
        [line] = refused.stderr.splitlines()
        assert line.startswith(expected) and line.endswith("restores the trained one"), line
    assert not export_path.exists()

    # The evaluate stage, as DVC runs it: the same line, then the stage's note.
    evaluated = run(
        [str(VENV_BIN / "python"), "-m", STAGES["evaluate@stateful"], *EVALUATE_ONE_CHAR],
        baseline,
        env=pipeline_env({"DVC_STAGE": "evaluate@one_char", "DVC_ROOT": str(baseline)}),
        check=False,
    )
    assert evaluated.returncode == 2
    error, note = evaluated.stderr.splitlines()
    assert error.startswith(expected), error
    assert note.startswith("note: stage evaluate@one_char failed; `git checkout -- metrics/evaluation/one_char")
    # Nothing else touched: only the damaged file differs from the baseline.
    after = workspace_files(baseline)
    assert {name for name in after if after[name] != before.get(name)} == {MODEL}

    # The command the error names restores the trained model, byte for byte.
    command = re.search(r"`(dvc checkout [^`]+)`", error).group(1)
    run(shlex.split(command), baseline)
    assert workspace_files(baseline) == before
    assert run(["dvc", "status", "dvc.yaml"], baseline).stdout.strip() == UP_TO_DATE


# --- A workspace change stepped back with the README's commands -----------------------------

# README's step back to the baseline after `dvc exp apply` (or an experiment run in the workspace).
STEP_BACK = "git checkout HEAD -- params.yaml dvc.lock metrics && git clean -fdq metrics && dvc checkout"


def readme_step_back() -> str:
    from conftest import REPO_ROOT

    [line] = [line for line in (REPO_ROOT / "README.md").read_text().splitlines() if "# back to the baseline" in line]
    return line.removeprefix("$ ").split("    #")[0]


# Both kinds of change at once, in one experiment (one repro, not one per kind): a seed added
# leaves new files (models/*/seed8.npz, metrics/*/*/seed8.*) that only `git clean` and
# `dvc checkout` remove; a framing changed rewrites files of the baseline's seed that only
# `git checkout` and `dvc checkout` restore.
STEPPED_CHANGES = ("seeds=[7,8]", "framings.one_char.units=4")


def test_a_change_stepped_back_with_the_readmes_commands_is_exactly_the_baseline(baseline: Path):
    assert readme_step_back() == STEP_BACK
    before = workspace_files(baseline)
    settings = [argument for setting in STEPPED_CHANGES for argument in ("-S", setting)]
    run(["dvc", "exp", "run", "--temp", "-n", "stepped", *settings], baseline)
    run(["dvc", "exp", "apply", "stepped"], baseline)
    changed = workspace_files(baseline)
    added = set(changed) - set(before)
    # Both kinds happened: new seed-8 outputs of both framings, and one_char's seed 7 retrained.
    assert {"models/one_char/seed8.npz", "models/stateful/seed8.npz"} <= added, sorted(added)
    assert changed["models/one_char/seed7.npz"] != before["models/one_char/seed7.npz"]
    assert changed["models/stateful/seed7.npz"] == before["models/stateful/seed7.npz"]
    for command in STEP_BACK.split(" && "):
        run(shlex.split(command), baseline)
    run(["dvc", "exp", "remove", "stepped"], baseline)
    assert run(["git", "status", "--porcelain"], baseline).stdout == ""
    assert run(["dvc", "status", "dvc.yaml"], baseline).stdout.strip() == UP_TO_DATE
    assert workspace_files(baseline) == before


def test_a_model_damaged_with_its_metadata_intact_is_trained_again_by_the_next_repro(baseline: Path):
    """The fingerprint in the metadata says "this training": the train stage checks the
    weights too, so `dvc repro` trains a damaged seed again rather than keeping it."""
    before = workspace_files(baseline)
    (baseline / MODEL).write_bytes(rewritten_model(before[MODEL], with_nan))
    repro = run(["dvc", "repro"], baseline)
    assert stages_run(repro.stdout) == ["train@one_char"], repro.stdout
    assert "[one_char seed 7] trained in" in repro.stderr
    assert workspace_files(baseline) == before
    assert up_to_date_after(repro, baseline), repro.stdout
    assert run(["git", "status", "--porcelain"], baseline).stdout == ""


# SIGTERM landing inside a library that turns what its callback raised into an error of its
# own, as pydantic-core does when the signal arrives while it builds a schema.
SIGNALLED_INSIDE_A_LIBRARY = textwrap.dedent(
    """
    import os, signal, sys, time
    from alphabet_lstm.errors import run_entry_point

    def library_call():
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(30)
        except BaseException as error:
            raise RuntimeError(f"Error building validator: {error!r}") from None

    sys.exit(run_entry_point(lambda argv: library_call()))
    """
)


def signalled_process(script: str) -> tuple[int, str]:
    """The status and stderr of a real process running ``script`` (which signals itself)."""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    return result.returncode, result.stderr.strip()


@pytest.mark.pipeline
def test_sigterm_wrapped_by_a_library_still_ends_as_terminated_without_a_traceback():
    assert signalled_process(SIGNALLED_INSIDE_A_LIBRARY) == (
        143,
        "terminated (SIGTERM): stopped before finishing; no output was half-written",
    )


# Terminated raised inside `with lock:` can leave the lock held (bpo-29988); a cleanup that
# waits for it would hang the stage forever.
SIGNALLED_INTO_A_STUCK_CLEANUP = textwrap.dedent(
    """
    import os, signal, sys, threading, time
    from alphabet_lstm import errors

    errors.STOP_GRACE_SECONDS = 1.0

    def main(argv):
        lock = threading.Lock()
        lock.acquire()
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(30)
        finally:
            lock.acquire()

    sys.exit(errors.run_entry_point(main))
    """
)


@pytest.mark.pipeline
def test_a_terminated_process_whose_cleanup_hangs_ends_after_the_grace_period():
    assert signalled_process(SIGNALLED_INTO_A_STUCK_CLEANUP) == (
        143,
        "terminated (SIGTERM): cleanup still running after 1 s; ended",
    )
