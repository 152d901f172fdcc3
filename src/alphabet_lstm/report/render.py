"""The report as one Markdown document (figures linked from ``figures/``) and the
self-contained HTML page markdown-it-py makes of it (figures inlined); the same blocks give
the same bytes.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class Figure:
    """A PNG figure: written to ``figures/<file_name>``, linked from Markdown, inlined in HTML."""

    file_name: str
    alt: str
    caption: str
    png: bytes = field(repr=False)

    @property
    def path(self) -> str:
        return f"{FIGURES_DIRECTORY}/{self.file_name}"

    def markdown(self) -> str:
        return f"![{self.alt}]({self.path})\n\n*{self.caption}*"


# A block of the document: Markdown text (a heading, a paragraph, a table) or a figure.
Block = str | Figure


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|").replace("\n", " ") for cell in cells) + " |"


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub-flavoured Markdown table; a `|` in a cell is escaped."""
    return "\n".join([_row(columns), "|" + "---|" * len(columns), *(_row(row) for row in rows)])


def render_markdown(title: str, blocks: Sequence[Block]) -> str:
    texts = [block if isinstance(block, str) else block.markdown() for block in blocks]
    return "\n\n".join([f"# {title}", *texts]) + "\n"


def environment() -> jinja2.Environment:
    """The HTML templates' environment: autoescaped; block tags take their own line and leave
    no blank line behind; a misspelt name fails instead of vanishing."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )


def render_html(title: str, markdown: str, figures: Mapping[str, bytes]) -> str:
    """One self-contained page from the Markdown, each figure a data URI; raw HTML escaped."""
    parser = MarkdownIt("commonmark", {"html": False}).enable("table")
    tokens = parser.parse(markdown)
    for child in (child for token in tokens for child in token.children or ()):
        if child.type == "image":
            png = figures[str(child.attrGet("src"))]
            child.attrSet("src", "data:image/png;base64," + base64.b64encode(png).decode("ascii"))
    body = Markup(parser.renderer.render(tokens, parser.options, {}))
    # The <title> is plain text: the Markdown's code marks go.
    return environment().get_template("report.html.j2").render(title=title.replace("`", ""), body=body)


def document_files(title: str, blocks: Sequence[Block]) -> dict[str, bytes]:
    """Every file of a reports directory (report.md, report.html, figures), by relative path."""
    figures = {block.path: block.png for block in blocks if isinstance(block, Figure)}
    markdown = render_markdown(title, blocks)
    return {
        MARKDOWN_NAME: markdown.encode("utf-8"),
        HTML_NAME: render_html(title, markdown, figures).encode("utf-8"),
        **figures,
    }
