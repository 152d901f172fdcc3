"""A report's files from its Markdown template: report.md (figures linked from ``figures/``)
and the self-contained HTML page markdown-it-py makes of it (figures inlined); the same
values give the same bytes.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path

import jinja2
from markdown_it import MarkdownIt
from markupsafe import Markup

FIGURES_DIRECTORY = "figures"
MARKDOWN_NAME = "report.md"
HTML_NAME = "report.html"
TEMPLATES = Path(__file__).parent / "templates"
MISSING = "—"


def percent(value: float | None, digits: int = 2) -> str:
    """0.8696 -> '86.96%', as the tutorial prints accuracies (``digits`` decimals); None -> a dash."""
    return MISSING if value is None else f"{100.0 * value:.{digits}f}%"


def points(value: float) -> str:
    """A difference of accuracies in percentage points, signed: '+2.96 pp'."""
    return f"{100.0 * value:+.2f} pp"


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|").replace("\n", " ") for cell in cells) + " |"


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub-flavoured Markdown table; a `|` in a cell is escaped."""
    return "\n".join([_row(columns), "|" + "---|" * len(columns), *(_row(row) for row in rows)])


@cache
def environment() -> jinja2.Environment:
    """The templates' environment, made once so each template is compiled once: HTML
    autoescaped, Markdown not; block tags take their own line and leave no blank line
    behind; a misspelt name fails instead of vanishing."""
    templates = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html.j2"], default_for_string=False),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    templates.globals["table"] = markdown_table
    templates.filters.update(percent=percent, points=points)
    return templates


def render_html(markdown: str, figures: Mapping[str, bytes]) -> str:
    """One self-contained page from the Markdown, each figure a data URI; raw HTML escaped."""
    parser = MarkdownIt("commonmark", {"html": False}).enable("table")
    tokens = parser.parse(markdown)
    for child in (child for token in tokens for child in token.children or ()):
        if child.type == "image":
            png = figures[str(child.attrGet("src"))]
            child.attrSet("src", "data:image/png;base64," + base64.b64encode(png).decode("ascii"))
    body = Markup(parser.renderer.render(tokens, parser.options, {}))
    # The <title> is the first line's heading as plain text: the Markdown's code marks go.
    title = markdown.partition("\n")[0].removeprefix("# ").replace("`", "")
    return environment().get_template("report.html.j2").render(title=title, body=body)


def render_markdown(template: str, **values: object) -> str:
    """A Markdown template rendered; each of its sections ends in a blank line, the document in one newline."""
    return environment().get_template(template).render(values).rstrip("\n") + "\n"


def document_files(markdown: str, figures: Mapping[str, bytes]) -> dict[str, bytes]:
    """Every file of a reports directory (report.md, report.html, the figures given by file
    name), by relative path."""
    paths = {f"{FIGURES_DIRECTORY}/{name}": png for name, png in figures.items()}
    return {MARKDOWN_NAME: markdown.encode("utf-8"), HTML_NAME: render_html(markdown, paths).encode("utf-8"), **paths}
