"""The report as a document: sections of blocks, rendered to Markdown and HTML by templates.

A section is a titled list of blocks (sub-headings, paragraphs, tables, figures); the
templates in ``templates/`` say how each block looks in Markdown (figures linked from
``figures/``) and in one self-contained HTML page (figures inlined as data URIs). Both are
rendered from the same sections, so they always say the same thing, and nothing in them
reads the clock: the same sections give the same bytes.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
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
class Heading:
    """A heading inside a section (level 3 and below; sections carry level 2)."""

    level: int
    text: str


@dataclass(frozen=True)
class Paragraph:
    """Plain text; `backticks` mark code in both renderings."""

    text: str


@dataclass(frozen=True)
class Table:
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    css_class: str
    table_id: str | None = None


@dataclass(frozen=True)
class Image:
    """A PNG figure: written to ``figures/<file_name>``, linked from Markdown, inlined in HTML."""

    file_name: str
    alt: str
    caption: str
    png: bytes = field(repr=False)

    @property
    def relative_path(self) -> str:
        return f"{FIGURES_DIRECTORY}/{self.file_name}"


Block = Heading | Paragraph | Table | Image
BLOCK_KINDS = (Heading, Paragraph, Table, Image)


@dataclass(frozen=True)
class Section:
    """A level-2 heading (none for the introduction) and its blocks."""

    title: str | None
    blocks: tuple[Block, ...]


def table(columns: Sequence[str], rows: Sequence[Sequence[str]], css_class: str, table_id: str | None = None) -> Table:
    return Table(tuple(columns), tuple(tuple(row) for row in rows), css_class, table_id)


def section(title: str | None, *blocks: Block) -> Section:
    return Section(title, tuple(blocks))


# --------------------------------------------------------------------------- templates


_CODE_SPAN = re.compile(r"`([^`]+)`")
# A Markdown link, [text](target), in a paragraph: Markdown keeps it, HTML makes it an <a>.
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s\"]+)\)")


def _markdown_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _inline_html(text: str) -> Markup:
    """Text for an element's content, escaped, with `code` spans as <code> and [links](target)
    as <a>. Quotes stay as they are: they need escaping in attributes only (which autoescape
    does); a link's target has none."""
    escaped = _CODE_SPAN.sub(r"<code>\1</code>", html.escape(text, quote=False))
    return Markup(_LINK.sub(r'<a href="\2">\1</a>', escaped))


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def environment(autoescape: bool) -> jinja2.Environment:
    """The templates' jinja2 environment: autoescaped for HTML, not for Markdown."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=autoescape,
        # Block tags take their own line and leave no blank line behind; the files keep
        # their final newline. StrictUndefined: a misspelt name fails instead of vanishing.
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    environment.filters.update(md_cell=_markdown_cell, inline=_inline_html, data_uri=_data_uri)
    # `block is heading` (paragraph, table, image) in the templates.
    for kind in BLOCK_KINDS:
        environment.tests[kind.__name__.lower()] = lambda block, kind=kind: isinstance(block, kind)
    return environment


def _render(template: str, title: str, sections: Sequence[Section], *, autoescape: bool) -> str:
    for block in (block for item in sections for block in item.blocks):
        if not isinstance(block, BLOCK_KINDS):
            raise TypeError(f"not a report block: {block!r}")
    return environment(autoescape).get_template(template).render(title=title, sections=sections)


def render_markdown(title: str, sections: Sequence[Section]) -> str:
    """GitHub-flavoured Markdown; figures linked by their path under figures/."""
    return _render("report.md.j2", title, sections, autoescape=False)


def render_html(title: str, sections: Sequence[Section]) -> str:
    """One self-contained page: inline CSS, figures as base64 data URIs."""
    return _render("report.html.j2", title, sections, autoescape=True)


def document_files(title: str, sections: Sequence[Section]) -> dict[str, bytes]:
    """Every file of the reports directory (report.md, report.html, figures), by relative path."""
    files = {
        MARKDOWN_NAME: render_markdown(title, sections).encode("utf-8"),
        HTML_NAME: render_html(title, sections).encode("utf-8"),
    }
    for item in sections:
        for block in item.blocks:
            if isinstance(block, Image):
                files[block.relative_path] = block.png
    return files
