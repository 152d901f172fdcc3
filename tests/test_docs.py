"""The docs, executed: every block of README.md and docs/*.md that shows what it prints.

The convention (also in docs/writing-docs.md, for whoever writes a guide):

- A ```console block is a shell session: each command starts with `$ ` (a trailing `\\`
  continues it on the next line) and the lines after it, up to the next `$ `, are what it
  prints, stdout and stderr together. Commands run in bash from the root of a scratch clone,
  with the venv's bin first on PATH, as after `source .venv/bin/activate`. Its exit status is
  not checked: the output is (an `error:` line shows a failure).
- A ```pycon block is a Python session (`>>> `, `... `), checked by doctest; the blocks of
  one document share one interpreter, started in the clone's root.
- In shown output, a line holding only `...` stands for any number of lines (none
  included), and `...` inside a line for any text: the docs use it only where a value
  legitimately varies (dates, run ids, timings, long tables cut short).
- ```bash, ```python and other blocks show no output and are not run: commands to copy
  (set-up, servers, other machines) and code to read.
- `<!-- doc-test: skip (why) -->` on the line before a console or pycon block skips it; the
  test is still collected under the document's name and line, and `pytest -ra` lists it with
  the reason.

The profile is the tutorial's: params.yaml as committed, not the other tests' small-epoch
profile, because the docs quote the tutorial's numbers (KLM -> N at 0.9999, the stateful
model reciting A..Z). One clone runs `dvc repro` once (about a minute of fast-engine
training); each document then runs, block by block in document order, in its own copy of
it, so one document's experiments never show in another's outputs.
"""

from __future__ import annotations

import difflib
import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import REPO_ROOT, VENV_BIN, make_clone, pipeline_env, run

DOCUMENTS = ["README.md", *sorted(str(path.relative_to(REPO_ROOT)) for path in (REPO_ROOT / "docs").glob("*.md"))]
RUN_LANGUAGES = ("console", "pycon")
SKIP_MARK = re.compile(r"<!--\s*doc-test:\s*skip\s*\((?P<reason>[^)]*)\)\s*-->")
FENCE = re.compile(r"^(?P<indent> *)```(?P<language>[\w-]*)\s*$")
# One command may run a whole experiment; none of the documented ones takes near this.
COMMAND_TIMEOUT = 900


@dataclass(frozen=True)
class Block:
    document: str
    line: int  # of the opening fence, counted from 1
    language: str
    text: str
    skip_reason: str | None

    @property
    def name(self) -> str:
        return f"{self.document}:{self.line}"


def fenced_blocks(document: str, markdown: str | None = None) -> list[Block]:
    """Every fenced block of a Markdown file (or of ``markdown``, named ``document``), with
    the skip mark on the line before it."""
    lines = (markdown if markdown is not None else (REPO_ROOT / document).read_text()).splitlines()
    blocks, index = [], 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        indent, start = len(opening["indent"]), index
        index += 1
        body = []
        while index < len(lines) and lines[index].strip() != "```":
            body.append(lines[index][indent:])
            index += 1
        index += 1
        previous = lines[start - 1] if start else ""
        mark = SKIP_MARK.search(previous)
        text = "\n".join(body)
        blocks.append(
            Block(
                document, start + 1, block_language(opening["language"], text), text, mark["reason"] if mark else None
            )
        )
    return blocks


def block_language(label: str, text: str) -> str:
    """The fence's label; an unlabelled block that starts with a prompt is a session."""
    if label:
        return label
    if text.startswith("$ "):
        return "console"
    if text.startswith(">>> "):
        return "pycon"
    return ""


def runnable_blocks() -> list[Block]:
    return [block for document in DOCUMENTS for block in fenced_blocks(document) if block.language in RUN_LANGUAGES]


def session(text: str) -> list[tuple[str, list[str]]]:
    """A console block as (command, the lines it shows) pairs."""
    steps: list[tuple[str, list[str]]] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        if not line.startswith("$ "):
            raise ValueError(f"a console block shows commands, each starting with `$ `; got {line!r}")
        command = line[2:]
        while command.endswith("\\"):
            index += 1
            command = command[:-1] + "\n" + lines[index]
        index += 1
        shown = []
        while index < len(lines) and not lines[index].startswith("$ "):
            shown.append(lines[index])
            index += 1
        steps.append((command, shown))
    return steps


def output_pattern(shown: list[str]) -> re.Pattern:
    """The regular expression of shown output: `...` alone is any lines, inside a line any text."""
    parts = []
    for line in shown:
        if line.strip() == "...":
            parts.append(r"(?:[^\n]*\n)*?")
        else:
            parts.append(".*?".join(re.escape(piece) for piece in line.rstrip().split("...")) + r"\n")
    return re.compile("".join(parts))


def printed_lines(output: str) -> str:
    """Output as compared: trailing spaces and trailing blank lines dropped."""
    lines = [line.rstrip() for line in output.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return "".join(f"{line}\n" for line in lines)


def test_the_output_pattern_reads_the_convention():
    shown = ["KLM -> N", "...", "  O 0.00...", "recited: AB"]
    assert output_pattern(shown).fullmatch("KLM -> N\n  O 0.0001\nrecited: AB\n")
    assert output_pattern(shown).fullmatch("KLM -> N\nx\ny\n  O 0.0002\nrecited: AB\n")
    assert not output_pattern(shown).fullmatch("KLM -> M\n  O 0.0001\nrecited: AB\n")
    assert not output_pattern(shown).fullmatch("KLM -> N\n  O 0.0001\nrecited: AB\nmore\n")
    assert output_pattern([]).fullmatch("")
    assert session("$ a \\\n  b\nout\n$ c") == [("a \n  b", ["out"]), ("c", [])]
    with pytest.raises(ValueError, match="starting with `\\$ `"):
        session("make sweep   # every sweep")


def test_blocks_are_found_with_their_language_and_skip_mark():
    markdown = (
        "Text\n<!-- doc-test: skip (needs an AWS account) -->\n```console\n$ aws s3 ls\nbucket\n```\n"
        "- item:\n\n  ```\n  $ alphabet-lstm predict --framing stateful A\n  A -> B\n  ```\n"
        "```bash\nmake run\n```\n```\n>>> 1 + 1\n2\n```\n"
    )
    assert fenced_blocks("guide.md", markdown) == [
        Block("guide.md", 3, "console", "$ aws s3 ls\nbucket", "needs an AWS account"),
        Block("guide.md", 9, "console", "$ alphabet-lstm predict --framing stateful A\nA -> B", None),
        Block("guide.md", 13, "bash", "make run", None),
        Block("guide.md", 16, "pycon", ">>> 1 + 1\n2", None),
    ]


# A Python session that outlives its blocks: doctest runs each block it is sent, in one
# namespace, and answers with doctest's report (empty when every example printed what it shows).
DOCTEST_SERVER = r"""
import doctest, json, sys
namespace = {"__name__": "__main__"}
parser = doctest.DocTestParser()
flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
for request in sys.stdin:
    name, text = json.loads(request)
    test = parser.get_doctest(text, namespace, name, name, 0)
    report = []
    doctest.DocTestRunner(optionflags=flags).run(test, out=report.append, clear_globs=False)
    namespace.update(test.globs)
    sys.__stdout__.write("\0" + json.dumps("".join(report)) + "\n")
    sys.__stdout__.flush()
"""


class DocumentRunner:
    """One document's scratch clone and, once a pycon block needs it, its Python session."""

    def __init__(self, root: Path):
        self.root = root
        self.python: subprocess.Popen | None = None

    def console(self, block: Block) -> None:
        for command, shown in session(block.text):
            result = subprocess.run(
                ["bash", "-c", command],
                cwd=self.root,
                env=pipeline_env(),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=COMMAND_TIMEOUT,
            )
            printed = printed_lines(result.stdout)
            if not output_pattern(shown).fullmatch(printed):
                difference = "\n".join(
                    difflib.unified_diff(shown, printed.splitlines(), "shown", "printed", lineterm="")
                )
                pytest.fail(
                    f"{block.name}: `{command}` printed what the docs do not show:\n{difference}", pytrace=False
                )

    def pycon(self, block: Block) -> None:
        if self.python is None:
            self.python = subprocess.Popen(
                [str(VENV_BIN / "python"), "-c", DOCTEST_SERVER],
                cwd=self.root,
                env=pipeline_env(),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
        self.python.stdin.write(json.dumps([block.name, block.text]) + "\n")
        self.python.stdin.flush()
        # Anything the libraries print outside an example comes before the answer's NUL.
        answer = ""
        while not answer.startswith("\0"):
            answer = self.python.stdout.readline()
            if not answer:
                pytest.fail(f"{block.name}: the Python session ended", pytrace=False)
        report = json.loads(answer[1:])
        if report:
            pytest.fail(f"{block.name}: the session printed what the docs do not show:\n{report}", pytrace=False)

    def close(self) -> None:
        if self.python is not None:
            self.python.stdin.close()
            self.python.wait(timeout=60)


@pytest.fixture(scope="module")
def tutorial_clone(tmp_path_factory) -> Path:
    """A fresh clone at the tutorial's settings after `dvc repro`: what `make run` leaves in
    a clone of the repository, where dvc.lock is committed (the docs' experiments compare
    against HEAD)."""
    root = make_clone(tmp_path_factory.mktemp("docs") / "tutorial", epochs=None)
    run(["dvc", "repro"], root)
    run(["git", "add", "dvc.lock"], root)
    run(["git", "commit", "-q", "-m", "make run"], root)
    return root


@pytest.fixture(scope="module")
def document_runners(tutorial_clone: Path, tmp_path_factory):
    """A runner per document, made on the document's first block: a copy of the clone."""
    runners: dict[str, DocumentRunner] = {}

    def runner_for(document: str) -> DocumentRunner:
        if document not in runners:
            root = tmp_path_factory.mktemp("doc") / "repo"
            # The clone with its MLflow store: logging it again would cost a minute per
            # document. The store's artifact paths name the clone's folder, which outlives
            # every copy; a copy's new runs get new folders there.
            # DVC's locks and state database (.dvc/tmp) belong to the clone they were made in.
            shutil.copytree(
                tutorial_clone,
                root,
                symlinks=True,
                ignore=lambda folder, names: ["tmp"] if Path(folder).name == ".dvc" else [],
            )
            runners[document] = DocumentRunner(root)
        return runners[document]

    yield runner_for
    for runner in runners.values():
        runner.close()


@pytest.mark.e2e
@pytest.mark.parametrize("block", runnable_blocks(), ids=lambda block: block.name)
def test_doc_block_prints_what_it_shows(block: Block, document_runners):
    if block.skip_reason:
        pytest.skip(f"{block.name}: {block.skip_reason}")
    runner = document_runners(block.document)
    getattr(runner, block.language)(block)


def test_every_block_that_shows_output_is_run():
    """A console block without `$ ` commands would be output no test checks: ```text is
    for output alone, ```bash for commands alone."""
    problems = []
    for document in DOCUMENTS:
        for block in fenced_blocks(document):
            if block.language == "console":
                try:
                    session(block.text)
                except ValueError as error:
                    problems.append(f"{block.name}: {error}")
    assert not problems, "\n".join(problems)


@pytest.mark.pipeline
def test_make_mlflow_ui_takes_a_port_that_is_not_the_team_servers():
    """`make mlflow-ui` and scripts/mlflow-server.sh each default to their own port, so the
    embedded store's UI and a team server run side by side; PORT= picks another."""
    server_default = re.search(
        r'PORT="\$\{MLFLOW_SERVER_PORT:-(\d+)\}"', (REPO_ROOT / "scripts" / "mlflow-server.sh").read_text()
    )[1]

    def ui_command(*arguments: str) -> str:
        planned = run(["make", "--dry-run", "--always-make", "mlflow-ui", *arguments], REPO_ROOT).stdout
        return next(line for line in planned.splitlines() if " ui " in line)

    assert "--host 127.0.0.1 --port 5050" in ui_command() and server_default != "5050"
    assert ui_command("PORT=5055").endswith("--port 5055")
